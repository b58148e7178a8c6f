// The local Service Bus emulator (its own process, as the host starts it) driven by the
// @azure/service-bus SDK from this process: single-message sends (up to SEND_WINDOW in flight,
// and never more than OUTSTANDING messages sent but not yet completed, so the queue does not
// grow without bound and the latency is the system's, not a backlog's), a peek-lock streaming
// receiver completing every message. Figures: messages/s from the first send to the last
// completion, and the send-to-completed latency p50 / p99. Goal: >= 2,000 msg/s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { startEmulatorChild } from '../local/servicebus/child.js';
import { fmt, percentile, type BenchRow } from './harness.js';

const MESSAGES = Number(process.env.BENCH_SB_MESSAGES ?? 10_000);
const SEND_WINDOW = Number(process.env.BENCH_SB_WINDOW ?? 64);
const CONCURRENT_CALLS = Number(process.env.BENCH_SB_CONCURRENCY ?? 32);
const OUTSTANDING = Number(process.env.BENCH_SB_OUTSTANDING ?? 256);

export async function run(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-sb-bench-'));
  const config = join(dir, 'Config.json');
  writeFileSync(config, JSON.stringify({ UserConfig: { Namespaces: [{ Name: 'bench', Queues: [{ Name: 'bench' }] }] } }));
  const emulator = await startEmulatorChild({ dataDir: join(dir, 'data'), configFile: config });
  const client = new ServiceBusClient(emulator.connectionString);
  try {
    const sender = client.createSender('bench');
    const receiver = client.createReceiver('bench');
    // Warm both links up (connection, $cbs, attach) outside the measurement.
    await sender.sendMessages({ body: { warm: true } });
    const [warm] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    if (warm) await receiver.completeMessage(warm);

    const sentAt = new Float64Array(MESSAGES);
    const latencies: number[] = [];
    let completed = 0;
    let failed = 0;
    const started = performance.now();
    const done = new Promise<void>((resolve, reject) => {
      receiver.subscribe(
        {
          processMessage: async (m) => {
            const i = (m.body as { i: number }).i;
            await receiver.completeMessage(m);
            latencies.push(performance.now() - sentAt[i]!);
            if (++completed === MESSAGES) resolve();
            const w = waiting;
            waiting = [];
            for (const f of w) f();
          },
          processError: async (args) => {
            failed++;
            if (failed > 10) reject(args.error);
          },
        },
        { autoCompleteMessages: false, maxConcurrentCalls: CONCURRENT_CALLS },
      );
    });
    let next = 0;
    let waiting: (() => void)[] = [];
    const room = () => next - completed < OUTSTANDING;
    await Promise.all(
      Array.from({ length: SEND_WINDOW }, async () => {
        while (next < MESSAGES) {
          while (!room()) await new Promise<void>((r) => waiting.push(r));
          if (next >= MESSAGES) break;
          const i = next++;
          sentAt[i] = performance.now();
          await sender.sendMessages({ body: { i } });
        }
      }),
    );
    await done;
    const seconds = (performance.now() - started) / 1000;
    await receiver.close();
    await sender.close();
    const rate = MESSAGES / seconds;
    return [
      { group: 'servicebus', metric: `emulator: send + peek-lock receive + complete, msg/s (${MESSAGES} msgs, ${SEND_WINDOW} sends in flight, <= ${OUTSTANDING} outstanding, ${CONCURRENT_CALLS} concurrent calls)`, value: fmt(rate, 0), goal: '>= 2000', met: rate >= 2000 ? 'yes' : 'no' },
      { group: 'servicebus', metric: 'emulator: send -> completed latency p50, ms', value: fmt(percentile(latencies, 50), 1) },
      { group: 'servicebus', metric: 'emulator: send -> completed latency p99, ms', value: fmt(percentile(latencies, 99), 1) },
    ];
  } finally {
    await client.close().catch(() => {});
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
