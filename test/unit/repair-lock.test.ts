// The lock repair use-case over in-memory ports: a holder that has gone is released on its
// behalf, one that cannot be asked is left alone, and a stale unconfirmed hand-over is woken again
// (not when its party has gone: the release hands it on instead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acquireSlot, emptyLock, releaseLock, requestTurn, type LockParty, type LockState, type Wake } from '../../shared/domain/environment-lock.js';
import { repairLock, type LockRepairPorts } from '../../shared/use-cases/repair-lock.use-case.js';

const T = '2026-10-01T10:00:00.000Z';
const later = new Date('2026-10-01T10:05:00.000Z');
const p = (id: string, kind: LockParty['kind'] = 'promotion'): LockParty => ({ instanceId: id, runId: id, requestedAt: T, kind, policy: 'queue' });

function ports(state: LockState | undefined, liveness: Record<string, 'live' | 'gone' | 'unknown'>) {
  const released: string[] = [];
  const woken: Wake[] = [];
  const port: LockRepairPorts = {
    read: async () => state,
    liveness: async (id) => liveness[id] ?? 'live',
    releaseOnBehalf: async (_a, _e, id) => void released.push(id),
    wake: async (w) => void woken.push(w),
  };
  return { port, released, woken };
}

test('a gone holder is released; an unknown one is left alone', async () => {
  let s = requestTurn(emptyLock(), p('a'), T).state;
  s = acquireSlot(s, p('r', 'rollback'), T).state;
  const gone = ports(s, { a: 'gone', r: 'unknown' });
  assert.deepEqual(await repairLock(gone.port, 'shop', 'prod', later), { released: ['a'], woken: [] });
  assert.deepEqual(gone.released, ['a']);
});

test('a stale unconfirmed hand-over is woken again, unless its party has gone', async () => {
  let s = requestTurn(emptyLock(), p('a'), T).state;
  s = requestTurn(s, p('b'), T).state;
  s = releaseLock(s, 'a', T).state;
  const live = ports(s, {});
  assert.deepEqual(await repairLock(live.port, 'shop', 'prod', later), { released: [], woken: ['b'] });
  assert.deepEqual(live.woken, [{ instanceId: 'b', event: 'granted', what: 'turn' }]);
  const fresh = ports(s, {});
  assert.deepEqual(await repairLock(fresh.port, 'shop', 'prod', new Date(T)), { released: [], woken: [] }, 'not stale yet');
  const goneToo = ports(s, { b: 'gone' });
  assert.deepEqual(await repairLock(goneToo.port, 'shop', 'prod', later), { released: ['b'], woken: [] });
  assert.deepEqual(await repairLock(ports(undefined, {}).port, 'shop', 'prod', later), { released: [], woken: [] });
});
