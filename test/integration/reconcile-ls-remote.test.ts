import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRemoteHeads } from '../../shared/git/index.js';
import { sweepHeads, type RunLauncher } from '../../shared/reconcile/index.js';
import { createRepo, git, startGitHttpServer, type GitHttpServer, type TestRepo } from '../support/git-repo.js';

let tmp: string;
let wrapper: string;
let log: string;
const bare: Record<string, { url: string; heads: Record<string, string> }> = {};
let source: TestRepo;
let hanging: Server;
const hangingSockets: Socket[] = [];
let hangingUrl: string;
let refusedUrl: string;
let http: GitHttpServer;

/** Lines of the wrapper's log: one per git process Conveyor started. */
const gitCalls = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.length > 0);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'conveyor-reconcile-'));
  log = join(tmp, 'git-calls.log');
  writeFileSync(log, '');
  // A git that logs its arguments and pid, then becomes the real git (same pid).
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  wrapper = join(tmp, 'git-logging');
  writeFileSync(wrapper, `#!/bin/sh\necho "$$ $*" >> ${JSON.stringify(log)}\nexec ${JSON.stringify(realGit)} "$@"\n`);
  chmodSync(wrapper, 0o755);

  source = createRepo();
  for (const name of ['alpha', 'beta', 'gamma']) {
    source.commit({ 'app.txt': `${name}\n` });
    git(source.dir, 'branch', '-f', 'release/1');
    source.commit({ 'app.txt': `${name} 2\n` });
    const dir = join(tmp, `${name}.git`);
    git(tmp, 'clone', '--quiet', '--bare', source.dir, dir);
    bare[name] = { url: `file://${dir}`, heads: { main: git(dir, 'rev-parse', 'main'), 'release/1': git(dir, 'rev-parse', 'release/1') } };
  }
  // Accepts connections and never answers.
  hanging = createServer((s) => hangingSockets.push(s));
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
  hangingUrl = `http://127.0.0.1:${(hanging.address() as { port: number }).port}/org/hangs.git`;
  // A port nobody listens on.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  refusedUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}/org/refuses.git`;
  await new Promise<void>((r) => closed.close(() => r()));
  http = await startGitHttpServer(tmp, `Basic ${Buffer.from('x-access-token:right-token-1234').toString('base64')}`);
});

after(async () => {
  for (const s of hangingSockets) s.destroy();
  await new Promise<void>((r) => hanging.close(() => r()));
  await http.close();
  source.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

test('lists the branch heads of a bare repository with one git process', async () => {
  writeFileSync(log, '');
  const heads = await listRemoteHeads(bare.alpha!.url, { gitBinary: wrapper });
  assert.deepEqual(Object.fromEntries(heads), bare.alpha!.heads);
  const calls = gitCalls();
  assert.equal(calls.length, 1);
  assert.match(calls[0]!, /^\d+ ls-remote --heads -- file:\/\//);
});

test('https credentials go in a header: the right token works, a wrong one fails without showing it', async () => {
  const url = `${http.baseUrl}beta.git`;
  const heads = await listRemoteHeads(url, { credentials: { token: 'right-token-1234' } });
  assert.deepEqual(Object.fromEntries(heads), bare.beta!.heads);
  await assert.rejects(
    () => listRemoteHeads(url, { credentials: { token: 'wrong-token-5678' } }),
    (err: Error) => /ls-remote failed for http:\/\/127\.0\.0\.1:\d+\/beta\.git/.test(err.message) && !err.message.includes('wrong-token-5678') && !err.message.includes(Buffer.from('x-access-token:wrong-token-5678').toString('base64')),
  );
});

test('a hanging remote is killed at the deadline, process group and all', async () => {
  writeFileSync(log, '');
  const t0 = Date.now();
  await assert.rejects(() => listRemoteHeads(hangingUrl, { timeoutMs: 400, gitBinary: wrapper }), /no answer within 0.4 s/);
  assert.ok(Date.now() - t0 < 5000);
  const pid = Number(gitCalls()[0]!.split(' ')[0]);
  const deadline = Date.now() + 5000;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(), false, 'git is gone');
});

test('the sweep reads each repository once; hanging, refusing and bad-credential repositories are reported on their apps', async () => {
  writeFileSync(log, '');
  const started: string[] = [];
  const launcher: RunLauncher = {
    hasRun: async (app, commit) => app === 'gamma' && commit === bare.gamma!.heads.main,
    start: async ({ app, branch }) => {
      started.push(`${app.name}:${branch}`);
      return 'started';
    },
  };
  const apps = [
    { name: 'alpha', repoUrl: bare.alpha!.url, branches: ['main'] },
    { name: 'alpha-rel', repoUrl: `${bare.alpha!.url}/`, branches: ['release/*'] },
    { name: 'beta', repoUrl: bare.beta!.url, branches: ['main', 'release/*'] },
    { name: 'gamma', repoUrl: bare.gamma!.url, branches: ['main'] },
    { name: 'hangs', repoUrl: hangingUrl, branches: ['main'] },
    { name: 'refuses', repoUrl: refusedUrl, branches: ['main'] },
    { name: 'badcreds', repoUrl: `${http.baseUrl}gamma.git`, branches: ['main'] },
    { name: 'missing', repoUrl: `file://${join(tmp, 'nope.git')}`, branches: ['main'] },
  ];
  const t0 = Date.now();
  const report = await sweepHeads(apps, (url, signal) => listRemoteHeads(url, { gitBinary: wrapper, signal, credentials: { token: 'wrong-token-5678' } }), launcher, {
    concurrency: 4,
    timeoutMs: 1500,
  });
  const elapsed = Date.now() - t0;
  assert.deepEqual(started.sort(), ['alpha-rel:release/1', 'alpha:main', 'beta:main', 'beta:release/1']);
  const calls = gitCalls();
  assert.equal(calls.length, 7, calls.join('\n'));
  assert.ok(calls.every((c) => / ls-remote --heads -- /.test(c)));
  assert.equal(new Set(calls.map((c) => c.split(' -- ')[1]!.replace(/\/$/, ''))).size, 7, 'one ls-remote per repository');
  assert.equal(report.headReads, 7);
  const by = (n: string) => report.apps.find((a) => a.app === n)!;
  assert.deepEqual(by('gamma').heads.map((h) => h.outcome), ['has-run']);
  assert.match(by('hangs').error!, /no answer within/);
  assert.match(by('refuses').error!, /ls-remote failed for http:\/\/127\.0\.0\.1:\d+\/org\/refuses\.git/);
  assert.match(by('badcreds').error!, /ls-remote failed/);
  assert.ok(!by('badcreds').error!.includes('wrong-token-5678'));
  assert.match(by('missing').error!, /ls-remote failed/);
  assert.ok(elapsed < 10_000, `sweep took ${elapsed} ms`);
});
