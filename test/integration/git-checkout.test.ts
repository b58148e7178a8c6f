import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitCache } from '../../shared/git/index.js';
import { ExternalFailureError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { createRepo, git, startGitHttpServer, type TestRepo } from '../support/git-repo.js';

let tmp: string;
let repo: TestRepo;
let first: string;
let n = 0;
const ws = () => join(tmp, `ws-${++n}`);

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'conveyor-git-'));
  repo = createRepo();
  first = repo.commit({ 'README.md': 'hello\n', 'src/app.js': 'console.log(1)\n', '.conveyor/pipeline.yaml': 'build: {}\n' });
});
after(() => {
  repo.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

test('checks out an exact commit into a fresh workspace as a detached HEAD', async () => {
  const cache = new GitCache({ cacheDir: join(tmp, 'cache-a') });
  const second = repo.commit({ 'src/app.js': 'console.log(2)\n' });
  const dest = ws();
  const res = await cache.checkout(repo.url, first, dest);
  assert.equal(res.commit, first);
  assert.equal(res.fetched, true);
  assert.equal(readFileSync(join(dest, 'src/app.js'), 'utf8'), 'console.log(1)\n');
  assert.equal(git(dest, 'rev-parse', 'HEAD'), first);
  assert.equal(git(dest, 'status', '--porcelain'), '');
  assert.throws(() => git(dest, 'symbolic-ref', 'HEAD'), 'HEAD must be detached');
  // The second commit was fetched along with the first, so it needs no fetch.
  const again = await cache.checkout(repo.url, second.slice(0, 12), ws());
  assert.equal(again.commit, second);
  assert.equal(again.fetched, false);
});

test('the cache fetches only when the commit is missing, then picks up new commits', async () => {
  const cache = new GitCache({ cacheDir: join(tmp, 'cache-b') });
  const c1 = repo.commit({ 'v.txt': '1' });
  assert.equal((await cache.checkout(repo.url, c1, ws())).fetched, true);
  const packsBefore = readdirSync(join(cache.mirrorPath(repo.url), 'objects', 'pack')).filter((f) => f.endsWith('.pack')).length;
  assert.equal((await cache.checkout(repo.url, c1, ws())).fetched, false);
  const c2 = repo.commit({ 'v.txt': '2' });
  const dest = ws();
  const res = await cache.checkout(repo.url, c2, dest);
  assert.equal(res.fetched, true);
  assert.equal(readFileSync(join(dest, 'v.txt'), 'utf8'), '2');
  // An incremental fetch adds a (small) pack beside the first rather than re-cloning.
  const packs = readdirSync(join(cache.mirrorPath(repo.url), 'objects', 'pack')).filter((f) => f.endsWith('.pack') || f.endsWith('.idx'));
  assert.ok(packs.length >= packsBefore, 'the first pack is kept');
  // The workspace borrows objects from the mirror instead of copying them.
  assert.ok(existsSync(join(dest, '.git', 'objects', 'info', 'alternates')));
});

test('eight concurrent checkouts of one repository, from two cache instances, all succeed and leave a sound mirror', async () => {
  const cacheDir = join(tmp, 'cache-c');
  const caches = [new GitCache({ cacheDir }), new GitCache({ cacheDir })];
  const commits = [first, repo.commit({ 'c.txt': 'a' }), repo.commit({ 'c.txt': 'b' }), repo.commit({ 'c.txt': 'c' })];
  const jobs = Array.from({ length: 8 }, (_, i) => {
    const dest = ws();
    const sha = commits[i % commits.length]!;
    return caches[i % 2]!.checkout(repo.url, sha, dest).then((r) => ({ r, dest, sha }));
  });
  const results = await Promise.all(jobs);
  for (const { r, dest, sha } of results) {
    assert.equal(r.commit, sha);
    assert.equal(git(dest, 'rev-parse', 'HEAD'), sha);
  }
  const mirror = caches[0]!.mirrorPath(repo.url);
  git(mirror, 'fsck', '--no-progress');
  assert.equal(existsSync(`${mirror}.lock`), false, 'the lock is released');
  assert.deepEqual(readdirSync(cacheDir).filter((f) => f.includes('.tmp-')), []);
});

test('a commit that does not exist is a clear NotFoundError', async () => {
  const cache = new GitCache({ cacheDir: join(tmp, 'cache-d') });
  const missing = 'deadbeef'.repeat(5);
  await assert.rejects(cache.checkout(repo.url, missing, ws()), (err: unknown) => {
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.message, `commit ${missing} not found in ${repo.url}`);
    return true;
  });
});

test('option-like or malformed commit ids are rejected before git runs', async () => {
  const cache = new GitCache({ cacheDir: join(tmp, 'cache-e') });
  for (const bad of ['--upload-pack=touch /tmp/pwned', 'HEAD', 'main', '', 'abc']) {
    await assert.rejects(cache.checkout(repo.url, bad, ws()), ValidationError, bad);
  }
});

test('a missing repository is a redacted ExternalFailureError, not a stack trace', async () => {
  const cache = new GitCache({ cacheDir: join(tmp, 'cache-f') });
  await assert.rejects(cache.checkout(`file://${join(tmp, 'no-such-repo')}`, first, ws()), ExternalFailureError);
});

test('readFileAtCommit reads a file of a commit from the mirror without a workspace', async () => {
  const cache = new GitCache({ cacheDir: join(tmp, 'cache-g') });
  const sha = repo.commit({ '.conveyor/pipeline.yaml': 'version: 1\n' });
  assert.equal(await cache.readFileAtCommit(repo.url, sha, '.conveyor/pipeline.yaml'), 'version: 1\n');
  assert.equal(await cache.readFileAtCommit(repo.url, first, '.conveyor/pipeline.yaml'), 'build: {}\n');
  await assert.rejects(cache.readFileAtCommit(repo.url, sha, 'nope.yaml'), NotFoundError);
  await assert.rejects(cache.readFileAtCommit(repo.url, sha, 'src'), NotFoundError, 'a folder is not a file');
  await assert.rejects(cache.readFileAtCommit(repo.url, sha, '../etc/passwd'), ValidationError);
  await assert.rejects(cache.readFileAtCommit(repo.url, sha, 'README.md', 2), ValidationError);
});

test('https-style credentials come from settings, travel only as a header, and never appear in errors', async () => {
  const token = 'tok-Sup3rSecret-9876';
  const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  const root = mkdtempSync(join(tmpdir(), 'conveyor-githttp-'));
  git(root, 'clone', '--quiet', '--bare', repo.dir, join(root, 'shop.git'));
  const server = await startGitHttpServer(root, expected);
  try {
    const url = `${server.baseUrl}shop.git`;
    const good = new GitCache({ cacheDir: join(tmp, 'cache-h'), credentials: () => ({ token }) });
    const dest = ws();
    const res = await good.checkout(url, first, dest);
    assert.equal(res.commit, first);
    assert.ok(server.authHeaders.includes(expected), 'the token was sent as an Authorization header');
    const mirrorConfig = readFileSync(join(good.mirrorPath(url), 'config'), 'utf8');
    assert.ok(!mirrorConfig.includes(token) && !mirrorConfig.includes(expected.slice(6)), 'no credential stored in the mirror');
    assert.ok(!readFileSync(join(dest, '.git', 'config'), 'utf8').includes(token), 'no credential in the workspace');

    const wrong = new GitCache({ cacheDir: join(tmp, 'cache-i'), credentials: { token: 'tok-Wr0ng-Secret-1234' } });
    await assert.rejects(wrong.checkout(url, first, ws()), (err: unknown) => {
      assert.ok(err instanceof ExternalFailureError, String(err));
      assert.ok(!err.message.includes('tok-Wr0ng-Secret-1234'));
      assert.ok(!err.message.includes(Buffer.from('x-access-token:tok-Wr0ng-Secret-1234').toString('base64')));
      assert.equal((err as Error & { cause?: unknown }).cause, undefined);
      return true;
    });

    // Credentials embedded in the URL are moved into the header, and redacted from messages.
    const inUrl = `http://x-access-token:${token}@${server.baseUrl.slice('http://'.length)}shop.git`;
    const embedded = new GitCache({ cacheDir: join(tmp, 'cache-j') });
    assert.equal((await embedded.checkout(inUrl, first, ws())).commit, first);
    await assert.rejects(embedded.checkout(inUrl, 'feedface'.repeat(5), ws()), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.ok(!err.message.includes(token), err.message);
      assert.match(err.message, /not found in http:\/\/127\.0\.0\.1/);
      return true;
    });
    assert.ok(!readFileSync(join(embedded.mirrorPath(inUrl), 'config'), 'utf8').includes(token));
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});
