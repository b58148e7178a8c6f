// Image builds with ACR Tasks against the fake ARM endpoint: the real
// `@azure/arm-containerregistry` 10 client (TLS with the test CA, a bearer token the fake checks),
// the build context made by `git archive` from the git cache's mirror of a real repository and
// uploaded with the real storage SDK to a SAS URL in a real Azurite, scheduleRun as a
// long-running operation, the run read once per call until it ends, the registry's log read in
// pieces, and the digest of the pushed image from the run's outputImages.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AcrImageBuildSpec } from '../../shared/domain/pipeline.js';
import { ValidationError } from '../../shared/errors.js';
import { GitCache } from '../../shared/git/index.js';
import { containerClient } from '../../shared/storage/blob-store.js';
import { AcrImageBuilder, type ImageBuildRead } from '../../shared/targets/kubernetes/acr-build.js';
import { withAzurite } from '../support/azurite.js';
import { FakeArm, TestTokenCredential } from '../support/fake-arm/server.js';
import { createRepo, type TestRepo } from '../support/git-repo.js';

const SUB = '11111111-2222-3333-4444-555555555555';
let arm: FakeArm;
let azurite: Awaited<ReturnType<typeof withAzurite>>;
let repo: TestRepo;
let cacheDir: string;
let builder: AcrImageBuilder;
let git: GitCache;

const spec = (over: Partial<AcrImageBuildSpec> = {}): AcrImageBuildSpec => ({
  type: 'acr',
  subscription: SUB,
  resourceGroup: 'rg-shop',
  registry: 'shopacr',
  repository: 'shop/web',
  dockerfile: 'Dockerfile',
  context: '.',
  timeoutMs: 600_000,
  pollMs: 10,
  digestFile: 'image.digest',
  ...over,
});

async function untilDone(s: AcrImageBuildSpec, runId: string, commit: string): Promise<{ last: ImageBuildRead; log: string; reads: number }> {
  let offset = 0;
  let log = '';
  for (let reads = 1; ; reads++) {
    const r = await builder.read(s, runId, commit, offset);
    offset = r.logOffset;
    log += r.log;
    if (r.state !== 'running') return { last: r, log, reads };
    assert.ok(reads < 50, 'the run ends');
  }
}

before(async () => {
  const credential = new TestTokenCredential();
  arm = await FakeArm.start(credential);
  azurite = await withAzurite();
  arm.acr.registries.push({ subscription: SUB, resourceGroup: 'rg-shop', name: 'shopacr', storage: containerClient(azurite.connectionString, 'acr-fake') });
  repo = createRepo();
  cacheDir = await mkdtemp(join(tmpdir(), 'acr-git-'));
  git = new GitCache({ cacheDir });
  builder = new AcrImageBuilder({ credential, clientOptions: arm.clientOptions(), lroPollMs: 5, source: (url, commit, folder) => git.archiveAtCommit(url, commit, folder) });
});

after(async () => {
  await arm?.stop();
  await azurite?.dispose();
  repo?.dispose();
  await rm(cacheDir, { recursive: true, force: true });
});

test('a build of the commit is scheduled, polled to Succeeded, and reports the pushed digest; the same commit gives the same digest', async () => {
  const commit = repo.commit({ Dockerfile: 'FROM scratch\nCOPY server.js /\n', 'server.js': 'console.log(1)\n', 'deploy/web.yaml': 'kind: Deployment\n' });
  const started = await builder.start(repo.url, commit, spec());
  assert.equal(started.imageName, `shop/web:${commit}`);
  const { last, log, reads } = await untilDone(spec(), started.runId, commit);
  assert.equal(last.state, 'succeeded', last.message);
  assert.match(last.digest ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.equal(last.image, 'shopacr.azurecr.io/shop/web');
  assert.equal(arm.acr.pushed().get(`shopacr.azurecr.io/shop/web:${commit}`), last.digest, 'the digest is the pushed image\'s');
  assert.ok(reads >= 4, `the run went through its statuses (${reads} reads)`);
  // The log came in pieces, each piece once.
  assert.match(log, /Queued a build for shopacr.azurecr.io\/shop\/web/);
  assert.match(log, /Step 2\/2/);
  assert.equal(log.match(/Step 2\/2/g)?.length, 1);
  assert.match(log, new RegExp(`pushed shopacr.azurecr.io/shop/web:${commit} digest: ${last.digest}`));
  // What the SDK sent, by the documented paths and api-version, with the LRO polled at its Location.
  const calls = arm.requests.map((r) => `${r.method} ${r.path.split('/registries/shopacr')[1]} ${r.apiVersion} ${r.status}`);
  assert.deepEqual(calls.slice(0, 4).map((c) => c.replace(/operationResults\/[^ ]+/, 'operationResults/{op}')), [
    'POST /listBuildSourceUploadUrl 2019-06-01-preview 200',
    'POST /scheduleRun 2019-06-01-preview 202',
    'GET /operationResults/{op} 2019-06-01-preview 202',
    'GET /operationResults/{op} 2019-06-01-preview 200',
  ]);
  assert.ok(calls.some((c) => c.startsWith(`GET /runs/${started.runId} 2019-06-01-preview 200`)));
  assert.ok(calls.some((c) => c.startsWith(`POST /runs/${started.runId}/listLogSasUrl 2019-06-01-preview 200`)));
  assert.deepEqual(arm.acr.violations, []);
  const request = arm.acr.runs.get(started.runId)!.request;
  assert.equal(request['type'], 'DockerBuildRequest');
  assert.deepEqual(request['imageNames'], [`shop/web:${commit}`]);
  assert.equal(request['isPushEnabled'], true);

  const again = await builder.start(repo.url, commit, spec());
  assert.equal((await untilDone(spec(), again.runId, commit)).last.digest, last.digest);
  const next = repo.commit({ 'server.js': 'console.log(2)\n' });
  const other = await builder.start(repo.url, next, spec());
  assert.notEqual((await untilDone(spec(), other.runId, next)).last.digest, last.digest);
});

test('a failing build, or a context without the Dockerfile, ends Failed with the registry\'s log', async () => {
  const commit = repo.commit({ 'README.md': 'no dockerfile here\n' });
  const started = await builder.start(repo.url, commit, spec({ dockerfile: 'build/Dockerfile' }));
  const { last, log } = await untilDone(spec(), started.runId, commit);
  assert.equal(last.state, 'failed');
  assert.match(last.message, /ended Failed/);
  assert.match(log, /lstat \/workspace\/build\/Dockerfile: no such file or directory/);

  arm.acr.plan = () => ({ outcome: 'failed', runningReads: 1 });
  try {
    const withFile = repo.commit({ Dockerfile: 'FROM scratch\n' });
    const r = await untilDone(spec(), (await builder.start(repo.url, withFile, spec())).runId, withFile);
    assert.equal(r.last.state, 'failed');
    assert.match(r.log, /exit code: 1/);
  } finally {
    arm.acr.plan = () => ({ outcome: 'succeeded' });
  }
});

test('a registry that does not exist, or forbids the identity, is a verdict naming it; the context folder is what is uploaded', async () => {
  const commit = repo.commit({ 'app/Dockerfile': 'FROM scratch\n', 'app/x.txt': 'x\n' });
  await assert.rejects(builder.start(repo.url, commit, spec({ registry: 'nosuchacr' })), (err: unknown) => err instanceof ValidationError && /container registry nosuchacr .* was not found/.test(err.message));
  arm.injectFault(403, 1, (r) => r.path.endsWith('/listBuildSourceUploadUrl'));
  await assert.rejects(builder.start(repo.url, commit, spec()), (err: unknown) => err instanceof ValidationError && /may not get a source upload URL of container registry shopacr.*"Container Registry Tasks Contributor"/.test(err.message));
  // A build of the app/ folder: its Dockerfile is at the context's root.
  const started = await builder.start(repo.url, commit, spec({ context: 'app' }));
  assert.equal((await untilDone(spec({ context: 'app' }), started.runId, commit)).last.state, 'succeeded');
});

test('the git cache reads a folder of the repository at a commit, recursively and sorted', async () => {
  const commit = repo.commit({ 'k8s/b.yaml': 'b: 1\n', 'k8s/a.yml': 'a: 1\n', 'k8s/sub/c.yaml': 'c: 1\n', 'k8s/notes.txt': 'no\n' });
  const files = await git.readFolderAtCommit(repo.url, commit, 'k8s', /\.ya?ml$/);
  assert.deepEqual(files, [
    { file: 'a.yml', text: 'a: 1\n' },
    { file: 'b.yaml', text: 'b: 1\n' },
    { file: 'sub/c.yaml', text: 'c: 1\n' },
  ]);
  await assert.rejects(git.readFolderAtCommit(repo.url, commit, 'nope', /\.ya?ml$/), /folder nope not found at commit/);
});
