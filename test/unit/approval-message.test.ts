// Approval messages from the queue: a verified credential (API token), the HTTP approval's
// rules, and a reason for every refusal. In-memory run store; the raise port records calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyApprovalMessage } from '../../shared/events/index.js';
import type { ApprovalDecision, Identity } from '../../shared/domain/approval.js';
import type { RunRecord } from '../../shared/domain/run.js';
import { InMemoryRunStore } from '../support/fakes.js';

const TOKENS: Record<string, Identity> = {
  'token-ann-0123456789': { id: 'ann@example.com', name: 'Ann', groups: [] },
  'token-bob-0123456789': { id: 'bob@example.com', groups: ['release-managers'] },
  'token-eve-0123456789': { id: 'eve@example.com', groups: [] },
};

async function setup(gate: Partial<NonNullable<RunRecord['environments'][string]['approval']>> = {}, status: 'Pending' | 'Running' = 'Pending') {
  const runs = new InMemoryRunStore();
  await runs.create({ app: 'shop', runId: 'shop.abc1234', status: 'Running', commit: 'abc1234', pusher: { id: 'eve@example.com' } } as never);
  await runs.update('shop', 'shop.abc1234', (r) => ({
    ...r,
    environmentOrder: ['dev', 'prod'],
    environments: {
      prod: {
        status,
        approval: { waitingSince: '2026-11-30T03:00:00.000Z', until: '2026-12-01T03:00:00.000Z', approvers: ['ann@example.com', 'eve@example.com', 'group:release-managers'], required: 2, allowSelfApproval: false, decisions: [], ...gate },
      },
    },
  }));
  const raised: { instanceId: string; decision: ApprovalDecision }[] = [];
  const ports = {
    runs,
    identify: (t: string) => TOKENS[t],
    raise: async (instanceId: string, decision: ApprovalDecision) => {
      raised.push({ instanceId, decision });
    },
    now: () => '2026-11-30T03:01:00.000Z',
  };
  return { ports, raised };
}

const msg = (over: Record<string, unknown> = {}) => ({ runId: 'shop.abc1234', environment: 'prod', decision: 'approve', comment: 'ship it', credential: { apiToken: 'token-ann-0123456789' }, ...over });

test('a message with a valid token is applied as the token\'s identity', async () => {
  const { ports, raised } = await setup();
  const out = await applyApprovalMessage(ports, JSON.stringify(msg()));
  assert.equal(out.applied, true);
  assert.equal(raised.length, 1);
  assert.equal(raised[0]!.instanceId.includes('shop.abc1234'), true);
  assert.deepEqual(raised[0]!.decision, { decision: 'approve', by: 'ann@example.com', name: 'Ann', groups: [], comment: 'ship it', at: '2026-11-30T03:01:00.000Z' });
});

test('group membership counts, as over HTTP', async () => {
  const { ports, raised } = await setup();
  const out = await applyApprovalMessage(ports, msg({ decision: 'reject', credential: { apiToken: 'token-bob-0123456789' } }));
  assert.equal(out.applied, true);
  assert.equal(raised[0]!.decision.by, 'bob@example.com');
});

const refusals: [string, unknown, RegExp, Parameters<typeof setup>?][] = [
  ['a bare claimed e-mail without a credential', { runId: 'shop.abc1234', environment: 'prod', decision: 'approve', by: 'ann@example.com' }, /^unauthenticated: the message carries no credential/],
  ['a claimed e-mail next to a credential', msg({ by: 'boss@example.com' }), /^malformed: .*unrecognized|^malformed: .*by/i],
  ['a body that is not JSON', 'approve please', /^malformed: the body is not JSON/],
  ['an unknown token', msg({ credential: { apiToken: 'token-nobody-01234567' } }), /^unauthenticated/],
  ['an unknown run', msg({ runId: 'shop.fff9999' }), /^unknown run/],
  ['an environment the run does not have', msg({ environment: 'staging' }), /has no environment staging/],
  ['a gate already closed', msg(), /^not waiting: .*approved/, [{ outcome: 'approved' }]],
  ['an environment not waiting', msg(), /^not waiting/, [{}, 'Running']],
  ['the pusher approving their own change', msg({ credential: { apiToken: 'token-eve-0123456789' } }), /^not allowed: .*own change/],
  ['a second decision by the same person', msg(), /^already decided/, [{ decisions: [{ decision: 'approve', by: 'ANN@example.com', at: '2026-11-30T03:00:30.000Z' }] }]],
];

for (const [name, body, reason, args] of refusals) {
  test(`refused with a reason: ${name}`, async () => {
    const { ports, raised } = await setup(...(args ?? []));
    const out = await applyApprovalMessage(ports, body);
    assert.equal(out.applied, false);
    assert.match((out as { reason: string }).reason, reason);
    assert.deepEqual(raised, []);
  });
}

test('a store fault is transient: it throws (the trigger retries), nothing is raised', async () => {
  const { ports, raised } = await setup();
  const failing = { ...ports, runs: { get: async () => Promise.reject(new Error('storage unreachable')) } };
  await assert.rejects(applyApprovalMessage(failing, msg()), /storage unreachable/);
  assert.deepEqual(raised, []);
});
