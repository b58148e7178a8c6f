// Metrics bench: DORA metrics of an app with 10,000 ledger records (4 environments x 2,500),
// read through the metrics index, against reading every history record the naive way.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite } from '../local/storage/azurite.js';
import { DeploymentLedger, RunStore } from '../shared/ledger/index.js';
import { MetricsIndex, parseWindow } from '../shared/metrics/index.js';
import { containerClient, CONTAINERS, createJson, ensureContainer } from '../shared/storage/blob-store.js';
import { fmt, percentile, rng, type BenchRow } from './harness.js';

const RECORDS = Number(process.env.BENCH_METRICS_RECORDS ?? 10_000);
const ENVS = ['dev', 'test', 'staging', 'prod'];
const MAX_REVISION = 9_999_999_999;

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export async function run(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-metrics-'));
  const az = await startAzurite({ location: dir });
  try {
    const state = containerClient(az.connectionString, CONTAINERS.state);
    await ensureContainer(state);
    const ledger = new DeploymentLedger(state);
    const runs = new RunStore(state);
    const rand = rng(16);
    const perEnv = Math.floor(RECORDS / ENVS.length);
    const end = Date.now();
    const step = (365 * 86_400_000) / perEnv;
    // Records written straight into the ledger's layout (the bench is about reading them).
    const writes: Array<() => Promise<unknown>> = [];
    for (let i = 1; i <= perEnv; i++) {
      const commit = (i * 7919).toString(16).padStart(40, '0');
      const runId = `bench.${commit}`;
      const created = end - 365 * 86_400_000 + i * step;
      writes.push(() => createJson(state, `runs/bench/${runId}.json`, { app: 'bench', runId, status: 'Succeeded', commit, stages: {}, environments: {}, createdAt: new Date(created).toISOString(), updatedAt: new Date(created).toISOString() }));
      ENVS.forEach((env, e) => {
        const failed = rand() < 0.08;
        const finished = created + (e + 1) * 600_000 * (1 + rand());
        writes.push(() =>
          createJson(state, `ledger/bench/${env}/history/${String(MAX_REVISION - i).padStart(10, '0')}.json`, {
            app: 'bench',
            environment: env,
            revision: i,
            commit,
            digest: `sha256:${commit.padStart(64, '0')}`,
            runId,
            kind: i > 1 && rand() < 0.03 ? 'rollback' : 'deploy',
            status: failed ? 'Failed' : 'Succeeded',
            verification: [{ attempt: 1, ok: !failed }],
            startedAt: new Date(finished - 60_000).toISOString(),
            finishedAt: new Date(finished).toISOString(),
            recordedAt: new Date(finished).toISOString(),
          }),
        );
      });
    }
    await pool(writes, 32, (w) => w().then(() => undefined));
    const window = parseWindow('366d', end + 86_400_000);

    // Naive: every history record, page by page (what the index avoids).
    const naiveStart = performance.now();
    let naiveCount = 0;
    for (const env of ENVS) {
      let continuation: string | undefined;
      do {
        const page = await ledger.history('bench', env, { pageSize: 200, continuation });
        naiveCount += page.records.length;
        continuation = page.continuation;
      } while (continuation);
    }
    const naiveMs = performance.now() - naiveStart;

    const index = new MetricsIndex(state, ledger, runs);
    const buildStart = performance.now();
    for (const env of ENVS) await index.catchUp('bench', env);
    const buildMs = performance.now() - buildStart;

    const measure = async (fresh: boolean): Promise<number[]> => {
      const times: number[] = [];
      const shared = new MetricsIndex(state, ledger, runs);
      await shared.metrics('bench', ENVS, window);
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const metrics = await (fresh ? new MetricsIndex(state, ledger, runs) : shared).metrics('bench', ENVS, window);
        times.push(performance.now() - t);
        answered = metrics.reduce((n, m) => n + m.reworkRate.records, 0);
      }
      return times;
    };
    let answered = 0;
    const cold = await measure(true);
    const times = await measure(false);
    const p50 = percentile(times, 50);
    return [
      { group: 'metrics', metric: `records in the ledger (read back / in the window)`, value: `${naiveCount} / ${answered}` },
      { group: 'metrics', metric: 'naive: read every history record (ms)', value: fmt(naiveMs, 0) },
      { group: 'metrics', metric: 'index: first build from the ledger (ms, once)', value: fmt(buildMs, 0) },
      { group: 'metrics', metric: `DORA metrics of ${RECORDS} records via the index, warm process (ms, p50 of 20)`, value: fmt(p50, 1), baseline: fmt(naiveMs, 0), ratio: `${fmt(naiveMs / p50, 0)}x faster`, goal: '<= 200', met: p50 <= 200 ? 'yes' : 'no' },
      { group: 'metrics', metric: 'same, p90 (ms)', value: fmt(percentile(times, 90), 1) },
      { group: 'metrics', metric: 'a new process (index downloaded and parsed): p50 / p90 (ms)', value: `${fmt(percentile(cold, 50), 1)} / ${fmt(percentile(cold, 90), 1)}`, goal: '<= 200', met: percentile(cold, 50) <= 200 ? 'yes' : 'no' },
    ];
  } finally {
    await az.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
