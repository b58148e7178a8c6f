// The pure rules of shared/domain, without storage: who may approve, how run patches merge and
// apply, and when a named revision may be rolled back to. (The verification policy and the
// environment lock have their own tables: verify-policy.test.ts, domain-environment-lock.test.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { approvalRefusal } from '../../shared/domain/approval.js';
import { namedRevisionRefusal } from '../../shared/domain/rollback.js';
import { applyRunPatch, mergeRunPatch, pendingRun, type RunRecord } from '../../shared/domain/run.js';

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
