import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { acquireSlot, emptyLock, lockRepairs, releaseLock, requestTurn, setLockPhase, type LockParty, type LockState } from '../../shared/domain/environment-lock.js';

const T = '2026-10-01T10:00:00.000Z';
const promo = (n: number, policy: 'latest' | 'queue' = 'latest'): LockParty => ({
  instanceId: `run${n}.prod`,
  runId: `shop.${String(n).padStart(7, '0')}`,
  requestedAt: `2026-10-01T09:00:0${n}.000Z`,
  kind: 'promotion',
  policy,
});
const rollback = (n: number): LockParty => ({ instanceId: `rollback.${n}`, runId: `rollback.${n}`, requestedAt: `2026-10-01T09:30:0${n}.000Z`, kind: 'rollback', policy: 'queue' });

test('queue: the turn is handed to the next in line on release, who is named to be woken', () => {
  let s: LockState = emptyLock();
  let r = requestTurn(s, promo(1, 'queue'), T);
  assert.equal(r.answer.state, 'acquired');
  s = r.state;
  r = requestTurn(s, promo(2, 'queue'), T);
  assert.equal(r.answer.state, 'waiting');
  assert.equal(r.answer.state === 'waiting' && r.answer.position, 1);
  assert.equal(r.answer.state === 'waiting' && r.answer.holderInstance, 'run1.prod');
  s = r.state;
  s = requestTurn(s, promo(3, 'queue'), T).state;
  const rel = releaseLock(s, 'run1.prod', T);
  assert.deepEqual(rel.wake, [{ instanceId: 'run2.prod', event: 'granted', what: 'turn' }]);
  assert.equal(rel.state.holder?.instanceId, 'run2.prod');
  // The woken party confirms by asking again: acquired; only the hand-over is marked confirmed.
  assert.equal(rel.state.holder?.confirmed, false);
  const confirm = requestTurn(rel.state, promo(2, 'queue'), T);
  assert.equal(confirm.answer.state, 'acquired');
  assert.deepEqual(confirm.state, { ...rel.state, holder: { ...rel.state.holder!, confirmed: true } });
  // A stale ask from the third party does not jump the line.
  assert.equal(requestTurn(rel.state, promo(3, 'queue'), T).answer.state, 'waiting');
});

test('latest: a newer request supersedes older waiters (named to be woken) and a holder waiting for approval', () => {
  let s = requestTurn(emptyLock(), promo(1), T).state;
  s = setLockPhase(s, 'run1.prod', 'approval').state;
  const r2 = requestTurn(s, promo(2), T);
  assert.deepEqual(r2.answer.wake, [{ instanceId: 'run1.prod', event: 'superseded', what: 'turn', by: promo(2).runId }]);
  s = r2.state;
  const r3 = requestTurn(s, promo(3), T);
  assert.deepEqual(r3.answer.wake, [{ instanceId: 'run2.prod', event: 'superseded', what: 'turn', by: promo(3).runId }]);
  s = r3.state;
  assert.deepEqual(s.waiters.map((w) => w.instanceId), ['run3.prod']);
  // The superseded ones learn it when they ask (after their wake-up).
  assert.deepEqual(requestTurn(s, promo(2), T).answer, { state: 'superseded', by: promo(3).runId, wake: [] });
  // An older request arriving late is superseded by the newer waiter at once.
  const late = requestTurn(s, { ...promo(0) }, T);
  assert.equal(late.answer.state, 'superseded');
  // The superseded holder releases; the newest gets the turn.
  const rel = releaseLock(s, 'run1.prod', T);
  assert.deepEqual(rel.wake, [{ instanceId: 'run3.prod', event: 'granted', what: 'turn' }]);
});

test('latest: a holder waiting at a closed gate (freeze or deploy window) without the slot is superseded by a newer run', () => {
  let s = requestTurn(emptyLock(), promo(1), T).state;
  s = acquireSlot(s, promo(1), T).state;
  s = setLockPhase(s, 'run1.prod', 'frozen').state;
  // While it looks at the gate under the slot, a newer run only queues.
  const early = requestTurn(s, promo(2), T);
  assert.deepEqual(early.answer.wake, []);
  assert.equal(early.state.superseded['run1.prod'], undefined);
  // Giving the slot back to wait: the answer names the holder itself, superseded by the newer run.
  const back = releaseLock(early.state, 'run1.prod', T, 'slot');
  assert.deepEqual(back.wake, [{ instanceId: 'run1.prod', event: 'superseded', what: 'turn', by: promo(2).runId }]);
  // A run arriving while it already waits at the gate wakes it with the event.
  let w = requestTurn(emptyLock(), promo(1), T).state;
  w = setLockPhase(w, 'run1.prod', 'frozen').state;
  const r = requestTurn(w, promo(3), T);
  assert.deepEqual(r.answer.wake, [{ instanceId: 'run1.prod', event: 'superseded', what: 'turn', by: promo(3).runId }]);
  // A lost event is learnt at the next ask for the slot; the newer run then gets the turn.
  assert.deepEqual(acquireSlot(r.state, promo(1), T).answer, { state: 'superseded', by: promo(3).runId, wake: [] });
  assert.deepEqual(releaseLock(r.state, 'run1.prod', T).wake, [{ instanceId: 'run3.prod', event: 'granted', what: 'turn' }]);
});

test('a wait that starts when a newer run is already in line is moot at once; queue runs are never superseded', () => {
  let s = requestTurn(emptyLock(), promo(1), T).state;
  s = requestTurn(s, promo(2), T).state;
  const phase = setLockPhase(s, 'run1.prod', 'approval');
  assert.deepEqual(phase.wake, [{ instanceId: 'run1.prod', event: 'superseded', what: 'turn', by: promo(2).runId }]);
  let q = requestTurn(emptyLock(), promo(1, 'queue'), T).state;
  q = requestTurn(q, promo(2, 'queue'), T).state;
  assert.deepEqual(setLockPhase(q, 'run1.prod', 'frozen').wake, []);
  assert.deepEqual(setLockPhase(q, 'run1.prod', 'approval').wake, []);
});

test('repairs: holders are named for a liveness check; a hand-over not confirmed for a while is woken again, a confirmed one never', () => {
  let s = requestTurn(emptyLock(), promo(1, 'queue'), T).state;
  s = requestTurn(s, promo(2, 'queue'), T).state;
  s = acquireSlot(s, rollback(1), T).state;
  s = acquireSlot(s, rollback(2), T).state;
  assert.deepEqual(lockRepairs(s, T, 60_000), { holders: ['run1.prod', 'rollback.1'], rewake: [] }, 'direct grants are confirmed');
  s = releaseLock(s, 'run1.prod', T).state;
  s = releaseLock(s, 'rollback.1', T).state;
  assert.deepEqual(lockRepairs(s, T, 60_000).rewake, [], 'not stale yet');
  const later = '2026-10-01T10:01:00.000Z';
  assert.deepEqual(lockRepairs(s, later, 60_000), {
    holders: ['run2.prod', 'rollback.2'],
    rewake: [
      { instanceId: 'run2.prod', event: 'granted', what: 'turn' },
      { instanceId: 'rollback.2', event: 'granted', what: 'slot' },
    ],
  });
  s = requestTurn(s, promo(2, 'queue'), later).state;
  s = acquireSlot(s, rollback(2), later).state;
  assert.deepEqual(lockRepairs(s, '2026-10-02T10:00:00.000Z', 60_000).rewake, [], 'confirmed');
  assert.deepEqual(lockRepairs(undefined, T, 60_000), { holders: [], rewake: [] });
});

test('a holder that is deploying is not superseded', () => {
  let s = requestTurn(emptyLock(), promo(1), T).state;
  s = setLockPhase(s, 'run1.prod', 'deploying').state;
  const r = requestTurn(s, promo(2), T);
  assert.deepEqual(r.answer.wake, []);
  assert.equal(r.state.superseded['run1.prod'], undefined);
});

test('the deploy slot: a rollback takes it while the turn holder waits for approval; the holder then queues behind it', () => {
  let s = requestTurn(emptyLock(), promo(1), T).state;
  s = setLockPhase(s, 'run1.prod', 'approval').state;
  const rb = acquireSlot(s, rollback(1), T);
  assert.equal(rb.answer.state, 'acquired', 'never waits behind an approval');
  s = rb.state;
  const p = acquireSlot(s, promo(1), T);
  assert.equal(p.answer.state, 'waiting');
  s = p.state;
  const rel = releaseLock(s, 'rollback.1', T);
  assert.deepEqual(rel.wake, [{ instanceId: 'run1.prod', event: 'granted', what: 'slot' }]);
  assert.equal(rel.state.slot?.instanceId, 'run1.prod');
  assert.equal(rel.state.holder?.instanceId, 'run1.prod', 'the turn is untouched');
  // Giving back only the slot keeps the turn.
  const back = releaseLock(rel.state, 'run1.prod', T, 'slot');
  assert.equal(back.state.slot, undefined);
  assert.equal(back.state.holder?.instanceId, 'run1.prod');
});

test('a promotion without the turn cannot take the slot', () => {
  const s = requestTurn(emptyLock(), promo(1), T).state;
  assert.equal(acquireSlot(s, promo(2), T).answer.state, 'superseded');
});

test('releasing on behalf of a party that has gone hands everything on', () => {
  let s = requestTurn(emptyLock(), promo(1, 'queue'), T).state;
  s = acquireSlot(s, promo(1, 'queue'), T).state;
  s = requestTurn(s, promo(2, 'queue'), T).state;
  s = acquireSlot(s, rollback(1), T).state;
  const rel = releaseLock(s, 'run1.prod', T);
  assert.deepEqual(rel.wake.map((w) => `${w.instanceId}:${w.what}`).sort(), ['rollback.1:slot', 'run2.prod:turn']);
});

test('state stored by the polling lock (no slot fields) still works', () => {
  const old = { holder: { ...promo(1), since: T, phase: 'deploying' }, waiters: [], superseded: {} } as unknown as LockState;
  const r = requestTurn(old, promo(2, 'queue'), T);
  assert.equal(r.answer.state, 'waiting');
  assert.deepEqual(r.state.slotWaiters, []);
});

test('property: whatever the sequence of operations, at most one turn holder and one slot holder, and a grant is always to a party that asked', () => {
  const parties = [promo(1), promo(2), promo(3, 'queue'), promo(4, 'queue'), rollback(1), rollback(2)];
  const op = fc.oneof(
    fc.record({ kind: fc.constant('request' as const), p: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ kind: fc.constant('acquire' as const), p: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ kind: fc.constant('release' as const), p: fc.integer({ min: 0, max: 5 }), slotOnly: fc.boolean() }),
    fc.record({ kind: fc.constant('phase' as const), p: fc.integer({ min: 0, max: 3 }), phase: fc.constantFrom('approval' as const, 'deploying' as const, 'frozen' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      let s = emptyLock();
      const asked = new Set<string>();
      for (const o of ops) {
        const party = parties[o.p]!;
        if (o.kind === 'request') {
          asked.add(party.instanceId);
          s = requestTurn(s, party, T).state;
        } else if (o.kind === 'acquire') {
          asked.add(party.instanceId);
          s = acquireSlot(s, party, T).state;
        } else if (o.kind === 'phase') s = setLockPhase(s, party.instanceId, o.phase).state;
        else {
          const r = releaseLock(s, party.instanceId, T, o.slotOnly ? 'slot' : 'all');
          for (const w of r.wake) assert.ok(asked.has(w.instanceId), 'woken parties had asked');
          s = r.state;
        }
        if (s.holder) assert.ok(asked.has(s.holder.instanceId));
        if (s.slot) assert.ok(asked.has(s.slot.instanceId));
        assert.ok(!s.waiters.some((w) => w.instanceId === s.holder?.instanceId), 'the holder is not also waiting');
        assert.ok(!s.slotWaiters.some((w) => w.instanceId === s.slot?.instanceId), 'the slot holder is not also waiting');
        assert.equal(new Set(s.waiters.map((w) => w.instanceId)).size, s.waiters.length);
        // A free turn or slot never leaves someone waiting for it.
        if (!s.holder) assert.equal(s.waiters.length, 0);
        if (!s.slot) assert.equal(s.slotWaiters.length, 0);
      }
    }),
    { numRuns: 300 },
  );
});

test('a party waiting through a waiter instance is woken there; the entry goes when the waiter is answered or the party released', () => {
  let s: LockState = requestTurn(emptyLock(), promo(1, 'queue'), T).state;
  // run2 asks itself first (no waiter yet), then its waiter asks on its behalf.
  s = requestTurn(s, promo(2, 'queue'), T).state;
  s = requestTurn(s, { ...promo(2, 'queue'), waiter: 'run2.prod:lock-request-1' }, T).state;
  s = requestTurn(s, { ...promo(3, 'queue'), waiter: 'run3.prod:lock-request-1' }, T).state;
  assert.deepEqual(s.waiterOf, { 'run2.prod': 'run2.prod:lock-request-1', 'run3.prod': 'run3.prod:lock-request-1' });
  const rel = releaseLock(s, 'run1.prod', T);
  assert.deepEqual(rel.wake, [{ instanceId: 'run2.prod', event: 'granted', what: 'turn', raiseOn: 'run2.prod:lock-request-1' }]);
  // The lost-wake-up repair raises it on the waiter too.
  assert.deepEqual(lockRepairs(rel.state, '2026-10-01T10:05:00.000Z', 60_000).rewake, [{ instanceId: 'run2.prod', event: 'granted', what: 'turn', raiseOn: 'run2.prod:lock-request-1' }]);
  // The waiter confirms: acquired, and it is forgotten (a later wake-up goes to the party).
  const confirmed = requestTurn(rel.state, { ...promo(2, 'queue'), waiter: 'run2.prod:lock-request-1' }, T);
  assert.equal(confirmed.answer.state, 'acquired');
  assert.deepEqual(confirmed.state.waiterOf, { 'run3.prod': 'run3.prod:lock-request-1' });
  // A party released on its behalf (it went away) is forgotten too.
  const gone = releaseLock(confirmed.state, 'run3.prod', T);
  assert.equal(gone.state.waiterOf, undefined);
});
