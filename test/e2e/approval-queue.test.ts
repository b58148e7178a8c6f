// Approvals over Service Bus end to end: Conveyor on the local host (which starts its Service
// Bus emulator for CONVEYOR_SERVICEBUS), a run waiting for prod, decisions sent to the
// conveyor-approvals queue with the real SDK. Refused messages (not an approver, a bare claimed
// e-mail, an unknown run, a malformed body, Entra ID tokens of another tenant or audience,
// expired or forged, from a fake authority on 127.0.0.1) leave the gate closed, land on the queue's
// dead-letter sub-queue with the reason and description (read back with the SDK's receiver) and
// are published as approval.refused events; a verified approver's message opens it and is completed. The run's events arrive on the topic.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { startFakeEntra, type FakeEntra } from '../support/fake-entra/fake-entra.js';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { REPO_ROOT, startConveyor, type ConveyorUnderTest } from './conveyor-support.js';

const SECRET = 'queue-approvals-secret-0987';
const TOKENS = {
  'token-carol-0000000000000003': { id: 'carol@example.com' },
  'token-mallory-00000000000004': { id: 'mallory@example.com' },
};

const TENANT = '11111111-2222-3333-4444-555555555555';
const APP_ID = '99999999-8888-7777-6666-555555555555';

let conveyor: ConveyorUnderTest;
let sample: SampleService;
let entra: FakeEntra;
let client: ServiceBusClient;
let events: ServiceBusReceiver;
const dir = mkdtempSync(join(tmpdir(), 'conveyor-approval-queue-'));

before(async () => {
  // Conveyor's own topology plus a subscription this test reads the events from.
  const topology = JSON.parse(readFileSync(join(REPO_ROOT, 'servicebus-emulator.json'), 'utf8'));
  topology.UserConfig.Namespaces[0].Topics[0].Subscriptions.push({ Name: 'test-all' });
  writeFileSync(join(dir, 'topology.json'), JSON.stringify(topology));
  sample = await createSampleService();
  await sample.commitPipeline(`build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
  - name: prod
    target: { type: process, start: node dist/server.js, port: ${sample.ports.prod}, startTimeout: 10s }
    verify:
      - http: { path: /healthz, expect: 200, timeout: 2s, retries: 2, interval: 100ms }
    approval: { approvers: [carol@example.com], required: 1, timeout: 24h }
`);
  entra = await startFakeEntra();
  conveyor = await startConveyor({
    env: {
      GATED_SECRET: SECRET,
      CONVEYOR_API_TOKENS: JSON.stringify(TOKENS),
      CONVEYOR_SERVICEBUS_TOPOLOGY: join(dir, 'topology.json'),
      CONVEYOR_ENTRA_TENANT_ID: TENANT,
      CONVEYOR_ENTRA_CLIENT_ID: APP_ID,
      CONVEYOR_ENTRA_AUTHORITY: entra.authority,
    },
  });
  const res = await conveyor.api('/api/apps/gated', { method: 'PUT', key: 'admin', json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'GATED_SECRET' } });
  assert.equal(res.status, 201, await res.text());
  assert.match(process.env.CONVEYOR_SERVICEBUS ?? '', /UseDevelopmentEmulator=true/, 'the host handed its emulator to CONVEYOR_SERVICEBUS');
  client = new ServiceBusClient(process.env.CONVEYOR_SERVICEBUS!);
  events = client.createReceiver('conveyor-events', 'test-all', { receiveMode: 'receiveAndDelete' });
});

after(async () => {
  await events?.close();
  await client?.close();
  await conveyor?.dispose();
  await sample?.dispose();
  await entra?.close();
  rmSync(dir, { recursive: true, force: true });
});

const seen: ServiceBusReceivedMessage[] = [];
async function eventWhere(what: string, match: (e: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = seen.find((m) => match(m.body));
    if (found) return found.body;
    if (Date.now() > deadline) throw new Error(`no ${what} event; saw ${seen.map((m) => (m.body as any).type).join(', ')}`);
    seen.push(...(await events.receiveMessages(50, { maxWaitTimeInMs: 300 })));
  }
}

test('queue decisions: refused ones keep the gate closed and say why; a verified approver opens it; the run\'s events are published', async () => {
  const hook = await sample.pushWebhook({ secret: SECRET, commit: await sample.head() });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const runId = ((await res.json()) as { runId: string }).runId;
  await conveyor.waitForRun(runId, (run) => run.environments?.prod?.status === 'Pending' && run.environments.prod.approval?.waitingSince !== undefined);
  const sender = client.createSender('conveyor-approvals');

  await sender.sendMessages({ body: { runId, environment: 'prod', decision: 'approve', credential: { apiToken: 'token-mallory-00000000000004' } }, messageId: 'm-mallory' });
  const notApprover = await eventWhere('refusal of mallory', (e) => e.type === 'dev.conveyor.approval.refused' && e.data.messageId === 'm-mallory');
  assert.match(notApprover.data.reason, /^not allowed: mallory@example.com is not an approver/);
  assert.equal(notApprover.data.by, 'mallory@example.com');

  await sender.sendMessages({ body: { runId, environment: 'prod', decision: 'approve', by: 'carol@example.com' }, messageId: 'm-claimed' });
  const claimed = await eventWhere('refusal of a claimed identity', (e) => e.type === 'dev.conveyor.approval.refused' && e.data.messageId === 'm-claimed');
  assert.match(claimed.data.reason, /^unauthenticated/);
  await sender.sendMessages({ body: { runId: 'no-such-run', environment: 'prod', decision: 'approve', credential: { apiToken: 'token-carol-0000000000000003' } }, messageId: 'm-unknown' });
  await sender.sendMessages({ body: '{"runId": ', messageId: 'm-malformed' });
  // Entra ID access tokens that fail validation (the fake authority signs real tokens).
  const carol = { upn: 'carol@example.com' };
  const entraCases = {
    'm-entra-tenant': await entra.token({ tenant: '00000000-0000-0000-0000-000000000bad', audience: APP_ID, claims: carol }),
    'm-entra-audience': await entra.token({ tenant: TENANT, audience: 'api://another-api', claims: carol }),
    'm-entra-expired': await entra.token({ tenant: TENANT, audience: APP_ID, expiresIn: -3600, claims: carol }),
    'm-entra-forged': await entra.token({ tenant: TENANT, audience: APP_ID, forged: true, claims: carol }),
  };
  for (const [messageId, entraToken] of Object.entries(entraCases)) {
    await sender.sendMessages({ body: { runId, environment: 'prod', decision: 'approve', credential: { entraToken } }, messageId });
  }
  // Each refused message is on the queue's dead-letter sub-queue, with the refusal as reason and its text as description.
  const dlq = client.createReceiver('conveyor-approvals', { subQueueType: 'deadLetter' });
  const dead = new Map<string, ServiceBusReceivedMessage>();
  const deadline = Date.now() + 20_000;
  while (dead.size < 8 && Date.now() < deadline) {
    for (const m of await dlq.receiveMessages(10, { maxWaitTimeInMs: 500 })) {
      dead.set(String(m.messageId), m);
      await dlq.completeMessage(m);
    }
  }
  await dlq.close();
  const letters = Object.fromEntries([...dead].map(([id, m]) => [id, [m.deadLetterReason, m.deadLetterErrorDescription]]));
  assert.equal(letters['m-mallory']?.[0], 'not-allowed');
  assert.match(String(letters['m-mallory']?.[1]), /^not allowed: mallory@example.com is not an approver/);
  assert.equal(letters['m-claimed']?.[0], 'unauthenticated');
  assert.deepEqual(letters['m-unknown'], ['unknown-run', 'unknown run no-such-run']);
  assert.equal(letters['m-malformed']?.[0], 'malformed');
  assert.match(String(letters['m-malformed']?.[1]), /^malformed: \(body\): .*expected object/);
  assert.deepEqual(letters['m-entra-tenant'], ['unauthenticated', "unauthenticated: the Entra ID token's issuer is not the configured tenant"]);
  assert.deepEqual(letters['m-entra-audience'], ['unauthenticated', "unauthenticated: the Entra ID token's audience is not Conveyor's app id"]);
  assert.deepEqual(letters['m-entra-expired'], ['unauthenticated', 'unauthenticated: the Entra ID token has expired']);
  assert.deepEqual(letters['m-entra-forged'], ['unauthenticated', "unauthenticated: the Entra ID token's signature does not verify against the tenant's keys"]);
  const stillWaiting = (await (await conveyor.api(`/api/runs/${runId}`)).json()) as any;
  assert.equal(stillWaiting.environments.prod.status, 'Pending');
  assert.deepEqual(stillWaiting.environments.prod.approval.decisions, []);

  await sender.sendMessages({ body: { runId, environment: 'prod', decision: 'approve', comment: 'CAB-42', credential: { apiToken: 'token-carol-0000000000000003' } }, messageId: 'm-carol' });
  const done = await conveyor.waitForRun(runId, (run) => run.status === 'Succeeded' || run.status === 'Failed', 60_000);
  assert.equal(done.status, 'Succeeded');
  assert.deepEqual(done.environments.prod.approval.decisions.map((d: any) => [d.by, d.decision, d.comment]), [['carol@example.com', 'approve', 'CAB-42']]);
  await sender.close();
  const queue = client.createReceiver('conveyor-approvals');
  assert.deepEqual((await queue.peekMessages(10)).map((m) => m.messageId), [], 'the applied message was completed');
  const dlqAfter = client.createReceiver('conveyor-approvals', { subQueueType: 'deadLetter' });
  assert.deepEqual((await dlqAfter.peekMessages(10)).map((m) => m.messageId), [], 'and not dead-lettered');
  await Promise.all([queue.close(), dlqAfter.close()]);

  for (const type of ['dev.conveyor.run.running', 'dev.conveyor.environment.promoting', 'dev.conveyor.approval.requested', 'dev.conveyor.approval.decided', 'dev.conveyor.deployment.succeeded', 'dev.conveyor.environment.deployed', 'dev.conveyor.run.succeeded']) {
    const e = await eventWhere(type, (x) => x.type === type && (x.data.runId === runId || x.subject === `runs/${runId}`));
    assert.equal(e.specversion, '1.0');
    assert.equal(e.data.app, 'gated');
  }
  const decided = await eventWhere('approval decided', (e) => e.type === 'dev.conveyor.approval.decided');
  assert.equal(decided.data.outcome, 'approved');
  const ids = seen.map((m) => m.messageId);
  assert.equal(new Set(ids).size, ids.length, 'no event was delivered twice');
});
