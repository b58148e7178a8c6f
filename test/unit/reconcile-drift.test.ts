import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CurrentDeployment } from '../../shared/domain/deployment.js';
import type { TargetStatus } from '../../shared/targets/deploy-target.js';
import {
  assessDrift,
  healDelayMs,
  sweepDrift,
  type DriftEnvironment,
  type DriftSweepPorts,
  type EnvironmentSync,
  type HealLauncher,
  type Observation,
  type SyncChange,
  type SyncStore,
} from '../../shared/reconcile/index.js';

const digestA = `sha256:${'a'.repeat(64)}`;
const digestB = `sha256:${'b'.repeat(64)}`;
const current: CurrentDeployment = {
  app: 'shop',
  environment: 'prod',
  revision: 7,
  commit: 'c'.repeat(40),
  digest: digestA,
  finishedAt: '2026-10-01T10:00:00.000Z',
  runId: 'shop.ccc',
  status: 'Succeeded',
  kind: 'deploy',
};
const status = (patch: Partial<TargetStatus>): TargetStatus => ({
  app: 'shop',
  environment: 'prod',
  state: 'running',
  running: true,
  healthy: true,
  revision: 7,
  commit: current.commit,
  digest: digestA,
  details: { port: 4101 },
  ...patch,
});

test('drift assessment: what the target reports against the ledger', () => {
  const cases: [string, CurrentDeployment | undefined, Observation, string, RegExp][] = [
    ['as recorded', current, { status: status({}) }, 'in-sync', /runs revision 7/],
    ['killed', current, { status: status({ state: 'exited', running: false, healthy: false, reason: 'the process is no longer running' }) }, 'drifted', /not running \(exited: the process is no longer running\)/],
    ['foreign process on the port', current, { status: status({ state: 'exited', running: false, healthy: false }), foreignOnPort: true }, 'drifted', /unknown process accepts connections on its port 4101/],
    ['another revision', current, { status: status({ revision: 6, commit: 'd'.repeat(40) }) }, 'drifted', /ledger says revision 7 .* runs revision 6/],
    ['another digest', current, { status: status({ digest: digestB }) }, 'drifted', /runs artifact sha256:b+, but the ledger recorded sha256:a+/],
    ['up but not answering', current, { status: status({ healthy: false }) }, 'drifted', /does not accept connections/],
    ['never deployed anywhere', undefined, { status: status({ state: 'absent', running: false, healthy: false, revision: undefined }) }, 'in-sync', /nothing recorded and nothing running/],
    ['runs without a record', undefined, { status: status({}) }, 'drifted', /records no deployment/],
    ['never deployed but recorded', current, { status: status({ state: 'absent', running: false, healthy: false }) }, 'drifted', /nothing is deployed there/],
    ['target unreachable', current, { error: 'ECONNREFUSED' }, 'unknown', /could not be asked: ECONNREFUSED/],
    ['deployment in progress', current, { busy: true, status: status({ revision: 8 }) }, 'unknown', /in progress/],
  ];
  for (const [name, cur, obs, sync, reason] of cases) {
    const a = assessDrift(cur, obs);
    assert.equal(a.sync, sync, name);
    assert.match(a.reason, reason, name);
  }
});

test('heal back-off doubles and is capped', () => {
  assert.deepEqual([1, 2, 3, 4, 10].map((n) => healDelayMs(n, { baseMs: 1000, maxMs: 5000 })), [1000, 2000, 4000, 5000, 5000]);
});

/** In-memory fakes of the drift sweep's ports. */
function world(policy: 'report' | 'heal') {
  let now = Date.parse('2026-10-01T12:00:00.000Z');
  const states = new Map<string, EnvironmentSync>();
  const changes: SyncChange[] = [];
  const store: SyncStore = {
    async get(app, env) {
      const s = states.get(`${app}/${env}`);
      return s ? structuredClone(s) : undefined;
    },
    async put(sync) {
      states.set(`${sync.app}/${sync.environment}`, structuredClone(sync));
    },
    async recordChange(change) {
      changes.push(change);
    },
  };
  const env: DriftEnvironment = { name: 'prod', drift: policy, target: { type: 'process', start: 'node server.js', port: 4101, env: {}, startTimeoutMs: 1000 } };
  const target = { observation: { status: status({}) } as Observation };
  const heals: { instanceId: string; attempt: number; result: 'running' | 'succeeded' | 'failed' }[] = [];
  const healer: HealLauncher & { next: 'succeeded' | 'failed' } = {
    next: 'succeeded',
    async start({ attempt }) {
      const instanceId = `heal.shop.prod.7.${attempt}`;
      heals.push({ instanceId, attempt, result: 'running' });
      return instanceId;
    },
    async outcome(id) {
      const h = heals.find((x) => x.instanceId === id)!;
      if (h.result === 'running') return { state: 'running' };
      return h.result === 'failed' ? { state: 'failed', reason: 'verification failed in prod: status 500' } : { state: 'succeeded' };
    },
  };
  const ports: DriftSweepPorts = {
    catalog: { environments: async () => [env] },
    ledger: { current: async () => current },
    observer: { observe: async () => target.observation },
    store,
    healer,
    now: () => new Date(now),
  };
  return {
    ports,
    target,
    heals,
    healer,
    changes,
    state: () => states.get('shop/prod')!,
    advance: (ms: number) => (now += ms),
    finishHeal: (result: 'succeeded' | 'failed') => (heals.at(-1)!.result = result),
  };
}

test('drift is reported with since-when, and each change of state is recorded once', async () => {
  const w = world('report');
  await sweepDrift(['shop'], w.ports);
  assert.equal(w.state().sync, 'in-sync');
  w.advance(60_000);
  w.target.observation = { status: status({ state: 'exited', running: false, healthy: false }) };
  const [r1] = await sweepDrift(['shop'], w.ports);
  assert.equal(r1!.environments[0]!.sync, 'drifted');
  assert.deepEqual(r1!.environments[0]!.heal, { started: false, why: 'drift is reported only (drift: report)' });
  const since = w.state().since;
  w.advance(60_000);
  await sweepDrift(['shop'], w.ports);
  assert.equal(w.state().since, since, 'still drifted: since does not move');
  assert.equal(w.state().checkedAt, '2026-10-01T12:02:00.000Z');
  assert.deepEqual(w.changes.map((c) => `${c.from ?? '-'}>${c.to}`), ['->in-sync', 'in-sync>drifted']);
  assert.equal(w.heals.length, 0);
});

test('heal: redeploys once, a failed heal is reported and retried only after the back-off, success resets it', async () => {
  const w = world('heal');
  const backoff = { baseMs: 2 * 60_000, maxMs: 60 * 60_000 };
  w.target.observation = { status: status({ state: 'exited', running: false, healthy: false }) };
  const [first] = await sweepDrift(['shop'], w.ports, { backoff });
  assert.deepEqual(first!.environments[0]!.heal, { started: true, instanceId: 'heal.shop.prod.7.1' });
  // Next minute: the heal is still running; nothing new starts.
  w.advance(60_000);
  const [second] = await sweepDrift(['shop'], w.ports, { backoff });
  assert.match((second!.environments[0]!.heal as { why: string }).why, /still running/);
  // It fails; sweeps inside the back-off report it and start nothing.
  w.finishHeal('failed');
  w.advance(30_000);
  const [third] = await sweepDrift(['shop'], w.ports, { backoff });
  assert.match((third!.environments[0]!.heal as { why: string }).why, /last heal failed \(verification failed in prod: status 500\); next heal not before 2026-10-01T12:02:00.000Z/);
  assert.equal(w.heals.length, 1);
  // After the back-off: attempt 2, with a doubled wait.
  w.advance(30_000);
  await sweepDrift(['shop'], w.ports, { backoff });
  assert.equal(w.heals.length, 2);
  assert.equal(w.state().heal!.nextAllowedAt, '2026-10-01T12:06:00.000Z');
  // Many sweeps a minute apart while it keeps failing: a handful of heals, not one per sweep.
  for (let i = 0; i < 30; i++) {
    w.finishHeal('failed');
    w.advance(60_000);
    await sweepDrift(['shop'], w.ports, { backoff });
  }
  assert.ok(w.heals.length <= 6, `${w.heals.length} heals in 32 minutes`);
  // Once the capped back-off has passed another heal starts; it succeeds and the target runs
  // the ledger's revision again: in sync, attempts reset.
  w.finishHeal('failed');
  w.advance(60 * 60_000);
  const before = w.heals.length;
  await sweepDrift(['shop'], w.ports, { backoff });
  assert.equal(w.heals.length, before + 1);
  w.finishHeal('succeeded');
  w.target.observation = { status: status({}) };
  w.advance(60_000);
  await sweepDrift(['shop'], w.ports, { backoff });
  assert.equal(w.state().sync, 'in-sync');
  assert.equal(w.state().heal!.attempts, 0);
  assert.equal(w.state().heal!.outcome, 'succeeded');
});

test('no heal while a deployment holds the environment, or when the ledger revision is not good', async () => {
  const w = world('heal');
  w.target.observation = { busy: true };
  const [r] = await sweepDrift(['shop'], w.ports);
  assert.equal(r!.environments[0]!.sync, 'unknown');
  assert.equal(w.heals.length, 0);
  const bad = world('heal');
  bad.ports.ledger = { current: async () => ({ ...current, status: 'Failed' }) };
  bad.target.observation = { status: status({ state: 'exited', running: false, healthy: false }) };
  const [b] = await sweepDrift(['shop'], bad.ports);
  assert.match((b!.environments[0]!.heal as { why: string }).why, /not a good one \(Failed\)/);
  assert.equal(bad.heals.length, 0);
});

test('an app whose catalog hangs is reported alone; the others are checked', async () => {
  const w = world('report');
  const inner = w.ports.catalog;
  w.ports.catalog = { environments: (app) => (app === 'stuck' ? new Promise(() => undefined) : inner.environments(app)) };
  const reports = await sweepDrift(['stuck', 'shop'], w.ports, { timeoutMs: 200 });
  assert.equal(reports[0]!.ok, false);
  assert.match(reports[0]!.error!, /no answer within/);
  assert.equal(reports[1]!.environments[0]!.sync, 'in-sync');
});

test('the pipeline file declares drift per environment: report (default) or heal', async () => {
  const { parsePipelineSpec } = await import('../../shared/pipeline/index.js');
  const file = (drift: string) => `build: { command: make, artifact: [out] }
environments:
  - name: dev
    target: { type: process, start: ./out/app, port: 9000 }
  - name: prod
    target: { type: process, start: ./out/app, port: 9001 }
${drift}`;
  assert.deepEqual(parsePipelineSpec(file('')).environments.map((e) => e.drift), ['report', 'report']);
  assert.equal(parsePipelineSpec(file('    drift: heal\n')).environments[1]!.drift, 'heal');
  assert.throws(() => parsePipelineSpec(file('    drift: sometimes\n')), /drift/);
});

test('a heal passes the activity input boundary (deployArtifact, recordDeployment accept kind heal)', async () => {
  const { activityInputSchemas } = await import('../../shared/contracts/activity-inputs.schema.js');
  const target = { type: 'process', start: 'node s.js', port: 4101, env: {}, startTimeoutMs: 1000 };
  assert.equal(activityInputSchemas.deployArtifact.safeParse({ app: 'shop', environment: 'prod', runId: 'heal.shop.prod.7.1', commit: 'c'.repeat(40), digest: digestA, kind: 'heal', target }).success, true);
  const outcome = {
    app: 'shop',
    environment: 'prod',
    runId: 'heal.shop.prod.7.1',
    commit: 'c'.repeat(40),
    digest: digestA,
    kind: 'heal',
    rolledBackTo: 7,
    requestedBy: { id: 'system' },
    revision: 8,
    status: 'Succeeded',
    verification: [],
    startedAt: '2026-10-01T10:00:00.000Z',
    finishedAt: '2026-10-01T10:00:01.000Z',
  };
  const parsed = activityInputSchemas.recordDeployment.safeParse(outcome);
  assert.equal(parsed.success, true, JSON.stringify(parsed.error?.issues));
});
