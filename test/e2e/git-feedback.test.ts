// Git host feedback end to end: Conveyor on the local host (which starts its Service Bus
// emulator with the repository's topology, git-feedback subscription included), an app that
// opted into GitHub commit statuses, a push. The run's events are published to the
// conveyor-events topic, the emulator delivers the reported types to the gitFeedback
// serviceBusTopic trigger, and @octokit/rest posts them to a fake GitHub on 127.0.0.1 that
// checks each request as GitHub documents it. The commit ends with success for the run and
// for its environment, after pending, and nothing else was posted. An event the subscriber
// cannot use lands on the subscription's dead-letter queue with the reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceBusClient } from '@azure/service-bus';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { startFakeGitHub, type FakeGitHub } from '../support/fake-git-hosts/fake-github.js';
import { startConveyor, type ConveyorUnderTest } from './conveyor-support.js';

const SECRET = 'feedback-webhook-secret-1234';
const TOKEN = 'ghs_e2eFeedbackToken0000000001';

let conveyor: ConveyorUnderTest;
let sample: SampleService;
let github: FakeGitHub;
let commit: string;

before(async () => {
  sample = await createSampleService();
  commit = await sample.commitPipeline(`build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
  - name: prod
    target: { type: process, start: node dist/server.js, port: ${sample.ports.prod}, startTimeout: 10s }
    verify:
      - http: { path: /healthz, expect: 200, timeout: 2s, retries: 2, interval: 100ms }
`);
  github = await startFakeGitHub({ token: TOKEN, repos: { 'acme/shop': [commit] } });
  conveyor = await startConveyor({ env: { SHOP_SECRET: SECRET, CONVEYOR_FEEDBACK_GITHUB: TOKEN } });
  const res = await conveyor.api('/api/apps/shop', {
    method: 'PUT',
    key: 'admin',
    json: {
      repoUrl: sample.url,
      provider: 'github',
      branches: ['main'],
      webhookSecretSetting: 'SHOP_SECRET',
      feedback: { provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB', baseUrl: github.url, repository: 'acme/shop', targetUrl: 'https://conveyor.example.com/dashboard/runs/{runId}' },
    },
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await conveyor?.dispose();
  await github?.close();
  await sample?.dispose();
});

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; GitHub got ${JSON.stringify(github.statuses('acme/shop', commit))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a run is reported to GitHub as commit statuses through the events topic and the trigger', async () => {
  const hook = await sample.pushWebhook({ secret: SECRET, commit });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const { runId } = (await res.json()) as { runId: string };
  const run = await conveyor.waitForRun(runId);
  assert.equal(run.status, 'Succeeded');

  const latest = await until('both statuses to be final', () => {
    const l = github.latest('acme/shop', commit);
    return l.conveyor === 'success' && l['conveyor/prod'] === 'success' ? l : undefined;
  });
  assert.deepEqual(latest, { conveyor: 'success', 'conveyor/prod': 'success' });
  const posted = github.statuses('acme/shop', commit);
  for (const context of ['conveyor', 'conveyor/prod']) {
    const states = posted.filter((s) => s.context === context).map((s) => s.state);
    assert.ok(states.every((s) => s === 'pending' || s === 'success'), `${context}: ${states.join(', ')}`);
    assert.equal(states.at(-1), 'success');
  }
  const prod = posted.filter((s) => s.context === 'conveyor/prod').at(-1)!;
  assert.match(prod.description ?? '', /^deployed and verified \(revision \d+\)$/);
  assert.equal(prod.target_url, `https://conveyor.example.com/dashboard/runs/${encodeURIComponent(runId)}`);
  const requests = github.requests.filter((r) => r.method === 'POST');
  assert.ok(requests.every((r) => r.status === 201 && r.path === `/repos/acme/shop/statuses/${commit}` && /^(token|bearer) /i.test(String(r.headers.authorization))));
});

test('an event the subscriber cannot use is dead-lettered on the git-feedback subscription with the reason', async () => {
  const client = new ServiceBusClient(process.env.CONVEYOR_SERVICEBUS!);
  try {
    const sender = client.createSender('conveyor-events');
    await sender.sendMessages({ body: { type: 'dev.conveyor.run.running', note: 'not a CloudEvent' }, messageId: 'not-a-cloudevent', applicationProperties: { type: 'dev.conveyor.run.running' } });
    await sender.close();
    const dlq = client.createReceiver('conveyor-events', 'git-feedback', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 15_000 });
    assert.equal(dead?.messageId, 'not-a-cloudevent');
    assert.equal(dead?.deadLetterReason, 'feedback-refused');
    assert.match(String(dead?.deadLetterErrorDescription), /^not a CloudEvent: /);
    await dlq.completeMessage(dead!);
    await dlq.close();
  } finally {
    await client.close();
  }
});
