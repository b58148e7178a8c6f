// The local Service Bus emulator (local/servicebus) with the real @azure/service-bus SDK as
// the client, over AMQP on 127.0.0.1: send, receive, each settlement, renew, lock expiry,
// max delivery count, dead-letter queue, TTL, duplicate detection, scheduling, topics with
// correlation filters, batches, peek and deferral.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient, isServiceBusError, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { emulatorKey, startEmulator, type RunningEmulator } from '../../local/servicebus/emulator.js';
import { EMULATOR_KEY_NAME, PUBLIC_EMULATOR_KEY } from '../../local/servicebus/connection-string.js';
import { signSasToken } from '../../local/servicebus/sas-token.js';
import { parseTopology } from '../../local/servicebus/topology.js';

const topology = parseTopology({
  UserConfig: {
    Namespaces: [
      {
        Name: 'test',
        Queues: [
          { Name: 'work', Properties: { LockDuration: 'PT30S', MaxDeliveryCount: 5 } },
          { Name: 'short-lock', Properties: { LockDuration: 'PT1S', MaxDeliveryCount: 10 } },
          { Name: 'two-tries', Properties: { LockDuration: 'PT30S', MaxDeliveryCount: 2 } },
          { Name: 'expiring-dl', Properties: { DeadLetteringOnMessageExpiration: true } },
          { Name: 'expiring-drop', Properties: { DefaultMessageTimeToLive: 'PT0.3S' } },
          { Name: 'dedupe', Properties: { RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: 'PT1S' } },
          { Name: 'scheduled' },
          { Name: 'deferring' },
          { Name: 'stream' },
          { Name: 'batch' },
        ],
        Topics: [
          {
            Name: 'events',
            Subscriptions: [
              { Name: 'all' },
              {
                Name: 'deployed-prod',
                Rules: [{ Name: 'prod', Properties: { FilterType: 'Correlation', CorrelationFilter: { Subject: 'deployed', Properties: { environment: 'prod' } } } }],
              },
            ],
          },
        ],
      },
    ],
  },
});

let dir: string;
let emulator: RunningEmulator;
let client: ServiceBusClient;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conveyor-sb-'));
  emulator = await startEmulator({ dataDir: dir, topology, sweepMs: 25 });
  client = new ServiceBusClient(emulator.connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } });
});

after(async () => {
  await client?.close();
  await emulator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Receives until `n` messages arrived or the deadline passed. */
async function receiveN(receiver: ServiceBusReceiver, n: number, timeoutMs = 5000): Promise<ServiceBusReceivedMessage[]> {
  const out: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n && Date.now() < deadline) {
    out.push(...(await receiver.receiveMessages(n - out.length, { maxWaitTimeInMs: Math.max(50, Math.min(1000, deadline - Date.now())) })));
  }
  return out;
}

async function send(queue: string, ...messages: Parameters<ReturnType<ServiceBusClient['createSender']>['sendMessages']>[0][]): Promise<void> {
  const sender = client.createSender(queue);
  for (const m of messages) await sender.sendMessages(m);
  await sender.close();
}

describe('Service Bus emulator with the @azure/service-bus SDK', () => {
  it('connection string points at 127.0.0.1 and is marked as the development emulator', () => {
    assert.match(emulator.connectionString, /^Endpoint=sb:\/\/127\.0\.0\.1:\d+;SharedAccessKeyName=[^;]+;SharedAccessKey=[^;]+;UseDevelopmentEmulator=true$/);
  });

  it('peek-lock receive returns the body, properties and broker annotations; complete removes it', async () => {
    const before = Date.now();
    await send('work', { body: { hello: 'world' }, messageId: 'm-1', subject: 'greeting', correlationId: 'c-1', contentType: 'application/json', applicationProperties: { app: 'demo', n: 7 } });
    const receiver = client.createReceiver('work');
    const [msg] = await receiveN(receiver, 1);
    assert.ok(msg);
    assert.deepEqual(msg.body, { hello: 'world' });
    assert.equal(msg.messageId, 'm-1');
    assert.equal(msg.subject, 'greeting');
    assert.equal(msg.correlationId, 'c-1');
    assert.equal(msg.contentType, 'application/json');
    assert.deepEqual(msg.applicationProperties, { app: 'demo', n: 7 });
    assert.equal(msg.deliveryCount, 0);
    assert.ok(msg.sequenceNumber && msg.sequenceNumber.toNumber() > 0);
    assert.match(msg.lockToken ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.ok(msg.enqueuedTimeUtc!.getTime() >= before - 5 && msg.enqueuedTimeUtc!.getTime() <= Date.now());
    const lockMs = msg.lockedUntilUtc!.getTime() - msg.enqueuedTimeUtc!.getTime();
    assert.ok(lockMs > 29_000 && lockMs < 31_000, `locked for ${lockMs} ms`);
    await receiver.completeMessage(msg);
    assert.deepEqual(await receiver.peekMessages(10, { fromSequenceNumber: msg.sequenceNumber }), []);
    await receiver.close();
  });

  it('a message without an id gets one from the broker', async () => {
    await send('work', { body: 'no id' });
    const receiver = client.createReceiver('work', { receiveMode: 'receiveAndDelete' });
    const [msg] = await receiveN(receiver, 1);
    assert.equal(msg?.body, 'no id');
    assert.match(String(msg?.messageId), /^[0-9a-f]{32}$/);
    await receiver.close();
  });

  it('receive-and-delete takes the message away at once', async () => {
    await send('work', { body: 'once' });
    const receiver = client.createReceiver('work', { receiveMode: 'receiveAndDelete' });
    const [msg] = await receiveN(receiver, 1);
    assert.equal(msg?.body, 'once');
    assert.equal(msg?.lockToken, undefined);
    assert.deepEqual(await receiveN(receiver, 1, 300), []);
    await receiver.close();
  });

  it('abandon makes the message available again with the delivery count raised and properties modified', async () => {
    await send('work', { body: 'retry me', messageId: 'ab-1' });
    const receiver = client.createReceiver('work');
    const [first] = await receiveN(receiver, 1);
    assert.equal(first?.deliveryCount, 0);
    await receiver.abandonMessage(first!, { attempt: 'one' });
    const [second] = await receiveN(receiver, 1);
    assert.equal(second?.messageId, 'ab-1');
    assert.equal(second?.deliveryCount, 1);
    assert.equal(second?.applicationProperties?.attempt, 'one');
    assert.equal(second?.sequenceNumber?.toString(), first?.sequenceNumber?.toString());
    await receiver.completeMessage(second!);
    await receiver.close();
  });

  it('dead-letter with reason and description; the dead-letter queue serves it', async () => {
    await send('work', { body: 'poison', messageId: 'dl-1' });
    const receiver = client.createReceiver('work');
    const [msg] = await receiveN(receiver, 1);
    await receiver.deadLetterMessage(msg!, { deadLetterReason: 'Unparseable', deadLetterErrorDescription: 'field x missing' });
    assert.deepEqual(await receiveN(receiver, 1, 300), []);
    const dlq = client.createReceiver('work', { subQueueType: 'deadLetter' });
    const [dead] = await receiveN(dlq, 1);
    assert.equal(dead?.messageId, 'dl-1');
    assert.equal(dead?.body, 'poison');
    assert.equal(dead?.deadLetterReason, 'Unparseable');
    assert.equal(dead?.deadLetterErrorDescription, 'field x missing');
    assert.equal(dead?.deadLetterSource, 'work');
    await dlq.completeMessage(dead!);
    assert.deepEqual(await dlq.peekMessages(10), []);
    await dlq.close();
    await receiver.close();
  });

  it('past the max delivery count a message goes to the dead-letter queue', async () => {
    await send('two-tries', { body: 'fails twice', messageId: 'mdc-1' });
    const receiver = client.createReceiver('two-tries');
    for (let i = 0; i < 2; i++) {
      const [m] = await receiveN(receiver, 1);
      assert.equal(m?.deliveryCount, i);
      await receiver.abandonMessage(m!);
    }
    assert.deepEqual(await receiveN(receiver, 1, 300), []);
    const dlq = client.createReceiver('two-tries', { subQueueType: 'deadLetter' });
    const [dead] = await receiveN(dlq, 1);
    assert.equal(dead?.messageId, 'mdc-1');
    assert.equal(dead?.deadLetterReason, 'MaxDeliveryCountExceeded');
    assert.match(dead?.deadLetterErrorDescription ?? '', /2 delivery attempts/);
    await dlq.close();
    await receiver.close();
  });

  it('an expired lock makes the message available again, and settling with the old lock fails', async () => {
    await send('short-lock', { body: 'slow consumer', messageId: 'lk-1' });
    const receiver = client.createReceiver('short-lock', { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await receiveN(receiver, 1);
    assert.equal(first?.deliveryCount, 0);
    const [second] = await receiveN(receiver, 1, 5000);
    assert.equal(second?.messageId, 'lk-1');
    assert.equal(second?.deliveryCount, 1);
    assert.ok(second!.enqueuedTimeUtc!.getTime() === first!.enqueuedTimeUtc!.getTime());
    await assert.rejects(receiver.completeMessage(first!), (err: unknown) => isServiceBusError(err) && err.code === 'MessageLockLost');
    await receiver.completeMessage(second!);
    await receiver.close();
  });

  it('renewing the lock keeps the message from being redelivered', async () => {
    await send('short-lock', { body: 'renewed', messageId: 'rn-1' });
    const receiver = client.createReceiver('short-lock', { maxAutoLockRenewalDurationInMs: 0 });
    const [msg] = await receiveN(receiver, 1);
    const firstUntil = msg!.lockedUntilUtc!.getTime();
    const other = client.createReceiver('short-lock', { maxAutoLockRenewalDurationInMs: 0 });
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 400));
      const until = await receiver.renewMessageLock(msg!);
      assert.ok(until.getTime() > firstUntil);
    }
    // 1.6 s after the first lock (1 s) would have run out, nobody else got it.
    assert.deepEqual(await receiveN(other, 1, 200), []);
    await receiver.completeMessage(msg!);
    await other.close();
    await receiver.close();
  });

  it('defer: only receive-by-sequence-number gets the message; peek shows it deferred', async () => {
    await send('deferring', { body: 'later please', messageId: 'df-1' });
    const receiver = client.createReceiver('deferring');
    const [msg] = await receiveN(receiver, 1);
    await receiver.deferMessage(msg!);
    assert.deepEqual(await receiveN(receiver, 1, 300), []);
    const [peeked] = await receiver.peekMessages(1, { fromSequenceNumber: msg!.sequenceNumber });
    assert.equal(peeked?.state, 'deferred');
    const [again] = await receiver.receiveDeferredMessages(msg!.sequenceNumber!);
    assert.equal(again?.messageId, 'df-1');
    assert.equal(again?.deliveryCount, 1);
    await receiver.completeMessage(again!);
    await assert.rejects(receiver.receiveDeferredMessages(msg!.sequenceNumber!), (err: unknown) => isServiceBusError(err) && err.code === 'MessageNotFound');
    await receiver.close();
  });

  it('message time to live: expired messages are dead-lettered where configured, dropped elsewhere', async () => {
    await send('expiring-dl', { body: 'stale', messageId: 'ttl-1', timeToLive: 200 });
    await send('expiring-drop', { body: 'gone' });
    await new Promise((r) => setTimeout(r, 500));
    const receiver = client.createReceiver('expiring-dl');
    assert.deepEqual(await receiveN(receiver, 1, 300), []);
    const dlq = client.createReceiver('expiring-dl', { subQueueType: 'deadLetter' });
    const [dead] = await receiveN(dlq, 1);
    assert.equal(dead?.messageId, 'ttl-1');
    assert.equal(dead?.deadLetterReason, 'TTLExpiredException');
    const dropped = client.createReceiver('expiring-drop');
    assert.deepEqual(await receiveN(dropped, 1, 300), []);
    assert.deepEqual(await client.createReceiver('expiring-drop', { subQueueType: 'deadLetter' }).peekMessages(5), []);
    for (const r of [receiver, dlq, dropped]) await r.close();
  });

  it('duplicate detection drops a repeated message id within the window, not after it', async () => {
    await send('dedupe', { body: 'first', messageId: 'dup-1' }, { body: 'second', messageId: 'dup-1' }, { body: 'other', messageId: 'dup-2' });
    const receiver = client.createReceiver('dedupe', { receiveMode: 'receiveAndDelete' });
    const got = await receiveN(receiver, 3, 800);
    assert.deepEqual(got.map((m) => m.body).sort(), ['first', 'other']);
    await new Promise((r) => setTimeout(r, 1200));
    await send('dedupe', { body: 'third', messageId: 'dup-1' });
    const [later] = await receiveN(receiver, 1);
    assert.equal(later?.body, 'third');
    await receiver.close();
  });

  it('scheduled messages appear at their time; a cancelled one never does', async () => {
    const sender = client.createSender('scheduled');
    const at = new Date(Date.now() + 1500);
    const [keep] = await sender.scheduleMessages({ body: 'on time', messageId: 'sc-1' }, at);
    const [drop] = await sender.scheduleMessages({ body: 'cancelled', messageId: 'sc-2' }, at);
    await sender.sendMessages({ body: 'via annotation', messageId: 'sc-3', scheduledEnqueueTimeUtc: at });
    await sender.cancelScheduledMessages(drop!);
    const receiver = client.createReceiver('scheduled');
    const peeked = await receiver.peekMessages(10);
    assert.deepEqual(peeked.map((m) => [m.messageId, m.state]).sort(), [['sc-1', 'scheduled'], ['sc-3', 'scheduled']]);
    const got: { m: ServiceBusReceivedMessage; at: number }[] = [];
    const deadline = Date.now() + 6000;
    while (got.length < 2 && Date.now() < deadline) {
      for (const m of await receiver.receiveMessages(2, { maxWaitTimeInMs: 200 })) got.push({ m, at: Date.now() });
    }
    assert.deepEqual(got.map((g) => g.m.messageId).sort(), ['sc-1', 'sc-3']);
    for (const g of got) assert.ok(g.at >= at.getTime(), `received ${at.getTime() - g.at} ms early`);
    assert.equal(got.find((g) => g.m.messageId === 'sc-1')?.m.sequenceNumber?.toString(), keep!.toString());
    for (const g of got) assert.ok(g.m.enqueuedTimeUtc!.getTime() >= at.getTime() - 5);
    for (const g of got) await receiver.completeMessage(g.m);
    assert.deepEqual(await receiveN(receiver, 1, 300), []);
    await receiver.close();
    await sender.close();
  });

  it('topics fan out to subscriptions whose rules match (correlation filter on subject and properties)', async () => {
    const sender = client.createSender('events');
    await sender.sendMessages([
      { body: 'dev deployed', subject: 'deployed', applicationProperties: { environment: 'dev' } },
      { body: 'prod deployed', subject: 'deployed', applicationProperties: { environment: 'prod' } },
      { body: 'prod failed', subject: 'failed', applicationProperties: { environment: 'prod' } },
    ]);
    const all = client.createReceiver('events', 'all', { receiveMode: 'receiveAndDelete' });
    const prod = client.createReceiver('events', 'deployed-prod', { receiveMode: 'receiveAndDelete' });
    assert.deepEqual((await receiveN(all, 3)).map((m) => m.body).sort(), ['dev deployed', 'prod deployed', 'prod failed']);
    assert.deepEqual((await receiveN(prod, 3, 800)).map((m) => m.body), ['prod deployed']);
    await all.close();
    await prod.close();
    await sender.close();
  });

  it('message batches are unpacked into separate messages', async () => {
    const sender = client.createSender('batch');
    const batch = await sender.createMessageBatch();
    for (let i = 0; i < 25; i++) assert.ok(batch.tryAddMessage({ body: { i }, messageId: `b-${i}` }));
    await sender.sendMessages(batch);
    const receiver = client.createReceiver('batch', { receiveMode: 'receiveAndDelete' });
    const got = await receiveN(receiver, 25);
    assert.deepEqual(got.map((m) => (m.body as { i: number }).i), Array.from({ length: 25 }, (_, i) => i));
    await receiver.close();
    await sender.close();
  });

  it('a streaming subscriber receives, completes and keeps up with a few hundred messages', async () => {
    const sender = client.createSender('stream');
    const n = 300;
    for (let i = 0; i < n; i += 50) await sender.sendMessages(Array.from({ length: 50 }, (_, j) => ({ body: i + j })));
    const receiver = client.createReceiver('stream');
    const seen = new Set<number>();
    await new Promise<void>((resolve, reject) => {
      receiver.subscribe(
        {
          processMessage: async (m) => {
            seen.add(m.body as number);
            if (seen.size === n) resolve();
          },
          processError: async (args) => reject(args.error),
        },
        { maxConcurrentCalls: 16 },
      );
    });
    await receiver.close();
    assert.equal(seen.size, n);
    const check = client.createReceiver('stream');
    assert.deepEqual(await check.peekMessages(5), []);
    await check.close();
    await sender.close();
  });

  it('a message above 256 KB is refused', async () => {
    const sender = client.createSender('work');
    await assert.rejects(sender.sendMessages({ body: Buffer.alloc(300 * 1024, 1) }), (err: unknown) => isServiceBusError(err) && err.code === 'MessageSizeExceeded');
    await sender.close();
  });

  it('unknown entities are refused with MessagingEntityNotFound', async () => {
    const sender = client.createSender('nope');
    await assert.rejects(sender.sendMessages({ body: 1 }), (err: unknown) => isServiceBusError(err) && err.code === 'MessagingEntityNotFound');
    await sender.close();
    const receiver = client.createReceiver('nope');
    await assert.rejects(receiver.receiveMessages(1, { maxWaitTimeInMs: 500 }), (err: unknown) => isServiceBusError(err) && err.code === 'MessagingEntityNotFound');
    await receiver.close();
  });
});

describe('Service Bus emulator credentials', () => {
  const trying = async (connectionString: string, queue: string) => {
    const c = new ServiceBusClient(connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } });
    try {
      const sender = c.createSender(queue);
      await sender.sendMessages({ body: 'probe' });
      return 'sent';
    } catch (err) {
      return isServiceBusError(err) ? err.code : String(err);
    } finally {
      await c.close();
    }
  };
  const endpoint = () => `sb://127.0.0.1:${emulator.port}`;

  it('takes only tokens signed with its private key (per data folder, owner-only): the public emulator key and a made-up one are refused', async () => {
    const key = emulatorKey(dir);
    assert.notEqual(key, PUBLIC_EMULATOR_KEY);
    assert.equal(statSync(join(dir, '.sas-key')).mode & 0o777, 0o600);
    assert.ok(emulator.connectionString.includes(key));
    assert.equal(await trying(`Endpoint=${endpoint()};SharedAccessKeyName=${EMULATOR_KEY_NAME};SharedAccessKey=${PUBLIC_EMULATOR_KEY};UseDevelopmentEmulator=true`, 'batch'), 'UnauthorizedAccess');
    assert.equal(await trying(`Endpoint=${endpoint()};SharedAccessKeyName=${EMULATOR_KEY_NAME};SharedAccessKey=${key.slice(1)}x;UseDevelopmentEmulator=true`, 'batch'), 'UnauthorizedAccess');
    assert.equal(await trying(`Endpoint=${endpoint()};SharedAccessKeyName=other;SharedAccessKey=${key};UseDevelopmentEmulator=true`, 'batch'), 'UnauthorizedAccess');
    assert.equal(await trying(emulator.connectionString, 'batch'), 'sent');
    const drained = client.createReceiver('batch', { receiveMode: 'receiveAndDelete' });
    await receiveN(drained, 1, 2000);
    await drained.close();
  });

  it('a signature grants the entity it names until it expires, nothing else', async () => {
    const key = emulatorKey(dir);
    const now = Math.floor(Date.now() / 1000);
    const sas = (resource: string, expiry: number) => `Endpoint=${endpoint()};SharedAccessSignature=${signSasToken(resource, EMULATOR_KEY_NAME, key, expiry)};UseDevelopmentEmulator=true`;
    assert.equal(await trying(sas(`${endpoint()}/stream`, now + 600), 'stream'), 'sent');
    assert.equal(await trying(sas(`${endpoint()}/stream`, now + 600), 'batch'), 'UnauthorizedAccess');
    assert.equal(await trying(sas(`${endpoint()}/stream`, now - 5), 'stream'), 'UnauthorizedAccess');
    const drained = client.createReceiver('stream', { receiveMode: 'receiveAndDelete' });
    await receiveN(drained, 1, 2000);
    await drained.close();
  });
});
