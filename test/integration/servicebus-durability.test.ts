// Restart durability of the Service Bus emulator: its process (started the way the host starts
// it, local/servicebus/child.ts) is killed with SIGKILL while senders are sending; a new
// process on the same data folder must still have every message whose send was acknowledged,
// none whose completion was acknowledged, and must redeliver the ones that were locked.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { startEmulatorChild, type RunningEmulatorChild } from '../../local/servicebus/child.js';

const dir = mkdtempSync(join(tmpdir(), 'conveyor-sb-durable-'));
const config = join(dir, 'Config.json');
writeFileSync(config, JSON.stringify({ UserConfig: { Namespaces: [{ Name: 'local', Queues: [{ Name: 'durable', Properties: { LockDuration: 'PT2S' } }] }] } }));
const running = new Set<RunningEmulatorChild>();

after(async () => {
  for (const e of running) await e.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<RunningEmulatorChild> {
  const e = await startEmulatorChild({ dataDir: join(dir, 'data'), configFile: config });
  running.add(e);
  return e;
}

function processGone(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => {
      try {
        process.kill(pid, 0);
        setTimeout(poll, 20);
      } catch {
        resolve();
      }
    };
    poll();
  });
}

test('kill -9 while sending: nothing acknowledged is lost, nothing completed comes back, locked messages are redelivered', async () => {
  const first = await start();
  const client = new ServiceBusClient(first.connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 3000 } });
  const sender = client.createSender('durable');

  // Some messages sent, then a few completed and a few left locked.
  const acked = new Set<string>();
  for (let i = 0; i < 60; i++) {
    await sender.sendMessages({ body: { i }, messageId: `pre-${i}` });
    acked.add(`pre-${i}`);
  }
  const receiver = client.createReceiver('durable', { maxAutoLockRenewalDurationInMs: 0 });
  const completed = new Set<string>();
  const taken: ServiceBusReceivedMessage[] = [];
  while (taken.length < 25) taken.push(...(await receiver.receiveMessages(25 - taken.length, { maxWaitTimeInMs: 1000 })));
  for (const m of taken.slice(0, 20)) {
    await receiver.completeMessage(m);
    completed.add(String(m.messageId));
  }
  const locked = new Set(taken.slice(20).map((m) => String(m.messageId)));

  // Four senders keep sending; the emulator is killed under them.
  let stop = false;
  const loops = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const id = `w${w}-${i}`;
      try {
        await sender.sendMessages({ body: { w, i }, messageId: id });
        acked.add(id);
      } catch {
        return;
      }
    }
  });
  while (acked.size < 160) await new Promise((r) => setTimeout(r, 5));
  process.kill(first.pid, 'SIGKILL');
  await processGone(first.pid);
  stop = true;
  await Promise.all(loops);
  running.delete(first);
  await client.close().catch(() => {});

  const second = await start();
  const client2 = new ServiceBusClient(second.connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: 5000 } });
  const r2 = client2.createReceiver('durable', { maxAutoLockRenewalDurationInMs: 0 });
  const seen = new Map<string, ServiceBusReceivedMessage>();
  const expected = [...acked].filter((id) => !completed.has(id));
  const deadline = Date.now() + 15_000;
  while (expected.some((id) => !seen.has(id)) && Date.now() < deadline) {
    for (const m of await r2.receiveMessages(100, { maxWaitTimeInMs: 500 })) {
      seen.set(String(m.messageId), m);
      await r2.completeMessage(m);
    }
  }
  const missing = expected.filter((id) => !seen.has(id));
  assert.deepEqual(missing, [], `acknowledged but lost: ${missing.join(', ')}`);
  for (const id of completed) assert.ok(!seen.has(id), `completed message ${id} came back`);
  for (const id of locked) assert.equal(seen.get(id)?.deliveryCount, 1, `locked message ${id} redelivered once`);
  await client2.close();
});
