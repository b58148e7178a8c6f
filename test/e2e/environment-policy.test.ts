// Environment policy a push cannot weaken: the app's registration requires carol's
// approval for prod and allows only `main` there. A push that drops prod's approval from the
// pipeline file still waits for carol; a push that adds its own author as a prod approver (with
// self-approval) cannot approve itself, carol still can; a push from a feature branch deploys
// dev but is refused prod; the run record says which rule applied and why; a non-approver
// cannot roll prod back, an approver can.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { startConveyor, type ConveyorUnderTest } from './conveyor-support.js';

const SECRET = 'policy-webhook-secret-8642';
const PUSHER = 'conveyor-test@example.com';
const TOKENS = {
  'token-alice-0000000000000001': { id: 'alice@example.com' },
  'token-carol-0000000000000003': { id: 'carol@example.com' },
  'token-pusher-00000000000000004': { id: PUSHER },
};
const as = (who: 'alice' | 'carol' | 'pusher') => ({ authorization: `Bearer ${Object.keys(TOKENS).find((t) => t.includes(`-${who}-`))}` });

let conveyor: ConveyorUnderTest;
let sample: SampleService;

function pipeline(prodApproval: string | undefined): string {
  const env = (name: string, extra = '') => `  - name: ${name}
    target: { type: process, start: node dist/server.js, port: ${sample.ports[name as 'dev' | 'prod']}, startTimeout: 10s }
    verify:
      - http: { path: /healthz, expect: 200, timeout: 2s, retries: 2, interval: 100ms }
${extra}`;
  return `build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev')}${env('prod', prodApproval ? `    approval: ${prodApproval}\n` : '')}`;
}

async function push(commit: string, ref?: string): Promise<string> {
  const hook = await sample.pushWebhook({ secret: SECRET, commit, ...(ref ? { ref } : {}) });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const body = (await res.json()) as any;
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.runId;
}

const waitingForApproval = (run: any) => run.environments?.prod?.status === 'Pending' && run.environments.prod.approval?.waitingSince !== undefined;

async function decide(runId: string, who: 'alice' | 'carol' | 'pusher', decision: 'approve' | 'reject'): Promise<{ status: number; body: any }> {
  const res = await conveyor.api(`/api/runs/${runId}/environments/prod/approval`, { method: 'POST', headers: as(who), json: { decision } });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  sample = await createSampleService();
  await sample.commitPipeline(pipeline('{ approvers: [carol@example.com], required: 1, timeout: 1h }'));
  conveyor = await startConveyor({ env: { POLICY_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify(TOKENS) } });
  const res = await conveyor.api('/api/apps/shop', {
    method: 'PUT',
    key: 'admin',
    json: {
      repoUrl: sample.url,
      provider: 'github',
      branches: ['main', 'feature/*'],
      webhookSecretSetting: 'POLICY_SECRET',
      policy: { environments: { prod: { approval: { approvers: ['carol@example.com'], minApprovals: 1 }, branches: ['main'] } } },
    },
  });
  assert.equal(res.status, 201, await res.text());
  // A first release through the gate, as the file and the policy agree.
  const first = await push(await sample.head());
  await conveyor.waitForRun(first, waitingForApproval);
  assert.equal((await decide(first, 'carol', 'approve')).status, 202);
  assert.equal((await conveyor.waitForRun(first)).status, 'Succeeded');
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

test('a push that drops prod approval from the pipeline file still waits for the policy approvers, and says why', async () => {
  const runId = await push(await sample.commitPipeline(pipeline(undefined), 'no more prod approval'));
  const waiting = await conveyor.waitForRun(runId, waitingForApproval);
  assert.deepEqual(waiting.environments.prod.approval.approvers, ['carol@example.com']);
  assert.deepEqual(waiting.environments.prod.policy.map((d: any) => d.rule), ['branches.allowed', 'approval.required-by-policy']);
  assert.match(waiting.environments.prod.policy[1].why, /asks for no approval of prod; the app's policy requires 1 from carol@example.com/);
  assert.equal(waiting.environments.dev.status, 'Succeeded', 'dev (no policy) went ahead');
  const self = await decide(runId, 'pusher', 'approve');
  assert.equal(self.status, 403);
  assert.equal((await decide(runId, 'carol', 'reject')).status, 202);
  const done = await conveyor.waitForRun(runId);
  assert.equal(done.status, 'Failed');
  assert.match(done.environments.prod.reason ?? done.reason, /rejected by carol@example.com/);
});

test('a push that adds its author as a prod approver (with self-approval) cannot approve itself; a policy approver still can', async () => {
  const runId = await push(await sample.commitPipeline(pipeline(`{ approvers: [carol@example.com, ${PUSHER}], required: 1, timeout: 1h, allowSelfApproval: true }`), 'let me approve'));
  const waiting = await conveyor.waitForRun(runId, waitingForApproval);
  assert.deepEqual(waiting.environments.prod.approval.approvers, ['carol@example.com']);
  assert.equal(waiting.environments.prod.approval.allowSelfApproval, false);
  assert.deepEqual(
    waiting.environments.prod.policy.map((d: any) => d.rule),
    ['branches.allowed', 'approval.policy-approvers', 'approval.narrowed-by-file', 'approval.self-approval-forbidden'],
  );
  const self = await decide(runId, 'pusher', 'approve');
  assert.equal(self.status, 403);
  assert.match(self.body.detail, /conveyor-test@example.com is not an approver \(approvers: carol@example.com\)/);
  assert.equal((await decide(runId, 'carol', 'approve')).status, 202);
  assert.equal((await conveyor.waitForRun(runId)).status, 'Succeeded');
});

test('a push from a branch the policy does not allow in prod deploys dev and is refused prod, before any gate', async () => {
  const runId = await push(await sample.commitChange('from a feature branch'), 'refs/heads/feature/x');
  const done = await conveyor.waitForRun(runId);
  assert.equal(done.environments.dev.status, 'Succeeded');
  assert.equal(done.environments.prod.status, 'Failed');
  assert.match(done.environments.prod.reason, /branch "feature\/x" may not deploy to prod \(the app's policy allows main\)/);
  assert.equal(done.environments.prod.approval, undefined, 'nobody was asked to approve');
  assert.deepEqual(done.environments.prod.policy.map((d: any) => d.rule), ['branches.refused']);
});

test('a non-approver cannot roll prod back; an approver can', async () => {
  const refused = await conveyor.api('/api/apps/shop/environments/prod/rollback', { method: 'POST', headers: as('alice'), json: { reason: 'not mine to roll back' } });
  assert.equal(refused.status, 403);
  assert.match(((await refused.json()) as any).detail, /alice@example.com may not roll prod back: the app's policy \(the environment's approvers\) allows carol@example.com/);
  const allowed = await conveyor.api('/api/apps/shop/environments/prod/rollback', { method: 'POST', headers: as('carol'), json: { reason: 'approver rolls back' } });
  assert.equal(allowed.status, 202, await allowed.text());
  // dev has no approval anywhere: any identified caller may roll it back.
  const dev = await conveyor.api('/api/apps/shop/environments/dev/rollback', { method: 'POST', headers: as('alice'), json: { reason: 'dev is open' } });
  assert.equal(dev.status, 202, await dev.text());
});

test('a non-approver can freeze prod but cannot unfreeze it (the right to roll back); an approver can', async () => {
  const frozen = await conveyor.api('/api/apps/shop/environments/prod/freeze', { method: 'POST', headers: as('alice'), json: { reason: 'looks wrong' } });
  assert.ok([200, 201].includes(frozen.status), await frozen.text());
  const refused = await conveyor.api('/api/apps/shop/environments/prod/unfreeze', { method: 'POST', headers: as('alice'), json: {} });
  assert.equal(refused.status, 403);
  assert.match(((await refused.json()) as any).detail, /unfreezing needs the right to roll prod back: alice@example.com may not roll prod back: the app's policy \(the environment's approvers\) allows carol@example.com/);
  const lifted = await conveyor.api('/api/apps/shop/environments/prod/unfreeze', { method: 'POST', headers: as('carol'), json: { reason: 'checked' } });
  assert.equal(lifted.status, 200, await lifted.text());
});
