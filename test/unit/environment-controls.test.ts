// Freeze, unfreeze and break-glass rules (shared/use-cases/environment-controls.use-case.ts),
// with in-memory fakes of the stores and of the orchestration signals, and the upgrade of the
// old top-level `deployWindows` field of app registrations into the policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appInputSchema, appRecordSchema, foldDeployWindows, type AppRecord } from '../../shared/apps/app-record.schema.js';
import { deployWindowOf } from '../../shared/domain/policy.js';
import type { Freeze } from '../../shared/domain/windows.js';
import { NotFoundError } from '../../shared/errors.js';
import { breakGlass, breakGlassOperation, freezeEnvironment, unfreezeEnvironment, type ControlStores } from '../../shared/use-cases/environment-controls.use-case.js';

const window = { windows: [{ kind: 'deny' as const, start: '2026-12-24T00:00', duration: '48h', timeZone: 'Europe/Berlin' }], allowRollbackInDenyWindow: false, breakGlass: ['group:sre'] };
const base = { name: 'shop', repoUrl: 'https://github.com/acme/shop.git', provider: 'github' as const, branches: ['main'], webhookSecretSetting: 'SHOP_SECRET', pipelinePath: '.conveyor/pipeline.yaml', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };

function world(policy: AppRecord['policy']) {
  let freeze: Freeze | undefined;
  const raised: { instanceId: string; event: string; payload: unknown }[] = [];
  const app: AppRecord = appRecordSchema.parse({ ...base, ...(policy ? { policy } : {}) });
  const stores: ControlStores = {
    apps: { get: async (name) => { if (name !== 'shop') throw new NotFoundError(`app ${name} not found`); return { value: app }; } },
    ledger: { environments: async () => ['dev', 'prod'], current: async () => undefined },
    runs: { get: async () => { throw new NotFoundError('no run'); } },
    controls: {
      setFreeze: async (_a, _e, f) => { const already = freeze !== undefined; freeze ??= f; return { freeze, already }; },
      unfreeze: async () => { const was = freeze; freeze = undefined; return was; },
    },
  };
  const signals = {
    lockHolder: async () => ({ instanceId: 'shop-c1:prod', runId: 'shop-c1', phase: 'frozen' }),
    promotionStep: async (id: string) => (id.startsWith('shop.') ? 'waiting-for-window' : null),
    raise: async (instanceId: string, event: string, payload: unknown) => { raised.push({ instanceId, event, payload }); },
  };
  return { stores, signals, raised, frozen: () => freeze };
}

const who = (id: string, groups: string[] = []) => ({ id, groups });
const at = '2026-11-30T06:00:00Z';

test('anyone identified may freeze; unfreezing needs the right to roll back, and wakes the frozen promotion', async () => {
  const w = world({ environments: { prod: { approval: { approvers: ['carol@example.com'], minApprovals: 1, allowSelfApproval: false }, rollback: ['group:sre'] } } });
  const frozen = await freezeEnvironment(w.stores, { app: 'shop', environment: 'prod', who: who('alice@example.com'), reason: 'smells', at });
  assert.equal(frozen.done, true);
  const refused = await unfreezeEnvironment(w.stores, w.signals, { app: 'shop', environment: 'prod', who: who('alice@example.com'), reason: '', at, unfrozenEvent: 'Unfrozen' });
  assert.deepEqual(refused, { done: false, code: 'not-allowed', reason: "unfreezing needs the right to roll prod back: alice@example.com may not roll prod back: the app's policy (rollback) allows group:sre" });
  assert.ok(w.frozen(), 'still frozen');
  const lifted = await unfreezeEnvironment(w.stores, w.signals, { app: 'shop', environment: 'prod', who: who('dana@example.com', ['sre']), reason: 'ok', at, unfrozenEvent: 'Unfrozen' });
  assert.equal(lifted.done && lifted.woke, 'shop-c1');
  assert.deepEqual(w.raised, [{ instanceId: 'shop-c1:prod', event: 'Unfrozen', payload: { by: 'dana@example.com' } }]);
  assert.equal(w.frozen(), undefined);
  const again = await unfreezeEnvironment(w.stores, w.signals, { app: 'shop', environment: 'prod', who: who('dana@example.com', ['sre']), reason: '', at, unfrozenEvent: 'Unfrozen' });
  assert.equal(!again.done && again.code, 'conflict');
});

test('where no approval is configured anywhere, anyone identified may unfreeze; unknown apps and environments are not found', async () => {
  const w = world(undefined);
  await freezeEnvironment(w.stores, { app: 'shop', environment: 'dev', who: who('alice@example.com'), reason: 'x', at });
  assert.equal((await unfreezeEnvironment(w.stores, w.signals, { app: 'shop', environment: 'dev', who: who('bob@example.com'), reason: '', at, unfrozenEvent: 'U' })).done, true);
  const noEnv = await freezeEnvironment(w.stores, { app: 'shop', environment: 'nowhere', who: who('a@example.com'), reason: 'x', at });
  assert.equal(!noEnv.done && noEnv.code, 'not-found');
  const noApp = await freezeEnvironment(w.stores, { app: 'nope', environment: 'dev', who: who('a@example.com'), reason: 'x', at });
  assert.equal(!noApp.done && noApp.code, 'not-found');
});

test('break-glass: only the window policy\'s list, with a reason, for a run waiting for a window', async () => {
  const w = world({ environments: { prod: { deployWindow: window } } });
  const req = (id: string, groups: string[], runId = `shop.${'c'.repeat(40)}`) => ({ runId, environment: 'prod', who: who(id, groups), reason: 'hotfix', at, breakGlassEvent: 'BreakGlass' });
  const refused = await breakGlass(w.stores, w.signals, req('alice@example.com', []));
  assert.equal(!refused.done && refused.code, 'not-allowed');
  const done = await breakGlass(w.stores, w.signals, req('dana@example.com', ['sre']));
  assert.equal(done.done, true);
  assert.equal(w.raised[0]?.event, 'BreakGlass');
  const noRun = await breakGlass(w.stores, w.signals, req('dana@example.com', ['sre'], 'not a run id'));
  assert.equal(!noRun.done && noRun.code, 'not-found');
});

test('break-glass on a rollback operation: only the window policy\'s list, and only while it waits for a window', async () => {
  const w = world({ environments: { prod: { deployWindow: window } } });
  const ops: Record<string, { app: string; environment: string; live: boolean; step?: string }> = {
    waiting: { app: 'shop', environment: 'prod', live: true, step: 'waiting-for-window' },
    deploying: { app: 'shop', environment: 'prod', live: true, step: 'deploying' },
    over: { app: 'shop', environment: 'prod', live: false, step: 'waiting-for-window' },
    orphan: { app: 'gone', environment: 'prod', live: true, step: 'waiting-for-window' },
  };
  const signals = { operation: async (id: string) => ops[id], raise: w.signals.raise };
  const req = (operationId: string, id: string, groups: string[]) => ({ operationId, who: { id, name: 'Dana', groups }, reason: 'incident', at, breakGlassEvent: 'BreakGlass' });
  const refused = await breakGlassOperation(w.stores, signals, req('waiting', 'alice@example.com', []));
  assert.equal(!refused.done && refused.code, 'not-allowed');
  const busy = await breakGlassOperation(w.stores, signals, req('deploying', 'dana@example.com', ['sre']));
  assert.deepEqual(busy, { done: false, code: 'conflict', reason: 'rollback deploying is not waiting for a deploy window (it is deploying)' });
  const ended = await breakGlassOperation(w.stores, signals, req('over', 'dana@example.com', ['sre']));
  assert.equal(!ended.done && ended.code, 'conflict');
  for (const missing of ['none', 'orphan']) {
    const r = await breakGlassOperation(w.stores, signals, req(missing, 'dana@example.com', ['sre']));
    assert.equal(!r.done && r.code, 'not-found', missing);
  }
  assert.deepEqual(w.raised, [], 'nothing raised while refused');
  const done = await breakGlassOperation(w.stores, signals, req('waiting', 'dana@example.com', ['sre']));
  assert.equal(done.done && done.environment, 'prod');
  assert.deepEqual(w.raised, [{ instanceId: 'waiting', event: 'BreakGlass', payload: { by: 'dana@example.com', name: 'Dana', groups: ['sre'], reason: 'incident', at } }]);
});

test('old-style deployWindows: a stored record is read with them in the policy; a registration sending them has them folded in; the policy\'s own window wins', () => {
  const stored = appRecordSchema.parse({ ...base, deployWindows: { prod: window }, policy: { environments: { prod: { rollback: ['group:sre'] } } } });
  assert.equal('deployWindows' in stored, false);
  assert.deepEqual(stored.policy?.environments.prod, { rollback: ['group:sre'], deployWindow: window });
  assert.deepEqual(deployWindowOf(stored, 'prod'), window);
  const { createdAt: _c, updatedAt: _u, ...registration } = base;
  const input = appInputSchema.parse({ ...registration, deployWindows: { dev: window } });
  assert.deepEqual(foldDeployWindows(input.policy, input.deployWindows), { environments: { dev: { deployWindow: window } } });
  const own = { ...window, breakGlass: ['carol@example.com'] };
  assert.deepEqual(foldDeployWindows({ environments: { prod: { deployWindow: own } } }, { prod: window }), { environments: { prod: { deployWindow: own } } });
  // The new place is validated as strictly as the old one.
  assert.equal(appInputSchema.safeParse({ ...registration, policy: { environments: { prod: { deployWindow: { windows: [{ kind: 'sometimes' }] } } } } }).success, false);
});
