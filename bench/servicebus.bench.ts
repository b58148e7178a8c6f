// The local Service Bus emulator (its own process, as the host starts it) driven by the
// @azure/service-bus SDK from this process: single-message sends (up to SEND_WINDOW in flight,
// and never more than OUTSTANDING messages sent but not yet completed, so the queue does not
// grow without bound and the latency is the system's, not a backlog's), a peek-lock streaming
// receiver completing every message. Figures: messages/s from the first send to the last
// completion, and the send-to-completed latency p50 / p99. Goal: >= 2,000 msg/s.
//
// Then Conveyor itself on the local host (in this process, with its Azurite and its emulator,
// as the e2e tests start it):
// - publishing: what `events.record` adds to an activity for one change of one event — the
//   event sent to the conveyor-events topic (duplicate detection on) and acknowledged; the
//   outbox (Azurite) is written only when the topic does not answer — against this host's
//   emulator; without Service Bus configured record() returns at once, so its duration is the
//   whole difference. Goal: <= 5 ms p50.
// - approvals: a run waiting for prod's approval, an approval message (API token) sent to the
//   conveyor-approvals queue with the SDK, until the run record shows the gate open (decision
//   recorded and the environment past its approval wait), polled every 10 ms. Goal: <= 1 s p50.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { startEmulatorChild } from '../local/servicebus/child.js';
import { readSettings } from '../shared/config/settings.js';
import { buildEvent, EventBus, EventOutbox, ServiceBusEventPublisher } from '../shared/events/index.js';
import { containerClient, CONTAINERS, ensureContainer, listAllNames } from '../shared/storage/blob-store.js';
import { processEnvironmentYaml, pushCommit, startConveyor } from '../test/e2e/conveyor-support.js';
import { createSampleService } from '../test/support/sample-service.js';
import { fmt, percentile, type BenchRow } from './harness.js';

const MESSAGES = Number(process.env.BENCH_SB_MESSAGES ?? 10_000);
const SEND_WINDOW = Number(process.env.BENCH_SB_WINDOW ?? 64);
const CONCURRENT_CALLS = Number(process.env.BENCH_SB_CONCURRENCY ?? 32);
const OUTSTANDING = Number(process.env.BENCH_SB_OUTSTANDING ?? 256);

const PUBLISHES = Number(process.env.BENCH_SB_PUBLISHES ?? 200);
const APPROVALS = Number(process.env.BENCH_SB_APPROVALS ?? 4);

export async function run(): Promise<BenchRow[]> {
  const rows = await emulatorRows();
  rows.push(...(await conveyorRows()));
  return rows;
}

async function conveyorRows(): Promise<BenchRow[]> {
  const SECRET = 'bench-approvals-secret-0001';
  const TOKEN = 'bench-token-carol-000000000001';
  const sample = await createSampleService();
  const conveyor = await startConveyor({ env: { BENCH_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify({ [TOKEN]: { id: 'carol@example.com' } }) } });
  const client = new ServiceBusClient(process.env.CONVEYOR_SERVICEBUS!);
  try {
    // Publishing: the activity's event bus against this host's Azurite and emulator.
    const settings = readSettings(process.env);
    const publisher = new ServiceBusEventPublisher(settings.serviceBus!, settings.eventsTopic);
    const state = containerClient(conveyor.host.storage!.connectionString, CONTAINERS.state);
    await ensureContainer(state);
    const bus = new EventBus({
      outbox: new EventOutbox(state, 'bench-event-outbox/'),
      publisher,
      publishTimeoutMs: 10_000,
    });
    const event = (i: number) =>
      buildEvent('dev.conveyor.environment.sync-changed', {
        source: '/apps/bench/environments/prod',
        subject: `sync/${i}`,
        time: new Date().toISOString(),
        change: `bench-${process.pid}-${i}`,
        data: { app: 'bench', environment: 'prod', to: 'in-sync', reason: 'bench', at: new Date().toISOString() },
      });
    await bus.record([event(-1)]); // connection, $cbs and link attach outside the measurement
    const publish: number[] = [];
    for (let i = 0; i < PUBLISHES; i++) {
      const e = event(i);
      const t = performance.now();
      await bus.record([e]);
      publish.push(performance.now() - t);
    }
    await publisher.close();
    // Every event went to the topic: none fell back to the outbox (that would be another figure).
    const fellBack = await listAllNames(state, 'bench-event-outbox/');
    if (fellBack.length > 0) throw new Error(`${fellBack.length} change(s) went to the outbox: the topic did not acknowledge within the timeout`);

    // Approval message -> gate open.
    const pipeline = (n: number) => `build:
  command: mkdir -p dist && cp server.js dist/ && echo ${n} > dist/n
  artifact: [dist]
environments:
${processEnvironmentYaml('prod', sample.ports.prod, '    approval: { approvers: [carol@example.com], required: 1, timeout: 1h }\n')}`;
    await sample.commitPipeline(pipeline(0));
    const res = await conveyor.api('/api/apps/bench', { method: 'PUT', key: 'admin', json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'BENCH_SECRET' } });
    if (res.status !== 201) throw new Error(`registering the bench app: ${res.status} ${await res.text()}`);
    const sender = client.createSender('conveyor-approvals');
    const gate: number[] = [];
    const runOf = async (runId: string) => (await (await conveyor.api(`/api/runs/${encodeURIComponent(runId)}`)).json()) as any;
    for (let i = 1; i <= APPROVALS; i++) {
      const runId = await pushCommit(conveyor, sample, SECRET, await sample.commitPipeline(pipeline(i), `bench ${i}`));
      await conveyor.waitForRun(runId, (r) => r.environments?.prod?.approval?.waitingSince !== undefined && r.environments.prod.status === 'Pending', 120_000);
      const t = performance.now();
      await sender.sendMessages({ body: { runId, environment: 'prod', decision: 'approve', credential: { apiToken: TOKEN } }, contentType: 'application/json' });
      for (;;) {
        const r = await runOf(runId);
        const env = r.environments?.prod;
        if (env?.approval?.decisions?.length > 0 && env.status !== 'Pending') break;
        if (performance.now() - t > 60_000) throw new Error(`the gate of ${runId} did not open within 60 s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      gate.push(performance.now() - t);
      await conveyor.waitForRun(runId, undefined, 120_000);
    }
    await sender.close();
    const p50 = percentile(publish, 50);
    const g50 = percentile(gate, 50);
    return [
      { group: 'servicebus', metric: `publishing: added to an activity per event (sent to the topic and acknowledged), p50 ms (p99 ${fmt(percentile(publish, 99), 1)}; ${PUBLISHES} changes of 1 event; 0 without Service Bus)`, value: fmt(p50, 1), goal: '<= 5', met: p50 <= 5 ? 'yes' : 'no' },
      { group: 'servicebus', metric: `approvals: message sent -> gate open, p50 ms (max ${fmt(Math.max(...gate), 0)}; ${APPROVALS} runs, polled every 10 ms)`, value: fmt(g50, 0), goal: '<= 1000', met: g50 <= 1000 ? 'yes' : 'no' },
    ];
  } finally {
    await client.close().catch(() => {});
    await conveyor.dispose();
    await sample.dispose();
  }
}

async function emulatorRows(): Promise<BenchRow[]> {
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
