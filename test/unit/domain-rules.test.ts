// The pure rules of shared/domain, without storage: the environment lock (who gets it, who is
// superseded), who may approve, how run patches merge and apply, and when a named revision may
// be rolled back to. (The verification policy has its own table in verify-policy.test.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { approvalRefusal } from '../../shared/domain/approval.js';
import { emptyLock, releaseLock, requestLock, setLockPhase, type LockParty, type LockState } from '../../shared/domain/environment-lock.js';
import { namedRevisionRefusal } from '../../shared/domain/rollback.js';
import { applyRunPatch, mergeRunPatch, pendingRun, type RunRecord } from '../../shared/domain/run.js';

const T = (minute: number) => `2026-11-30T10:${String(minute).padStart(2, '0')}:00.000Z`;
const party = (run: string, minute: number, over: Partial<LockParty> = {}): LockParty => ({
  instanceId: `shop.${run}.prod`,
  runId: `shop.${run}`,
  requestedAt: T(minute),
  kind: 'promotion',
  policy: 'latest',
  ...over,
});

function ask(state: LockState, p: LockParty, minute: number) {
  return requestLock(state, p, T(minute));
}

describe('environment lock', () => {
  test('the first asker gets a free lock; asking again while holding it is still acquired', () => {
    const a = party('aaaaaaa', 0);
    const first = ask(emptyLock(), a, 1);
    assert.deepEqual(first.answer, { state: 'acquired' });
    assert.equal(first.state.holder?.instanceId, a.instanceId);
    assert.deepEqual(ask(first.state, a, 2).answer, { state: 'acquired' });
  });

  test('an older waiting promotion is superseded by a newer one (latest policy) and learns it on its next ask', () => {
    const holder = party('hhhhhhh', 0);
    const older = party('ooooooo', 1);
    const newer = party('nnnnnnn', 2);
    let s = ask(emptyLock(), holder, 1).state;
    s = ask(s, older, 2).state;
    const n = ask(s, newer, 3);
    assert.equal(n.answer.state, 'waiting');
    assert.deepEqual(ask(n.state, older, 4).answer, { state: 'superseded', by: newer.runId });
  });

  test('a newer waiter supersedes an older asker immediately', () => {
    const holder = party('hhhhhhh', 0);
    let s = ask(emptyLock(), holder, 1).state;
    s = ask(s, party('nnnnnnn', 5), 2).state;
    assert.deepEqual(ask(s, party('ooooooo', 3), 3).answer, { state: 'superseded', by: 'shop.nnnnnnn' });
  });

  test('a holder waiting for its approval is superseded by a newer promotion, which is told to notify it', () => {
    const holder = party('hhhhhhh', 0);
    const s = setLockPhase(ask(emptyLock(), holder, 1).state, holder.instanceId, 'approval');
    const n = ask(s, party('nnnnnnn', 2), 2);
    assert.deepEqual(n.answer, { state: 'waiting', holder: holder.runId, position: 1, supersedeHolder: holder.instanceId });
    assert.deepEqual(ask(n.state, party('nnnnnnn', 2), 3).answer, { state: 'waiting', holder: holder.runId, position: 1 }, 'told once');
  });

  test('a deploying holder is never superseded; queue policy and rollbacks are first come, first served', () => {
    const holder = party('hhhhhhh', 0);
    const s = ask(emptyLock(), holder, 1).state;
    assert.equal(ask(s, party('nnnnnnn', 2), 2).answer.state, 'waiting');
    const q1 = party('q111111', 5, { policy: 'queue' });
    const q2 = party('q222222', 6, { policy: 'queue' });
    let qs = ask(ask(s, q1, 2).state, q2, 3).state;
    const rb = party('rrrrrrr', 9, { kind: 'rollback', policy: 'queue' });
    qs = ask(qs, rb, 4).state;
    qs = releaseLock(qs, holder.instanceId);
    assert.equal(ask(qs, q2, 5).answer.state, 'waiting', 'not first in line');
    assert.deepEqual(ask(qs, q1, 5).answer, { state: 'acquired' });
  });

  test('a waiter that stopped asking for five minutes no longer blocks the line', () => {
    let s = ask(emptyLock(), party('hhhhhhh', 0), 0).state;
    s = ask(s, party('q111111', 1, { policy: 'queue' }), 1).state;
    s = releaseLock(s, 'shop.hhhhhhh.prod');
    assert.deepEqual(ask(s, party('q222222', 2, { policy: 'queue' }), 7).answer, { state: 'acquired' });
  });
});

describe('approval refusal', () => {
  const gate = { approvers: ['ann@example.com', 'group:Release'], allowSelfApproval: false };
  const cases: [string, { id: string; groups: string[] }, string | undefined, RegExp | undefined][] = [
    ['a listed approver, any case', { id: 'ANN@example.com', groups: [] }, 'pat@example.com', undefined],
    ['a member of a listed group, any case', { id: 'bob@example.com', groups: ['release'] }, 'pat@example.com', undefined],
    ['someone not listed', { id: 'eve@example.com', groups: ['dev'] }, 'pat@example.com', /is not an approver/],
    ['the pusher, when self-approval is off', { id: 'pat@example.com', groups: ['release'] }, 'Pat@example.com', /may not approve their own change/],
  ];
  for (const [name, who, pusher, refusal] of cases) {
    test(name, () => {
      const answer = approvalRefusal(gate, who, pusher);
      if (refusal) assert.match(answer ?? '', refusal);
      else assert.equal(answer, undefined);
    });
  }
  test('the pusher may approve when the environment allows self-approval', () => {
    assert.equal(approvalRefusal({ ...gate, allowSelfApproval: true }, { id: 'pat@example.com', groups: ['release'] }, 'pat@example.com'), undefined);
  });
});

describe('run patches', () => {
  const base: RunRecord = { ...pendingRun({ app: 'shop', runId: 'shop.abcdef0', commit: 'abcdef0' }), stages: {}, environments: {}, createdAt: 'c', updatedAt: 'u' };

  test('a new run is Pending with only what it was given', () => {
    assert.deepEqual(pendingRun({ app: 'shop', runId: 'shop.abcdef0', commit: 'abcdef0' }), { app: 'shop', runId: 'shop.abcdef0', status: 'Pending', commit: 'abcdef0' });
  });

  test('stage and environment entries merge field by field; undefined changes nothing', () => {
    let run = applyRunPatch(base, { status: 'Running', stages: { build: { status: 'Running', startedAt: 't1' } }, environments: { dev: { status: 'Pending' } } });
    run = applyRunPatch(run, { reason: undefined, stages: { build: { status: 'Succeeded', finishedAt: 't2', reason: undefined } }, environments: { dev: { status: 'Running', approval: undefined } } });
    assert.deepEqual(run.stages.build, { status: 'Succeeded', startedAt: 't1', finishedAt: 't2' });
    assert.deepEqual(run.environments.dev, { status: 'Running' });
    assert.equal(run.status, 'Running');
    assert.ok(!('reason' in run));
  });

  test('merging two patches then applying equals applying them in turn', () => {
    const a = { digest: 'sha256:x', stages: { build: { status: 'Succeeded' as const, finishedAt: 't2' } } };
    const b = { stages: { test: { status: 'Running' as const, startedAt: 't3' } }, environments: { dev: { status: 'Pending' as const } } };
    assert.deepEqual(applyRunPatch(base, mergeRunPatch(a, b)), applyRunPatch(applyRunPatch(base, a), b));
    assert.deepEqual(mergeRunPatch(undefined, b), b);
  });

  test('two writers to one environment keep each other\'s fields', () => {
    const approval = { waitingSince: 't', until: 'u', approvers: ['a'], required: 1, allowSelfApproval: false, decisions: [] };
    const run = applyRunPatch(applyRunPatch(base, { environments: { prod: { status: 'Pending', approval } } }), { environments: { prod: { status: 'Running', startedAt: 't5' } } });
    assert.deepEqual(run.environments.prod, { status: 'Running', approval, startedAt: 't5' });
  });
});

describe('rollback refusal', () => {
  const record = { revision: 4, environment: 'prod', status: 'Succeeded' as const };
  const bad = { revision: 4, reason: 'broke checkout', markedAt: 't' };
  test('a good revision may be redeployed', () => assert.equal(namedRevisionRefusal(record, undefined, false), undefined));
  test('a bad marker is named first, with its reason', () => assert.match(namedRevisionRefusal({ ...record, status: 'Failed' }, bad, false) ?? '', /marked bad \(broke checkout\)/));
  test('a failed deployment is refused', () => assert.match(namedRevisionRefusal({ ...record, status: 'Failed' }, undefined, false) ?? '', /is a failed deployment/));
  test('force overrides both', () => assert.equal(namedRevisionRefusal({ ...record, status: 'Failed' }, bad, true), undefined));
});
