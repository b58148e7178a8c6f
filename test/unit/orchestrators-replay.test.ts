// The three orchestrators (pipeline, promotion, rollback) driven through whole scenarios
// against a world of fakes: activities answered by the real use-cases over in-memory fakes of
// the ledger and run store (plus scripted build, deploy and check results), the real lock
// entity, and scripted external events. For every scenario the recorded history is then
// replayed twice (same actions, same output both times) and cut after every step and resumed
// (the resumed run asks for exactly the actions and ends exactly as the uninterrupted one).
// The driver and why it drives the generators directly: test/support/orchestrator-driver.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pipelineOrchestrator } from '../../orchestrations/pipeline.orchestrator.js';
import { promotionOrchestrator } from '../../orchestrations/promotion.orchestrator.js';
import { rollbackOrchestrator } from '../../orchestrations/rollback.orchestrator.js';
import { lockWaiterOrchestrator } from '../../orchestrations/environment-lock.js';
import type { ActivityInput, PipelineInput, PromotionInput, RollbackInput, RollbackResult } from '../../shared/contracts/activities.js';
import { APPROVAL_EVENT, BREAK_GLASS_EVENT, SUPERSEDED_EVENT } from '../../shared/contracts/orchestrations.js';
import type { ApprovalDecision } from '../../shared/domain/approval.js';
import { emptyLock } from '../../shared/domain/environment-lock.js';
import { lockEntityKey } from '../../shared/domain/ids.js';
import type { EnvironmentSpec, PipelineSpec } from '../../shared/domain/pipeline.js';
import { recordDeployment } from '../../shared/use-cases/record-deployment.use-case.js';
import { InMemoryLedger, type LedgerData } from '../support/fakes.js';
import { coordinationActivities, emptyWorldState, lockOperation, type WorldActivities, type WorldState } from '../support/conveyor-world.js';
import { drive, type DriveResult, type ExternalEvent, type World } from '../support/orchestrator-driver.js';

const COMMIT = 'a'.repeat(40);
const OLD_COMMIT = 'b'.repeat(40);
const DIGEST = `sha256:${'1'.repeat(64)}`;
const OLD_DIGEST = `sha256:${'2'.repeat(64)}`;

/** The world's state: plain data, snapshotted after every step. */
interface State extends WorldState {
  /** Per environment: results of successive checks (true = pass); missing = pass. */
  checks: Record<string, boolean[]>;
  buildFails: boolean;
  loadThrows: boolean;
  deployCalls: number;
}

const check = { type: 'http' as const, path: '/health', expectStatus: 200, timeoutMs: 1000, retries: 2, intervalMs: 5000, successes: 1 };
function env(name: string, over: Partial<EnvironmentSpec> = {}): EnvironmentSpec {
  return {
    name,
    target: { type: 'process', start: 'node server.js', port: 8000, env: {}, startTimeoutMs: 5000 },
    verify: [check],
    rollback: 'auto',
    concurrency: 'latest',
    ...over,
  } as EnvironmentSpec;
}
const spec: PipelineSpec = {
  version: 1,
  build: { command: 'npm run build', timeoutMs: 60_000, env: {}, artifact: ['dist'] },
  test: { command: 'npm test', timeoutMs: 60_000, env: {} },
  environments: [env('dev'), env('prod')],
};

const subject = { app: 'shop', runId: `shop.${COMMIT}`, requestedAt: '2026-11-30T09:59:00.000Z', repoUrl: 'https://github.com/acme/shop.git', commit: COMMIT, branch: 'main', pusher: { id: 'pat@example.com', name: 'Pat' } };

const activities: WorldActivities<State> = {
  loadPipeline: (state) => {
    if (state.loadThrows) throw new Error('git fetch failed: connection reset');
    return { ok: true, spec };
  },
  buildArtifact: (state) => (state.buildFails ? { ok: false, reason: 'build exited with code 2', details: ['error TS2304'] } : { ok: true, digest: DIGEST, sizeBytes: 1234, durationMs: 50, logName: `shop/${subject.runId}/build.log`, reused: false }),
  runTests: () => ({ ok: true, durationMs: 40, logName: `shop/${subject.runId}/test.log` }),
  deployArtifact: async (state, input) => {
    state.deployCalls++;
    const revision = (await new InMemoryLedger(state.ledger).latestRevision(input.app, input.environment)) + 1;
    return { ok: true, revision, baseUrl: `http://127.0.0.1:8000/${input.environment}`, startedAt: 't0', finishedAt: 't1' };
  },
  verifyEnvironment: (state, input) => {
    const envName = input.baseUrl.split('/').pop()!;
    const ok = (state.checks[envName] ?? []).shift() ?? true;
    return { check: input.checkIndex, attempt: input.attempt, ok, at: '2026-11-30T10:00:00.000Z', durationMs: 3, status: ok ? 200 : 500, ...(ok ? {} : { reason: 'expected status 200, got 500' }) };
  },
  ...coordinationActivities<State>(),
};

function world(over: Partial<State> = {}): World<State> {
  return {
    initial: () =>
      structuredClone({
        ...emptyWorldState(),
        checks: {},
        buildFails: false,
        loadThrows: false,
        deployCalls: 0,
        ...over,
      }),
    activity: (state, name, input) => (activities as Record<string, (s: State, i: unknown) => unknown>)[name]!(state, input),
    entity: lockOperation,
    subOrchestration: async (state, name, input, instanceId, now) => {
      if (name === 'environmentLockWaiter') {
        // One generation per drive: each ends by continuing as new, or with the waiter's outcome.
        let next = input;
        let start = now;
        for (let generation = 0; generation < 20; generation++) {
          const result = await drive(lockWaiterOrchestrator, next, { ...world(), initial: () => state }, { instanceId, start, from: undefined });
          waiterGenerations.push(result);
          if (result.status !== 'continued') {
            assert.equal(result.status, 'completed', result.error);
            return result.output;
          }
          next = result.output;
          start = result.history.at(-1)?.clock ?? start;
        }
        assert.fail('the lock waiter did not finish within 20 generations');
      }
      assert.equal(name, 'promotion');
      const result = await drive(promotionOrchestrator, input, { ...world(), initial: () => state }, { instanceId, start: now, from: undefined });
      assert.equal(result.status, 'completed', result.error);
      return result.output;
    },
  };
}

/** Every generation of a lock waiter sub-orchestration driven so far (tests reset it). */
let waiterGenerations: DriveResult[] = [];

/** Runs a scenario live, then checks replays and every cut against it; returns the live result. */
async function scenario(orchestrator: Parameters<typeof drive>[0], input: unknown, w: World<State>, instanceId: string): Promise<DriveResult & { state: State }> {
  const live = await drive(orchestrator, input, w, { instanceId });
  assert.notEqual(live.status, 'failed', live.error);
  const expected = JSON.stringify({ status: live.status, output: live.output, history: live.history, customStatus: live.customStatus });

  // The same history replayed twice: the same actions and the same output, both times.
  for (let i = 0; i < 2; i++) {
    const replayed = await drive(orchestrator, input, w, { instanceId, history: live.history, from: live.snapshots.at(-1) as State });
    assert.equal(JSON.stringify({ status: replayed.status, output: replayed.output, history: replayed.history, customStatus: replayed.customStatus }), expected, `replay ${i + 1}`);
  }
  // Cut after every step and resumed against the world as it was then.
  for (let k = 0; k <= live.history.length; k++) {
    const resumed = await drive(orchestrator, input, w, { instanceId, history: live.history.slice(0, k), from: live.snapshots[k] as State });
    assert.equal(JSON.stringify({ status: resumed.status, output: resumed.output, history: resumed.history, customStatus: resumed.customStatus }), expected, `cut after step ${k} of ${live.history.length}`);
  }
  return { ...live, state: live.snapshots.at(-1) as State };
}

const kinds = (r: DriveResult) => r.history.map((s) => (s.action.kind === 'activity' ? s.action.name : s.action.kind === 'entity' ? `lock.${s.action.operation}` : s.action.kind));

describe('pipeline orchestrator', () => {
  const input: PipelineInput = { subject, pipelinePath: '.conveyor/pipeline.yaml' };

  test('a good commit is built once, tested, and promoted through dev and prod; the run record says so', async () => {
    const run = await scenario(pipelineOrchestrator, input, world(), subject.runId);
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.output, {
      status: 'Succeeded',
      digest: DIGEST,
      environments: [
        { environment: 'dev', status: 'Succeeded', revision: 1 },
        { environment: 'prod', status: 'Succeeded', revision: 1 },
      ],
    });
    assert.deepEqual(kinds(run).filter((k) => k !== 'recordRun'), ['loadPipeline', 'buildArtifact', 'runTests', 'sub', 'sub']);
    const record = run.state.runs[`shop/${subject.runId}`]!;
    assert.equal(record.status, 'Succeeded');
    assert.equal(record.digest, DIGEST);
    assert.deepEqual(record.environmentOrder, ['dev', 'prod']);
    assert.deepEqual(Object.fromEntries(Object.entries(record.stages).map(([k, v]) => [k, v.status])), { load: 'Succeeded', build: 'Succeeded', test: 'Succeeded' });
    assert.equal(record.environments.dev?.status, 'Succeeded');
    assert.equal(record.environments.prod?.revision, 1);
    assert.equal(new InMemoryLedger(run.state.ledger).data.records['shop/prod']?.[0]?.digest, DIGEST, 'prod runs the digest built once');
  });

  test('a broken build fails the run with the reason; nothing is deployed', async () => {
    const run = await scenario(pipelineOrchestrator, input, world({ buildFails: true }), subject.runId);
    assert.deepEqual(run.output, { status: 'Failed', reason: 'build failed: build exited with code 2', environments: [] });
    assert.equal(run.state.deployCalls, 0);
    assert.equal(run.state.runs[`shop/${subject.runId}`]!.stages.build?.status, 'Failed');
  });

  test('a fault that survives the retries ends the run Errored (a fault, not a verdict)', async () => {
    const run = await scenario(pipelineOrchestrator, input, world({ loadThrows: true }), subject.runId);
    const output = run.output as { status: string; reason: string };
    assert.equal(output.status, 'Errored');
    assert.match(output.reason, /loadPipeline' failed: git fetch failed/);
    assert.equal(run.state.runs[`shop/${subject.runId}`]!.status, 'Errored');
  });
});

describe('promotion orchestrator', () => {
  const promotion = (environment: EnvironmentSpec): PromotionInput => ({ subject, digest: DIGEST, environment });
  const instanceId = (name: string) => `${subject.runId}.${name}`;
  const decision = (by: string, verdict: 'approve' | 'reject', groups: string[] = []): ExternalEvent => ({
    name: APPROVAL_EVENT,
    payload: { decision: verdict, by, groups, at: '2026-11-30T10:00:30.000Z' } satisfies ApprovalDecision,
  });
  const gated = env('prod', { approval: { approvers: ['ann@example.com', 'group:release'], required: 2, timeoutMs: 3_600_000, allowSelfApproval: false } });

  test('two approvers (one by group) open the gate; a stranger and the pusher are not counted', async () => {
    const events = [decision('mallory@example.com', 'approve'), decision('pat@example.com', 'approve', ['release']), decision('ann@example.com', 'approve'), decision('bob@example.com', 'approve', ['release'])];
    const run = await scenario(promotionOrchestrator, promotion(gated), world({ events }), instanceId('prod'));
    assert.deepEqual(run.output, { environment: 'prod', status: 'Succeeded', revision: 1 });
    const approval = run.state.runs[`shop/${subject.runId}`]!.environments.prod?.approval;
    assert.equal(approval?.outcome, 'approved');
    assert.deepEqual(approval?.decisions.map((d) => d.by), ['ann@example.com', 'bob@example.com']);
    assert.deepEqual(run.state.locks[lockEntityKey('shop', 'prod')], emptyLock(), 'the lock is released');
  });

  test('a rejection fails the promotion without deploying', async () => {
    const run = await scenario(promotionOrchestrator, promotion(gated), world({ events: [decision('ann@example.com', 'reject')] }), instanceId('prod'));
    assert.equal((run.output as { status: string }).status, 'Failed');
    assert.match((run.output as { reason: string }).reason, /rejected by ann@example.com/);
    assert.equal(run.state.deployCalls, 0);
  });

  test('no decision before the timeout aborts the promotion at the durable timer', async () => {
    const run = await scenario(promotionOrchestrator, promotion(gated), world(), instanceId('prod'));
    assert.equal((run.output as { status: string }).status, 'Aborted');
    assert.match((run.output as { reason: string }).reason, /timed out at 2026-11-30T11:00:01.020Z \(waited since 2026-11-30T10:00:01.020Z\)/, 'one hour after the gate opened');
  });

  test('a newer run supersedes a promotion waiting for its approval', async () => {
    const run = await scenario(promotionOrchestrator, promotion(gated), world({ events: [{ name: SUPERSEDED_EVENT, payload: { by: 'shop.cccccccc' } }] }), instanceId('prod'));
    assert.deepEqual(run.output, { environment: 'prod', status: 'Superseded', reason: 'superseded by run shop.cccccccc while waiting for approval of prod' });
  });

  test('a newer run supersedes a promotion waiting at a frozen environment after its approval', async () => {
    const w = world({ events: [{ name: SUPERSEDED_EVENT, payload: { by: 'shop.cccccccc' } }] });
    const frozen: World<State> = {
      ...w,
      activity: (state, name, input) =>
        name === 'checkEnvironmentGate' && (input as ActivityInput<'checkEnvironmentGate'>).digest !== undefined && state.locks[lockEntityKey('shop', 'dev')]?.slot
          ? { state: 'closed', frozen: true, reason: 'frozen by ann@example.com (rollback): incident' }
          : w.activity(state, name, input),
    };
    const run = await scenario(promotionOrchestrator, promotion(env('dev')), frozen, instanceId('dev'));
    assert.deepEqual(run.output, { environment: 'dev', status: 'Superseded', reason: 'superseded by run shop.cccccccc while waiting for dev to be unfrozen' });
    assert.equal(run.state.deployCalls, 0);
    assert.equal(kinds(run).at(-1), 'lock.release', 'the turn is given up for the newer run');
  });

  test('failed verification rolls the environment back to its last good revision', async () => {
    const good = { records: { 'shop/dev': [] }, bad: {} } as LedgerData;
    const w = world({ ledger: good, checks: { dev: [false, false, false] } });
    const seeded = w.initial();
    await recordDeployment(new InMemoryLedger(seeded.ledger), { app: 'shop', environment: 'dev', revision: 1, commit: OLD_COMMIT, digest: OLD_DIGEST, runId: 'shop.bbbbbbb', kind: 'deploy', status: 'Succeeded', verification: [], requestedBy: { id: 'pat@example.com' }, startedAt: 't0', finishedAt: 't1' });
    const run = await scenario(promotionOrchestrator, promotion(env('dev')), { ...w, initial: () => structuredClone(seeded) }, instanceId('dev'));
    const output = run.output as { status: string; revision: number; rolledBackTo: number; reason: string };
    assert.equal(output.status, 'Failed');
    assert.equal(output.revision, 2);
    assert.equal(output.rolledBackTo, 1);
    assert.match(output.reason, /did not pass within 3 tries.*rolled back to revision 1 .* as revision 3/s);
    const ledger = new InMemoryLedger(run.state.ledger);
    assert.equal((await ledger.current('shop', 'dev'))?.digest, OLD_DIGEST, 'dev runs the last good artifact again');
    assert.ok(await ledger.badMarker('shop', 'dev', 2), 'the failed revision is marked bad');
    assert.equal((await ledger.get('shop', 'dev', 3)).rolledBackTo, 1);
    assert.deepEqual(kinds(run).filter((k) => k === 'timer').length, 2, 'two durable waits between the three tries');
  });

  test('a history recorded before the names were unified (currentDeployment answered artifactDigest, deployedAt) replays to the same result', async () => {
    const live = await scenario(promotionOrchestrator, promotion(env('dev', { soakMs: 60_000 })), world(), instanceId('dev'));
    assert.equal((live.output as { status: string }).status, 'Succeeded');
    const older = live.history.map((step) => {
      if (step.action.kind !== 'activity' || step.action.name !== 'currentDeployment' || !step.outcome.ok) return step;
      const { digest, finishedAt, ...rest } = step.outcome.value as { digest: string; finishedAt: string };
      return { ...step, outcome: { ok: true as const, value: { ...rest, artifactDigest: digest, deployedAt: finishedAt } } };
    });
    assert.notDeepEqual(older, live.history, 'the soak read the current deployment');
    const replayed = await drive(promotionOrchestrator, promotion(env('dev', { soakMs: 60_000 })), world(), { instanceId: instanceId('dev'), history: older, from: live.state });
    assert.deepEqual(replayed.output, live.output);
  });

  test('a turn held by a run that went away is recovered on the safety timer, and the promotion then deploys', async () => {
    const key = lockEntityKey('shop', 'dev');
    const holder = { instanceId: 'shop.ddddddd.dev', runId: 'shop.ddddddd', requestedAt: '2026-11-30T09:00:00.000Z', kind: 'promotion' as const, policy: 'latest' as const, since: 't', phase: 'deploying' as const };
    waiterGenerations = [];
    const run = await scenario(promotionOrchestrator, promotion(env('dev')), world({ locks: { [key]: { ...emptyLock(), holder } }, gone: [holder.instanceId] }), instanceId('dev'));
    assert.deepEqual(run.output, { environment: 'dev', status: 'Succeeded', revision: 1 });
    // The promotion asks once, then waits through a waiter sub-orchestration: its own history has no timer.
    assert.deepEqual(kinds(run).slice(0, 3), ['lock.request', 'sub', 'checkEnvironmentGate']);
    // The waiter's first generation asks and waits; its safety timer fires after a day: it looks
    // (the party is alive, the holder gone, so it is released on its behalf, and the turn passes to
    // the asker itself: no event raised on itself), then continues as new.
    const [first, second] = waiterGenerations;
    assert.equal(first?.status, 'continued');
    assert.deepEqual(kinds(first!), ['lock.request', 'any', 'wakeLockParty', 'wakeLockParty', 'lock.release']);
    const waited = Date.parse(first!.history[1]!.clock) - Date.parse(first!.history[0]!.clock);
    assert.ok(waited >= 24 * 3_600_000 && waited < 24 * 3_600_000 + 60_000, `the safety timer fired after a day (the last resort: the reconcile sweep repairs locks sooner); waited ${waited} ms`);
    // The next generation asks again at once and holds the turn.
    assert.equal(second?.status, 'completed');
    assert.deepEqual(kinds(second!), ['lock.request']);
    assert.deepEqual(second!.output, { acquired: true });
  });
});

describe('rollback orchestrator', () => {
  const operationId = 'rollback.shop.dev.123e4567-e89b-12d3-a456-426614174000';
  const request = (over: Partial<RollbackInput> = {}): RollbackInput => ({
    operationId,
    app: 'shop',
    environment: 'dev',
    repoUrl: subject.repoUrl,
    pipelinePath: '.conveyor/pipeline.yaml',
    force: false,
    requestedBy: { id: 'ann@example.com', name: 'Ann' },
    requestedAt: '2026-11-30T10:00:00.000Z',
    ...over,
  });
  async function seeded(): Promise<World<State>> {
    const w = world();
    const state = w.initial();
    const ledger = new InMemoryLedger(state.ledger);
    const base = { app: 'shop', environment: 'dev', kind: 'deploy' as const, verification: [], requestedBy: { id: 'pat@example.com' }, startedAt: 't0', finishedAt: 't1' };
    await recordDeployment(ledger, { ...base, revision: 1, commit: OLD_COMMIT, digest: OLD_DIGEST, runId: 'shop.bbbbbbb', status: 'Succeeded' });
    await recordDeployment(ledger, { ...base, revision: 2, commit: COMMIT, digest: DIGEST, runId: subject.runId, status: 'Failed', reason: 'verification failed' });
    return { ...w, initial: () => structuredClone(state) };
  }

  test('redeploys the last good revision under the lock and records who asked and why', async () => {
    const run = await scenario(rollbackOrchestrator, request({ reason: 'bad release' }), await seeded(), operationId);
    assert.deepEqual(run.output, { status: 'Succeeded', reason: 'rollback to revision 1 requested by ann@example.com: bad release', rolledBackTo: 1, commit: OLD_COMMIT, revision: 3 });
    const record = await new InMemoryLedger(run.state.ledger).get('shop', 'dev', 3);
    assert.equal(record.kind, 'rollback');
    assert.deepEqual(record.requestedBy, { id: 'ann@example.com', name: 'Ann' });
    assert.equal(kinds(run)[0], 'lock.acquire', 'a rollback needs only the deploy slot');
    assert.equal(kinds(run).at(-1), 'lock.release');
  });

  // A deny window until `opens`: closed for a rollback unless a break-glass request comes with the check.
  const inWindow = (w: World<State>, opens: string): World<State> => ({
    ...w,
    activity: (state, name, input) => {
      if (name !== 'checkEnvironmentGate') return w.activity(state, name, input);
      const gate = input as ActivityInput<'checkEnvironmentGate'>;
      if (gate.breakGlass) return { state: 'open', breakGlass: { by: gate.breakGlass.by, reason: gate.breakGlass.reason, at: gate.breakGlass.at } };
      return gate.now! >= opens ? { state: 'open' } : { state: 'closed', frozen: false, reason: "deny window 'release freeze'", retryAt: opens };
    },
  });

  test('in a closed deploy window it freezes the environment at once, gives the slot back and waits for the window to open', async () => {
    // 20 minutes after the driver's start: sooner than the 30-minute safety look.
    const opens = '2026-11-30T10:20:00.000Z';
    const run = await scenario(rollbackOrchestrator, request(), inWindow(await seeded(), opens), operationId);
    assert.equal((run.output as RollbackResult).status, 'Succeeded', JSON.stringify(run.output));
    const k = kinds(run);
    const firstGate = k.indexOf('checkEnvironmentGate');
    assert.deepEqual(k.slice(firstGate, firstGate + 6), ['checkEnvironmentGate', 'freezeAfterRollback', 'lock.release', 'any', 'lock.acquire', 'checkEnvironmentGate']);
    const wait = run.history.find((s) => s.action.kind === 'any')!;
    assert.deepEqual(wait.action.kind === 'any' && wait.action.of.map((a) => (a.kind === 'timer' ? `timer ${a.fireAt}` : a.kind === 'event' ? a.name : a.kind)), [`timer ${opens}`, BREAK_GLASS_EVENT]);
    assert.equal(wait.outcome.ok && wait.outcome.winner, 0, 'the window opened (the timer won)');
    assert.equal(run.state.freezes.length, 1, 'frozen once');
    assert.equal(run.state.deployCalls, 1);
  });

  test('in a closed deploy window a break-glass event lets it in now, recorded in the reason', async () => {
    const glass = { by: 'sre@example.com', groups: [], reason: 'outage', at: '2026-11-30T10:00:01.000Z' };
    const w = inWindow(await seeded(), '2026-12-24T00:00:00.000Z');
    const withEvent: World<State> = { ...w, initial: () => ({ ...w.initial(), events: [{ name: BREAK_GLASS_EVENT, payload: glass }] }) };
    const run = await scenario(rollbackOrchestrator, request(), withEvent, operationId);
    const output = run.output as RollbackResult;
    assert.equal(output.status, 'Succeeded', JSON.stringify(output));
    assert.match(output.reason ?? '', /entered a closed deploy window by break-glass of sre@example\.com at 2026-11-30T10:00:01\.000Z: outage/);
  });

  test('a malformed break-glass event (raised unchecked through the management API) lets nothing in: it waits for the window', async () => {
    const opens = '2026-11-30T10:20:00.000Z';
    const w = inWindow(await seeded(), opens);
    const withEvent: World<State> = { ...w, initial: () => ({ ...w.initial(), events: [{ name: BREAK_GLASS_EVENT, payload: { by: 'sre@example.com', reason: 42 } }] }) };
    const run = await scenario(rollbackOrchestrator, request(), withEvent, operationId);
    const output = run.output as RollbackResult;
    assert.equal(output.status, 'Succeeded', JSON.stringify(output));
    assert.doesNotMatch(output.reason ?? '', /break-glass/);
    const gates = run.history.filter((h) => h.action.kind === 'activity' && h.action.name === 'checkEnvironmentGate');
    assert.ok(gates.length >= 3, 'checked again after the event, and again when the window opened');
    assert.ok(gates.every((h) => h.action.kind === 'activity' && !(h.action.input as { breakGlass?: unknown }).breakGlass), 'no check carried a break-glass');
  });

  test('a named revision marked bad is refused without force, and nothing is deployed', async () => {
    const run = await scenario(rollbackOrchestrator, request({ toRevision: 2 }), await seeded(), operationId);
    assert.deepEqual(run.output, { status: 'Failed', reason: 'revision 2 of dev is marked bad (verification failed); ask with force to redeploy it anyway' });
    assert.equal(run.state.deployCalls, 0);
  });
});
