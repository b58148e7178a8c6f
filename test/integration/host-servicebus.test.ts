// The local host runs an app's Service Bus triggers (test/fixtures/servicebus-app) on the
// local emulator it starts: peek-lock, complete on success, abandon on failure, dead-letter
// past maxDeliveryCount, trigger metadata, topic subscriptions, batches, the placeholder
// setting handed over before the app loads, and SDK-bound triggers (sdkBinding) that settle
// their messages through the host's Settlement gRPC service. The test talks to the queues with the real SDK.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceBusClient } from '@azure/service-bus';
import { startHost, type RunningHost } from '../../local/host/host.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const appDir = join(root, 'test', 'fixtures', 'servicebus-app');

interface Call {
  fn: string;
  message: any;
  meta: Record<string, any>;
}
const fixture = () => (globalThis as unknown as { sbFixture: { calls: Call[]; publishSettingAtLoad?: string } }).sbFixture;

let stateDir: string;
let host: RunningHost;
let client: ServiceBusClient;
const saved = { SB: process.env.SB, SB_PUBLISH: process.env.SB_PUBLISH };

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  delete process.env.SB;
  delete process.env.SB_PUBLISH;
  stateDir = mkdtempSync(join(tmpdir(), 'conveyor-host-sb-'));
  host = await startHost({ appDir, port: 0, stateDir, startStorage: false, logWrite: process.env.SB_TEST_LOG ? (l: string) => process.stderr.write(l) : () => {} });
  client = new ServiceBusClient(process.env.SB!);
});

after(async () => {
  await client?.close();
  await host?.stop();
  rmSync(stateDir, { recursive: true, force: true });
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('local host: Service Bus triggers on the local emulator', () => {
  it('starts the emulator, hands its connection string to the trigger connection and to placeholder settings before the app loads', () => {
    assert.match(process.env.SB ?? '', /^Endpoint=sb:\/\/127\.0\.0\.1:\d+;.*UseDevelopmentEmulator=true$/);
    assert.equal(process.env.SB_PUBLISH, process.env.SB);
    assert.equal(fixture().publishSettingAtLoad, process.env.SB);
    const listed = host.functions.filter((f) => f.triggerType === 'serviceBusTrigger').map((f) => [f.name, f.detail, f.unsupported]);
    assert.deepEqual(listed.sort(), [['audit', 'serviceBus', undefined], ['bulk', 'serviceBus', undefined], ['settle', 'serviceBus', undefined], ['work', 'serviceBus', undefined]]);
  });

  it('a successful invocation gets the body and metadata, and completes the message', async () => {
    const sender = client.createSender('work');
    await sender.sendMessages({ body: { action: 'ok', n: 1 }, messageId: 'ok-1', subject: 'job', correlationId: 'corr-1', applicationProperties: { app: 'demo', attempt: 1 } });
    const call = await until('the work function to run', () => fixture().calls.find((c) => c.meta.messageId === 'ok-1'));
    assert.deepEqual(call.message, { action: 'ok', n: 1 });
    assert.equal(call.meta.deliveryCount, 1);
    assert.equal(call.meta.subject, 'job');
    assert.equal(call.meta.correlationId, 'corr-1');
    assert.deepEqual(call.meta.applicationProperties, { app: 'demo', attempt: 1 });
    assert.match(call.meta.enqueuedTimeUtc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(typeof call.meta.sequenceNumber, 'number');
    assert.match(call.meta.lockToken, /^[0-9a-f-]{36}$/);
    // Completion follows the invocation: the message leaves the queue.
    const deadline = Date.now() + 5000;
    let left: string[] = ['ok-1'];
    while (left.includes('ok-1') && Date.now() < deadline) {
      const peeker = client.createReceiver('work');
      left = (await peeker.peekMessages(50)).map((m) => String(m.messageId));
      await peeker.close();
    }
    assert.ok(!left.includes('ok-1'), 'the completed message left the queue');
    await sender.close();
  });

  it('a failing invocation abandons the message; past maxDeliveryCount (3) it is dead-lettered', async () => {
    const sender = client.createSender('work');
    await sender.sendMessages({ body: { action: 'fail' }, messageId: 'fail-1' });
    const dlq = client.createReceiver('work', { subQueueType: 'deadLetter' });
    const dead = await (async () => {
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const [m] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 500 });
        if (m) return m;
      }
      return undefined;
    })();
    assert.equal(dead?.messageId, 'fail-1');
    assert.equal(dead?.deadLetterReason, 'MaxDeliveryCountExceeded');
    const attempts = fixture().calls.filter((c) => c.meta.messageId === 'fail-1').map((c) => c.meta.deliveryCount);
    assert.deepEqual(attempts, [1, 2, 3]);
    await dlq.completeMessage(dead!);
    await dlq.close();
    await sender.close();
  });

  it('a topic subscription trigger gets only what its rule lets through', async () => {
    const sender = client.createSender('events');
    await sender.sendMessages([
      { body: 'skipped', subject: 'started', messageId: 'ev-1' },
      { body: 'audited', subject: 'deployed', messageId: 'ev-2' },
    ]);
    const call = await until('the audit function to run', () => fixture().calls.find((c) => c.fn === 'audit'));
    assert.equal(call.message, 'audited');
    assert.equal(call.meta.messageId, 'ev-2');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(fixture().calls.filter((c) => c.fn === 'audit').map((c) => c.meta.messageId), ['ev-2']);
    await sender.close();
  });

  it("cardinality 'many' delivers arrays of bodies with metadata arrays", async () => {
    const sender = client.createSender('bulk');
    await sender.sendMessages(Array.from({ length: 5 }, (_, i) => ({ body: { i }, messageId: `bulk-${i}` })));
    await until('all five bulk messages', () => fixture().calls.filter((c) => c.fn === 'bulk').flatMap((c) => c.message).length >= 5);
    const calls = fixture().calls.filter((c) => c.fn === 'bulk');
    assert.deepEqual(calls.flatMap((c) => c.message.map((m: { i: number }) => m.i)).sort(), [0, 1, 2, 3, 4]);
    for (const c of calls) {
      assert.equal(c.meta.messageIdArray.length, c.message.length);
      assert.deepEqual(c.meta.deliveryCountArray, c.message.map(() => 1));
    }
    await sender.close();
  });

  it('an SDK-bound trigger gets the message and settles it over gRPC: dead-letter with reason and description, complete, renew', async () => {
    const args = process.argv.slice(2).join(' ');
    assert.match(args, /--host 127\.0\.0\.1 --port \d+ --functions-grpc-max-message-length \d+/, 'the worker arguments point at the Settlement service');
    const sender = client.createSender('settle');
    await sender.sendMessages([
      { body: { action: 'deadletter' }, messageId: 'sdk-dead', subject: 'refuse', applicationProperties: { kind: 'test' } },
      { body: { action: 'complete' }, messageId: 'sdk-ok', contentType: 'application/json' },
      { body: { action: 'renew' }, messageId: 'sdk-renew' },
    ]);
    const dlq = client.createReceiver('settle', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    assert.equal(dead?.messageId, 'sdk-dead');
    assert.equal(dead?.deadLetterReason, 'bad-input');
    assert.equal(dead?.deadLetterErrorDescription, 'cannot use sdk-dead');
    await dlq.completeMessage(dead!);
    await dlq.close();
    const call = await until('the settle function to see sdk-dead', () => fixture().calls.find((c) => c.fn === 'settle' && c.message.messageId === 'sdk-dead'));
    assert.deepEqual(call.message.body, { action: 'deadletter' });
    assert.equal(call.message.subject, 'refuse');
    assert.deepEqual(call.message.applicationProperties, { kind: 'test' });
    assert.equal(call.message.lockToken, call.meta.lockToken, 'the SDK message carries the lock token the host holds');
    await until('sdk-ok and sdk-renew to run', () => ['sdk-ok', 'sdk-renew'].every((id) => fixture().calls.some((c) => c.fn === 'settle' && c.message.messageId === id)));
    const peeker = client.createReceiver('settle');
    const deadline = Date.now() + 5000;
    let left = ['x'];
    while (left.length > 0 && Date.now() < deadline) left = (await peeker.peekMessages(10)).map((m) => String(m.messageId));
    assert.deepEqual(left, [], 'completed messages left the queue');
    await peeker.close();
    await sender.close();
  });

  it('the Settlement service settles only messages a trigger is processing: any other lock token is NOT_FOUND', async () => {
    const port = Number(/--port (\d+)/.exec(process.argv.slice(2).join(' '))![1]);
    const req = createRequire(join(root, 'package.json'));
    const grpc = req('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
    const loader = req('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
    const proto = join(dirname(req.resolve('@azure/functions-extensions-servicebus/package.json')), 'dist', 'proto', 'settlement.proto');
    const Settlement = (grpc.loadPackageDefinition(loader.loadSync(proto)) as any).Settlement;
    const stub = new Settlement(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const code = await new Promise<number>((resolve) => stub.complete({ locktoken: randomUUID() }, (err: { code: number } | null) => resolve(err ? err.code : 0)));
    stub.close();
    assert.equal(code, grpc.status.NOT_FOUND);
  });

  it('an SDK-bound trigger that throws has its unsettled message abandoned and redelivered', async () => {
    const sender = client.createSender('settle');
    await sender.sendMessages({ body: { action: 'transient' }, messageId: 'sdk-transient' });
    await until('the second delivery', () => fixture().calls.filter((c) => c.fn === 'settle' && c.message.messageId === 'sdk-transient').length >= 2);
    const deliveries = fixture().calls.filter((c) => c.fn === 'settle' && c.message.messageId === 'sdk-transient').map((c) => c.meta.deliveryCount);
    assert.deepEqual(deliveries, [1, 2]);
    const peeker = client.createReceiver('settle');
    const deadline = Date.now() + 5000;
    let left = ['x'];
    while (left.length > 0 && Date.now() < deadline) left = (await peeker.peekMessages(10)).map((m) => String(m.messageId));
    assert.deepEqual(left, [], 'the redelivered message was completed');
    await peeker.close();
    await sender.close();
  });
});
