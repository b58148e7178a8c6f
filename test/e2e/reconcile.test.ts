// The reconcile loop end to end (a 2-second CONVEYOR_RECONCILE_SCHEDULE on the local
// host): a push whose webhook never arrives is deployed by the next sweep (trigger `poll`); a
// killed process is reported as drift and, with `drift: heal`, redeployed and recorded as a heal
// (a ledger revision of kind `heal` and a run with trigger `heal`);
// a foreign process on a `drift: report` environment's port is reported, not touched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { ProcessTarget } from '../../shared/targets/index.js';
import { served, startConveyor, type ConveyorUnderTest } from './conveyor-support.js';

let conveyor: ConveyorUnderTest;
let sample: SampleService;
let foreign: Server | undefined;

function pipeline(ports: Record<string, number>): string {
  const env = (name: string, drift: string) => `  - name: ${name}
    target: { type: process, start: node dist/server.js, port: ${ports[name]}, startTimeout: 10s }
    verify:
      - http: { path: /healthz, expect: 200, timeout: 2s, retries: 2, interval: 100ms }
    drift: ${drift}
`;
  return `build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev', 'heal')}${env('staging', 'report')}`;
}

async function environment(name: string): Promise<any> {
  return ((await (await conveyor.api('/api/apps/loop')).json()) as any).environments.find((e: any) => e.name === name);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last !== undefined) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

before(async () => {
  sample = await createSampleService();
  await sample.commitPipeline(pipeline(sample.ports));
  conveyor = await startConveyor({ env: { LOOP_SECRET: 'loop-webhook-secret-000111', CONVEYOR_RECONCILE_SCHEDULE: '*/2 * * * * *' } });
  const res = await conveyor.api('/api/apps/loop', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'LOOP_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  foreign?.closeAllConnections();
  await new Promise<void>((r) => (foreign ? foreign.close(() => r()) : r()));
  await conveyor?.dispose();
  await sample?.dispose();
});

test('a push whose webhook never arrives is deployed by the next reconcile', async () => {
  const commit = await sample.head();
  // No webhook is sent: the sweep finds the head of main without a run and starts it.
  const run = await conveyor.waitForRun(`loop.${commit}`, undefined, 90_000);
  assert.equal(run.status, 'Succeeded', JSON.stringify(run));
  assert.equal(run.trigger, 'poll');
  assert.equal((await served(sample.ports.dev))?.commit, commit);
  assert.equal((await served(sample.ports.staging))?.commit, commit);
  // Both environments are then seen in sync.
  await until('dev in sync', async () => ((await environment('dev'))?.sync?.state === 'in-sync' ? true : undefined));
});

test('a killed process is drift; with drift: heal the recorded revision runs again, recorded as a heal', async () => {
  const target = new ProcessTarget({ root: join(conveyor.dataDir, 'targets', 'process') });
  const before = await environment('dev');
  const state = await target.readState('loop', 'dev');
  assert.ok(state?.pgid, 'the dev process group is known');
  process.kill(-state.pgid, 'SIGKILL');
  const drifted = await until('dev drift reported', async () => {
    const env = await environment('dev');
    return env?.sync?.state === 'drifted' ? env : undefined;
  });
  assert.match(drifted.sync.reason, /not running/);
  const healed = await until('dev healed', async () => {
    const env = await environment('dev');
    return env?.kind === 'heal' && env.sync?.state === 'in-sync' ? env : undefined;
  });
  assert.equal(healed.revision, before.revision + 1);
  assert.equal(healed.commit, before.commit);
  assert.equal(healed.digest, before.digest);
  assert.equal((await served(sample.ports.dev))?.commit, before.commit, 'dev serves the ledger revision again');
  const history = ((await (await conveyor.api('/api/apps/loop/environments/dev/history?pageSize=5')).json()) as any).records;
  assert.equal(history[0].kind, 'heal');
  assert.match(history[0].reason, /heal of revision \d+: .*not running/);
  // The heal is a run of its own, trigger `heal`, under the id the ledger record names.
  assert.match(history[0].runId, /^heal\.loop\.dev\.\d+\.\d+$/);
  const healRun = await conveyor.waitForRun(history[0].runId);
  assert.equal(healRun.trigger, 'heal');
  assert.equal(healRun.status, 'Succeeded', JSON.stringify(healRun));
  assert.equal(healRun.commit, before.commit);
  assert.equal(healRun.pusher.id, 'system');
  assert.equal(healRun.environments.dev.revision, healed.revision);
  const listed = ((await (await conveyor.api('/api/apps/loop/runs')).json()) as any).runs ?? [];
  assert.ok(listed.some((r: any) => r.runId === history[0].runId && r.trigger === 'heal'), 'listed among the app\'s runs');
});

test('a foreign process on a drift: report environment is reported and left alone', async () => {
  const target = new ProcessTarget({ root: join(conveyor.dataDir, 'targets', 'process') });
  const before = await environment('staging');
  // Killed outside Conveyor (only the state file is read here), then something else takes the port.
  const state = await target.readState('loop', 'staging');
  assert.ok(state?.pgid, 'the staging process group is known');
  process.kill(-state.pgid, 'SIGKILL');
  foreign = createServer((_req, res) => res.end('not conveyor'));
  for (let i = 0; ; i++) {
    const bound = await new Promise<boolean>((r) => {
      foreign!.once('error', () => r(false));
      foreign!.listen(sample.ports.staging, '127.0.0.1', () => r(true));
    });
    if (bound) break;
    if (i > 100) throw new Error('the staging port did not free up');
    await new Promise((r) => setTimeout(r, 100));
  }
  const drifted = await until('staging drift reported', async () => {
    const env = await environment('staging');
    return env?.sync?.state === 'drifted' && /unknown process/.test(env.sync.reason) ? env : undefined;
  });
  assert.match(drifted.sync.reason, new RegExp(`not running .*port ${sample.ports.staging}`));
  // A few more sweeps: still reported, nothing redeployed.
  await new Promise((r) => setTimeout(r, 5000));
  const later = await environment('staging');
  assert.equal(later.revision, before.revision, 'no heal under drift: report');
  assert.equal(later.sync.since, drifted.sync.since, 'since when stays');
  assert.equal((await served(sample.ports.staging))?.text, 'not conveyor');
});

test('a repository the sweep cannot read is reported on its app; the others are not held up', async () => {
  const res = await conveyor.api('/api/apps/lost', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: `file://${join(conveyor.dataDir, 'no-such-repository')}`, provider: 'github', branches: ['main'], webhookSecretSetting: 'LOOP_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
  const lost = await until('the unreadable repository reported', async () => {
    const app = (await (await conveyor.api('/api/apps/lost')).json()) as any;
    return app.reconcile?.heads?.ok === false ? app : undefined;
  });
  assert.match(lost.reconcile.heads.repository, /no-such-repository/);
  assert.ok(lost.reconcile.heads.error.length > 0, 'says why');
  const loop = (await (await conveyor.api('/api/apps/loop')).json()) as any;
  assert.equal(loop.reconcile.heads.ok, true);
  assert.equal(loop.reconcile.heads.error, undefined);
});
