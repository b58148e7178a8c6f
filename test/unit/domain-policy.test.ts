import { test } from 'node:test';
import assert from 'node:assert/strict';
import { approvalRefusal } from '../../shared/domain/approval.js';
import type { ApprovalSpec, PipelineSpec } from '../../shared/domain/pipeline.js';
import { applyEnvironmentPolicy, branchMatches, environmentGate, rollbackRefusal, type EnvironmentPolicy } from '../../shared/domain/policy.js';
import { appInputSchema } from '../../shared/apps/index.js';

const POLICY: EnvironmentPolicy = { approval: { approvers: ['carol@example.com', 'group:release'], minApprovals: 2, allowSelfApproval: false } };
const file = (over: Partial<ApprovalSpec> = {}): ApprovalSpec => ({ approvers: ['carol@example.com', 'group:release'], required: 1, timeoutMs: 3_600_000, allowSelfApproval: false, ...over });
const who = (id: string, groups: string[] = []) => ({ id, groups });
const PUSHER = 'mallory@example.com';

test('a file without an approval still waits for the policy approval, with the policy approvers and minimum', () => {
  const gate = environmentGate({ environment: 'prod', branch: 'main', policy: POLICY, file: undefined });
  assert.deepEqual(gate.approval, { approvers: POLICY.approval!.approvers, required: 2, timeoutMs: 24 * 3_600_000, allowSelfApproval: false });
  assert.deepEqual(gate.decisions.map((d) => d.rule), ['approval.required-by-policy']);
  assert.match(gate.decisions[0]!.why, /asks for no approval of prod; the app's policy requires 2 from carol@example.com, group:release/);
});

test('the file may tighten (narrower list, more approvals, no self-approval) but never loosen the policy', () => {
  const cases: { name: string; file: ApprovalSpec; expect: Partial<ApprovalSpec>; rules: string[] }[] = [
    { name: 'same list, fewer approvals: the policy minimum', file: file({ required: 1 }), expect: { required: 2 }, rules: ['approval.policy-approvers', 'approval.minimum-from-policy'] },
    { name: 'more approvals: the file wins', file: file({ approvers: ['a@x.io', 'b@x.io', 'c@x.io'], required: 3 }), expect: { required: 3, alsoApprovers: ['a@x.io', 'b@x.io', 'c@x.io'] }, rules: ['approval.policy-approvers', 'approval.narrowed-by-file', 'approval.minimum-from-file'] },
    { name: 'self-approval asked for, policy forbids', file: file({ allowSelfApproval: true, required: 2 }), expect: { allowSelfApproval: false }, rules: ['approval.policy-approvers', 'approval.self-approval-forbidden'] },
    { name: 'the author added to the list', file: file({ approvers: ['carol@example.com', PUSHER], required: 2, allowSelfApproval: true }), expect: { approvers: POLICY.approval!.approvers, alsoApprovers: ['carol@example.com', PUSHER], allowSelfApproval: false }, rules: ['approval.policy-approvers', 'approval.narrowed-by-file', 'approval.self-approval-forbidden'] },
  ];
  for (const c of cases) {
    const gate = environmentGate({ environment: 'prod', branch: 'main', policy: POLICY, file: c.file });
    for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(gate.approval![k as keyof ApprovalSpec], v, `${c.name}: ${k}`);
    assert.deepEqual(gate.decisions.map((d) => d.rule), c.rules, c.name);
  }
});

test('a push that adds its author as approver still needs a policy approver; the author is refused', () => {
  const gate = environmentGate({ environment: 'prod', branch: 'main', policy: POLICY, file: file({ approvers: ['carol@example.com', PUSHER], allowSelfApproval: true }) });
  assert.match(approvalRefusal(gate.approval!, who(PUSHER), PUSHER)!, /mallory@example.com is not an approver \(approvers: carol@example.com, group:release\)/);
  assert.equal(approvalRefusal(gate.approval!, who('carol@example.com'), PUSHER), undefined);
  // A group member of the policy who is not on the file's narrower list is refused too.
  assert.match(approvalRefusal(gate.approval!, who('dave@example.com', ['release']), PUSHER)!, /not on both approver lists/);
});

test('without policy, a commit that changes the approver list cannot approve itself with the new list', () => {
  const previous = ['carol@example.com'];
  const changed = file({ approvers: ['carol@example.com', PUSHER], allowSelfApproval: true });
  const gate = environmentGate({ environment: 'prod', branch: 'main', policy: undefined, file: changed, previousApprovers: previous });
  assert.deepEqual(gate.decisions.map((d) => d.rule), ['approval.changed-list-not-self-approving']);
  assert.ok(approvalRefusal(gate.approval!, who(PUSHER), PUSHER));
  assert.equal(approvalRefusal(gate.approval!, who('carol@example.com'), PUSHER), undefined);
  // Unchanged list (any order or case): the file's own gate, nothing recorded.
  const same = environmentGate({ environment: 'prod', branch: 'main', policy: undefined, file: file({ approvers: ['GROUP:release', 'Carol@example.com'] }), previousApprovers: ['group:release', 'carol@example.com'] });
  assert.deepEqual(same.decisions, []);
  assert.equal(same.approval!.alsoApprovers, undefined);
  // First deployment, or no gate before: the new list is a tightening, taken as is.
  assert.deepEqual(environmentGate({ environment: 'prod', branch: 'main', policy: undefined, file: changed }).approval, changed);
});

test('branches the policy does not allow are refused for that environment only', () => {
  const policy: EnvironmentPolicy = { branches: ['main', 'release/*'] };
  assert.match(environmentGate({ environment: 'prod', branch: 'feature/x', policy, file: undefined }).refusal!, /branch "feature\/x" may not deploy to prod \(the app's policy allows main, release\/\*\)/);
  assert.equal(environmentGate({ environment: 'prod', branch: 'release/1.2', policy, file: undefined }).refusal, undefined);
  assert.equal(branchMatches('release/*', 'release/1/2'), false, '* stays within a path segment');
  const spec = { version: 1, build: { command: 'x', artifact: ['d'], timeoutMs: 1, env: {} }, environments: ['dev', 'prod'].map((name) => ({ name, target: { type: 'process', start: 'x', port: 9000, env: {}, startTimeoutMs: 1 }, verify: [], rollback: 'auto', concurrency: 'latest', drift: 'report' })) } as PipelineSpec;
  const applied = applyEnvironmentPolicy(spec, { policy: { environments: { prod: policy } }, branch: 'feature/x', previousApprovers: {} });
  assert.equal(applied.environments[0]!.policy, undefined, 'dev has no policy');
  assert.match(applied.environments[1]!.policy!.refusal!, /may not deploy to prod/);
});

test('rollback rights: the policy list, else the policy approvers, else the current approvers, else anyone identified', () => {
  const carol = who('carol@example.com');
  const alice = who('alice@example.com');
  assert.match(rollbackRefusal({ environment: 'prod', policy: POLICY, currentApprovers: undefined, who: alice })!, /alice@example.com may not roll prod back: the app's policy \(the environment's approvers\) allows carol@example.com, group:release/);
  assert.equal(rollbackRefusal({ environment: 'prod', policy: POLICY, currentApprovers: undefined, who: carol }), undefined);
  assert.equal(rollbackRefusal({ environment: 'prod', policy: { ...POLICY, rollback: ['alice@example.com'] }, currentApprovers: undefined, who: alice }), undefined);
  assert.ok(rollbackRefusal({ environment: 'prod', policy: { ...POLICY, rollback: ['alice@example.com'] }, currentApprovers: undefined, who: carol }));
  assert.ok(rollbackRefusal({ environment: 'prod', policy: undefined, currentApprovers: ['carol@example.com'], who: alice }));
  assert.equal(rollbackRefusal({ environment: 'dev', policy: undefined, currentApprovers: undefined, who: alice }), undefined);
});

test('the registration validates policy: approver syntax, minimum within the list, unknown rules refused', () => {
  const base = { name: 'shop', repoUrl: 'https://example.com/shop.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'SHOP_SECRET' };
  assert.ok(appInputSchema.safeParse({ ...base, policy: { environments: { prod: { approval: { approvers: ['carol@example.com'] }, branches: ['main'], rollback: ['group:sre'] } } } }).success);
  const issues = (policy: unknown) => appInputSchema.safeParse({ ...base, policy }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  assert.match(issues({ environments: { prod: { approval: { approvers: ['carol@example.com'], minApprovals: 2 } } } }).join(), /policy\.environments\.prod\.approval\.minApprovals: cannot need 2 approvals from 1/);
  assert.match(issues({ environments: { prod: { approval: { approvers: ['not an approver'] } } } }).join(), /must be an e-mail address or group/);
  assert.match(issues({ environments: { prod: { windowz: [] } } }).join(), /Unrecognized key/);
});
