// Durable backend throughput/latency: (a) 500 sequential no-op activities → per-step
// overhead, (b) 1,000 five-step orchestrations → orchestrations/s, (c) fan-out of 1,000 →
// time to fan in. Each beside the same handlers called directly through the host (the floor).
// Runs the local host in-process on test/fixtures/durable-app and drives its engine directly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startHost } from '../local/host/host.js';
import { runningEngines, type DurableEngine } from '../local/durable/index.js';
import { fmt, percentile, type BenchRow } from './harness.js';

type Ticks = { __durableBenchTicks?: number[] };

async function runToEnd(engine: DurableEngine, starts: { name: string; input: unknown; id: string }[]): Promise<number> {
  const pending = new Set(starts.map((s) => s.id));
  const done = new Promise<void>((res, rej) => {
    const off = engine.onFinished((row) => {
      if (!pending.has(row.instance_id)) return;
      if (row.status !== 'Completed') rej(new Error(`${row.instance_id} ended ${row.status}: ${row.output}`));
      pending.delete(row.instance_id);
      if (pending.size === 0) {
        off();
        res();
      }
    });
  });
  const t0 = performance.now();
  await Promise.all(starts.map(async (s) => {
    const r = await engine.startNew(s.name, JSON.stringify(s.input), s.id);
    if (!r.ok) throw new Error(r.message);
  }));
  await done;
  return performance.now() - t0;
}

export async function run(): Promise<BenchRow[]> {
  const stateDir = mkdtempSync(join(tmpdir(), 'conveyor-durable-bench-'));
  const host = await startHost({ appDir: resolve('test/fixtures/durable-app'), port: 0, stateDir, startStorage: false, logLevel: 'none' as never });
  const rows: BenchRow[] = [];
  try {
    const engine = [...runningEngines.values()].at(-1)!;
    const g = globalThis as Ticks;

    // warm-up (JIT, SQLite caches)
    await runToEnd(engine, [{ name: 'sequence', input: 20, id: 'warm-seq' }, { name: 'fanOut', input: 50, id: 'warm-fan' }]);

    // (a) 500 sequential activities: per-step time from the activity's own timestamps.
    g.__durableBenchTicks = [];
    const seqMs = await runToEnd(engine, [{ name: 'sequence', input: 500, id: 'seq-500' }]);
    const ticks = g.__durableBenchTicks;
    const steps = ticks.slice(1).map((t, i) => t - ticks[i]!);
    g.__durableBenchTicks = [];
    const directSteps: number[] = [];
    let prev = performance.now();
    for (let i = 0; i < 500; i++) {
      await engine.invokeDirect('tick', undefined);
      const now = performance.now();
      directSteps.push(now - prev);
      prev = now;
    }
    const p50 = percentile(steps, 50);
    const p99 = percentile(steps, 99);
    const d50 = percentile(directSteps, 50);
    const d99 = percentile(directSteps, 99);
    rows.push({ group: 'durable', metric: '(a) 500 sequential activities: per-step p50 (ms)', value: fmt(p50 - d50, 3), baseline: fmt(d50, 3), ratio: `step ${fmt(p50, 3)} ms`, goal: 'overhead <= 2 ms', met: p50 - d50 <= 2 ? 'yes' : 'no' });
    rows.push({ group: 'durable', metric: '(a) 500 sequential activities: per-step p99 (ms)', value: fmt(p99 - d99, 3), baseline: fmt(d99, 3), ratio: `step ${fmt(p99, 3)} ms`, goal: '', met: '' });
    rows.push({ group: 'durable', metric: '(a) 500 sequential activities: total (ms)', value: fmt(seqMs, 0), baseline: fmt(directSteps.reduce((a, b) => a + b, 0), 1) });

    // (b) 1,000 orchestrations of 5 sequential activities.
    const starts = Array.from({ length: 1000 }, (_, i) => ({ name: 'sequence', input: 5, id: `five-${i}` }));
    const fiveMs = await runToEnd(engine, starts);
    const perS = 1000 / (fiveMs / 1000);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 1000 }, async () => {
      for (let s = 0; s < 5; s++) await engine.invokeDirect('tick', undefined);
    }));
    const directPerS = 1000 / ((performance.now() - t0) / 1000);
    rows.push({ group: 'durable', metric: '(b) 1,000 x 5-step orchestrations: orch/s', value: fmt(perS, 0), baseline: fmt(directPerS, 0), ratio: `${fmt(fiveMs, 0)} ms total`, goal: '>= 300/s', met: perS >= 300 ? 'yes' : 'no' });

    // (c) one fan-out of 1,000 activities.
    const fanMs = await runToEnd(engine, [{ name: 'fanOut', input: 1000, id: 'fan-1000' }]);
    const f0 = performance.now();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => engine.invokeDirect('double', i)));
    const directFan = performance.now() - f0;
    // OrchestratorStarted events = episodes (replays of the history) the fan-in needed.
    const episodes = engine.historyOf('fan-1000').filter((e) => e.EventType === 12).length;
    rows.push({ group: 'durable', metric: '(c) fan-out of 1,000: time to fan in (ms)', value: fmt(fanMs, 0), baseline: fmt(directFan, 1), ratio: `${episodes} episodes`, goal: '<= 2000 ms', met: fanMs <= 2000 ? 'yes' : 'no' });
    delete g.__durableBenchTicks;
  } finally {
    await host.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}
