// The Kubernetes Jobs step runner against the fake API server (whose pods run their command as
// real local processes) and a real Azurite for the workspace hand-over by SAS URL: the step's
// source goes in through a read-only URL, its outputs come back through a write-only one, its log
// streams redacted, its exit code is the result, and everything it created is deleted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { BlobServiceClient } from '@azure/storage-blob';
import { MemoryLogSink } from '../../shared/executor/log-sink.js';
import { KubernetesJobStepRunner } from '../../shared/targets/kubernetes/kubernetes-job.step-runner.js';
import { BlobWorkspaceTransfer } from '../../shared/targets/kubernetes/workspace-transfer.js';
import type { StepRequest } from '../../shared/steps/step-runner.js';
import { FakeKube } from '../support/fake-kube/server.js';
import { withAzurite } from '../support/azurite.js';
import { createRepo } from '../support/git-repo.js';

let fake: FakeKube;
let azurite: Awaited<ReturnType<typeof withAzurite>>;
let runner: KubernetesJobStepRunner;
let tmp: string;
let blobs: BlobServiceClient;
const createdJobs: any[] = [];

before(async () => {
  [fake, azurite] = await Promise.all([FakeKube.start({ namespaces: ['conveyor-steps'] }), withAzurite()]);
  tmp = await mkdtemp(join(tmpdir(), 'k8s-steps-'));
  const kc = new k8s.KubeConfig();
  kc.loadFromString(fake.kubeconfig('conveyor-steps'));
  blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
  runner = new KubernetesJobStepRunner({ kubeconfig: kc, namespace: 'conveyor-steps', image: 'mcr.microsoft.com/azurelinux/base/core:3.0', transfer: new BlobWorkspaceTransfer(blobs.getContainerClient('conveyor-steps')), pollMs: 20 });
  // Remember every Job as created (the runner deletes them afterwards).
  const original = fake.controllers.changed.bind(fake.controllers);
  fake.controllers.changed = (def, obj) => {
    if (def.kind === 'Job' && !createdJobs.some((j) => j.metadata.uid === (obj as any).metadata.uid)) createdJobs.push(structuredClone(obj));
    original(def, obj);
  };
});

after(async () => {
  await fake.stop();
  await azurite.dispose();
  await rm(tmp, { recursive: true, force: true });
});

async function workspace(name: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'src', 'main.txt'), 'source of the commit\n');
  return dir;
}

function step(dir: string, over: Partial<StepRequest> = {}): StepRequest & { log: MemoryLogSink } {
  return {
    name: 'build',
    command: 'echo "building $CONVEYOR_APP at $CONVEYOR_COMMIT"; mkdir -p dist && cp src/main.txt dist/out.txt && echo built >> dist/out.txt; echo "token is $DEPLOY_TOKEN"; echo "urls: ${CONVEYOR_JOB_SOURCE_URL:-none}"',
    workspace: { dir, outputs: ['dist'] },
    env: { MODE: 'release' },
    secretEnv: { DEPLOY_TOKEN: 'hunter2-very-secret' },
    conveyorVars: { app: 'shop', commit: 'abc123' },
    timeoutMs: 20_000,
    log: new MemoryLogSink(),
    ...over,
  } as StepRequest & { log: MemoryLogSink };
}

test('a build step runs as a Job: source in by read-only URL, outputs back, log redacted, exit code 0, everything deleted', async () => {
  const dir = await workspace('ok');
  const req = step(dir);
  const outcome = await runner.run(req);
  assert.equal(outcome.exitCode, 0, req.log.text);
  assert.equal(outcome.isolation.runner, 'kubernetes-job');
  assert.equal(outcome.timedOut, false);
  assert.match(req.log.text, /building shop at abc123/);
  assert.match(req.log.text, /token is \*\*\*/);
  assert.doesNotMatch(req.log.text, /hunter2/);
  assert.match(req.log.text, /urls: none/, 'the transfer URLs are not visible to the step');
  assert.equal(await readFile(join(dir, 'dist', 'out.txt'), 'utf8'), 'source of the commit\nbuilt\n');

  const job = createdJobs.at(-1);
  const env = job.spec.template.spec.containers[0].env as any[];
  assert.ok(!JSON.stringify(job).includes('hunter2'), 'the secret is not in the Job spec');
  assert.deepEqual(env.find((e) => e.name === 'DEPLOY_TOKEN').valueFrom, { secretKeyRef: { name: job.metadata.name, key: 'DEPLOY_TOKEN' } });
  assert.equal(job.spec.backoffLimit, 0);
  assert.equal(job.spec.activeDeadlineSeconds, 20);
  assert.equal(fake.list('batch/v1', 'Job', 'conveyor-steps').length, 0, 'the Job is deleted');
  assert.equal(fake.list('v1', 'Pod', 'conveyor-steps').length, 0, 'its pod too');
  assert.equal(fake.list('v1', 'Secret', 'conveyor-steps').length, 0, 'and the Secret');
  const left: string[] = [];
  for await (const b of blobs.getContainerClient('conveyor-steps').listBlobsFlat()) left.push(b.name);
  assert.deepEqual(left, [], 'the staged source and outputs are deleted');
  assert.deepEqual(fake.violations(), []);
});

test('a failing step is an outcome: the container\'s exit code and the tail of its output', async () => {
  const req = step(await workspace('fail'), { name: 'test', command: 'echo "3 tests failed" >&2; exit 3', workspace: { dir: join(tmp, 'fail'), outputs: [] }, secretEnv: {} });
  const outcome = await runner.run(req);
  assert.equal(outcome.exitCode, 3);
  assert.equal(outcome.outputTail, '3 tests failed');
});

test('a step that outlives its timeout is stopped and its Job deleted', async () => {
  const req = step(await workspace('slow'), { name: 'test', command: 'echo started; sleep 30; echo never', timeoutMs: 1500, workspace: { dir: join(tmp, 'slow'), outputs: [] }, secretEnv: {} });
  const t0 = Date.now();
  const outcome = await runner.run(req);
  assert.equal(outcome.timedOut, true);
  assert.equal(outcome.exitCode, null);
  assert.ok(Date.now() - t0 < 10_000);
  assert.match(req.log.text, /started/);
  assert.doesNotMatch(req.log.text, /never/);
  assert.equal(fake.list('batch/v1', 'Job', 'conveyor-steps').length, 0);
});

test('a fresh checkout is fetched from git inside the Job by an init container; a fetch that fails is the step\'s failure, with git\'s words', async () => {
  const repo = createRepo();
  try {
    const commit = repo.commit({ 'hello.txt': 'from git\n' });
    const dir = await workspace('git-source');
    const req = step(dir, { name: 'build', command: 'cat hello.txt && ls -a | tr "\\n" " "', workspace: { dir, outputs: [] }, secretEnv: {}, source: { repoUrl: repo.dir, commit } });
    const outcome = await runner.run(req);
    assert.equal(outcome.exitCode, 0, req.log.text);
    assert.match(req.log.text, new RegExp(`the source is commit ${commit}, fetched from git inside the Job`));
    assert.match(req.log.text, /from git/);
    assert.doesNotMatch(req.log.text, / \.git /, 'no repository metadata is left in the workspace');
    const job = createdJobs.at(-1);
    assert.equal(job.spec.template.spec.initContainers[0].name, 'source');
    assert.deepEqual(
      job.spec.template.spec.initContainers[0].env.filter((e: any) => e.name.startsWith('CONVEYOR_GIT')).map((e: any) => [e.name, e.value]),
      [
        ['CONVEYOR_GIT_URL', `file://${repo.dir}`],
        ['CONVEYOR_GIT_COMMIT', commit],
      ],
    );

    const missing = step(dir, { name: 'build', command: 'echo never', workspace: { dir, outputs: [] }, secretEnv: {}, source: { repoUrl: repo.dir, commit: 'f'.repeat(40) } });
    const failed = await runner.run(missing);
    assert.notEqual(failed.exitCode, 0);
    assert.match(missing.log.text, /fetching the source in the Job failed/);
    assert.doesNotMatch(missing.log.text, /never/);
  } finally {
    repo.dispose();
  }
});
