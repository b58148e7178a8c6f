// Soak: Conveyor on the local host CLI (a child process with its own Azurite) runs pipelines
// back to back for several minutes: each of N apps pushes a new commit as soon as its
// previous run finished (dev -> prod on the process target). Reports throughput, push->prod
// latency (webhook sent -> prod verified and recorded), and the host process's memory and
// open file descriptors over the run.
//
// Memory is read inside the host by bench/soak-probe.ts (loaded with --import): every
// CONVEYOR_SOAK_PROBE_MS (default 5 s) it forces a full GC and records the heap left, RSS, the
// open fds by kind and the active handles by type. A leak is what keeps growing in the second
// half of the run (least-squares slope, also per pipeline); growth that levels off (V8 heap
// sizing, compiled code, capped caches, allocator slack) shows a flat second half.
//
//   npx tsc -p tsconfig.json && node dist/bench/index.js soak
//   CONVEYOR_SOAK_SECONDS=600 CONVEYOR_SOAK_APPS=6 node dist/bench/index.js soak
//   CONVEYOR_SOAK_HEAP=1 ...: also heap snapshots of the host at start and end, growth per
//   constructor (a snapshot itself leaves ~250 MiB of RSS behind, so the RSS figures then
//   start after it); CONVEYOR_SOAK_KEEP=DIR keeps the snapshots and the probe series there.
// The reconcile timer runs every CONVEYOR_SOAK_RECONCILE (default 0 * * * * *).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProbeSample } from './soak-probe.js';
import { fmt, percentile, type BenchRow } from './harness.js';
import { growth, summarise, survivors, takeSnapshot } from './heap-snapshot.js';
import { createSampleService, findFreePorts, type SampleService } from '../test/support/sample-service.js';
import { FINAL_RUN_STATUSES, spawnConveyorHost, stopAllEnvironments, twoEnvPipeline, type ChildHost } from '../test/support/reliability-host.js';

const SECRET = 'soak-webhook-secret-0123456789';
const MiB = 2 ** 20;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

function readProbe(file: string): ProbeSample[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ProbeSample);
}

const totalFds = (s: ProbeSample) => Object.values(s.fds).reduce((a, b) => a + b, 0);

/** `a -> b` for every key whose count differs between two count maps. */
function countChanges(a: Record<string, number>, b: Record<string, number>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const changed = keys.filter((k) => (a[k] ?? 0) !== (b[k] ?? 0)).map((k) => `${k} ${a[k] ?? 0}->${b[k] ?? 0}`);
  return changed.length ? changed.join(', ') : 'none';
}

async function pushAndWait(host: ChildHost, sample: SampleService, commit: string): Promise<{ status: string; pushToProdMs?: number; totalMs: number }> {
  const hook = await sample.pushWebhook({ secret: SECRET, commit });
  const sent = Date.now();
  const res = await fetch(`${host.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const ack = (await res.json()) as { runId?: string; status?: string };
  // 200 duplicate: the reconcile timer saw the new head first and started the run itself.
  if (!((res.status === 202 || (res.status === 200 && ack.status === 'duplicate')) && ack.runId)) throw new Error(`webhook answered ${res.status}: ${JSON.stringify(ack)}`);
  const run = await host.waitForRun(ack.runId, (r) => FINAL_RUN_STATUSES.includes(r.status), 300_000);
  const prodDone = Date.parse(run.environments?.prod?.finishedAt ?? '');
  return { status: run.status, totalMs: Date.now() - sent, ...(run.status === 'Succeeded' && Number.isFinite(prodDone) ? { pushToProdMs: prodDone - sent } : {}) };
}

/** Waits until the probe has written a sample taken after `since`. */
async function probeAfter(file: string, since: number, timeoutMs = 30_000): Promise<ProbeSample | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const last = readProbe(file).at(-1);
    if (last && last.t > since) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

export async function run(): Promise<BenchRow[]> {
  const seconds = Number(process.env.CONVEYOR_SOAK_SECONDS ?? 180);
  const appCount = Number(process.env.CONVEYOR_SOAK_APPS ?? 6);
  const keep = process.env.CONVEYOR_SOAK_KEEP;
  const root = mkdtempSync(join(tmpdir(), 'conveyor-soak-'));
  const probeFile = join(root, 'probe.jsonl');
  const probe = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'soak-probe.js')).href;
  const samples: SampleService[] = [];
  let host: ChildHost | undefined;
  const snapshots: string[] = [];
  try {
    const ports = await findFreePorts(appCount * 2);
    for (let i = 0; i < appCount; i++) {
      samples.push(await createSampleService({ pipelineYaml: twoEnvPipeline({ ports: { dev: ports[2 * i]!, prod: ports[2 * i + 1]! } }) }));
    }
    const heap = process.env.CONVEYOR_SOAK_HEAP === '1';
    host = await spawnConveyorHost({
      root,
      env: {
        SOAK_SECRET: SECRET,
        CONVEYOR_LOG_LEVEL: 'warn',
        CONVEYOR_RECONCILE_SCHEDULE: process.env.CONVEYOR_SOAK_RECONCILE ?? '0 * * * * *',
        CONVEYOR_SOAK_PROBE_FILE: probeFile,
        ...(process.env.CONVEYOR_SOAK_PROBE_MS ? { CONVEYOR_SOAK_PROBE_MS: process.env.CONVEYOR_SOAK_PROBE_MS } : {}),
        NODE_OPTIONS: [`--import=${probe}`, ...(heap ? ['--heapsnapshot-signal=SIGUSR2'] : [])].join(' '),
      },
    });
    const h = host;
    for (const [i, s] of samples.entries()) {
      const res = await h.api(`/api/apps/soak-${i}`, {
        method: 'PUT',
        key: 'admin',
        json: { repoUrl: s.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'SOAK_SECRET' },
      });
      if (res.status !== 201) throw new Error(`register soak-${i}: ${res.status} ${await res.text()}`);
    }
    // Warm-up: one run per app (first clone, first process start), not measured.
    await Promise.all(samples.map((s) => s.head().then((c) => pushAndWait(h, s, c))));
    if (heap) snapshots.push(await takeSnapshot(h.pid, root));
    const azuriteStart = h.azurite ? rssMiB(h.azurite.pid) : NaN;

    const latencies: number[] = [];
    const statuses = new Map<string, number>();
    const started = Date.now();
    const first = await probeAfter(probeFile, started);
    if (!first) throw new Error('the soak probe wrote nothing (is --import allowed in NODE_OPTIONS?)');
    const until = started + seconds * 1000;
    let n = 0;
    await Promise.all(
      samples.map(async (s) => {
        while (Date.now() < until) {
          const commit = await s.commitChange(`soak ${++n}`);
          const r = await pushAndWait(h, s, commit);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.pushToProdMs !== undefined) latencies.push(r.pushToProdMs);
        }
      }),
    );
    const ended = Date.now();
    const elapsedMin = (ended - started) / 60_000;
    // Let timers and sockets settle, then one more sample after a GC.
    await new Promise((r) => setTimeout(r, 2000));
    const last = (await probeAfter(probeFile, Date.now())) ?? readProbe(probeFile).at(-1)!;
    const azuriteEnd = h.azurite ? rssMiB(h.azurite.pid) : NaN;
    const series = readProbe(probeFile).filter((p) => p.t >= first.t && p.t <= last.t);
    const mid = started + (ended - started) / 2;
    // Least-squares slope per minute over one half of the soak: a leak keeps its slope, a plateau's falls to ~0.
    const perMin = (f: (p: ProbeSample) => number, half: 1 | 2) =>
      slope(series.filter((p) => (half === 1 ? p.t < mid : p.t >= mid && p.t <= ended)).map((p) => ({ x: (p.t - started) / 60_000, y: f(p) })));
    const halves = (f: (p: ProbeSample) => number, scale: number, digits: number) => `${fmt(perMin(f, 1) * scale, digits)} / ${fmt(perMin(f, 2) * scale, digits)}`;
    const peak = (f: (p: ProbeSample) => number) => Math.max(...series.map(f));
    const startEnd = (f: (p: ProbeSample) => number, digits = 1) => `${fmt(f(first) / MiB, digits)} / ${fmt(f(last) / MiB, digits)}`;

    const heapRows: BenchRow[] = [];
    if (heap) {
      snapshots.push(await takeSnapshot(h.pid, root));
      const a = summarise(snapshots[0]!);
      const b = summarise(snapshots[1]!);
      heapRows.push({ group: 'soak', metric: 'heap snapshot (self sizes) start / end (MiB)', value: `${fmt(a.totalBytes / MiB, 1)} / ${fmt(b.totalBytes / MiB, 1)}` });
      for (const g of growth(a, b, 6)) heapRows.push({ group: 'soak', metric: `  grew: ${g.name.slice(0, 60)}`, value: `${g.count >= 0 ? '+' : ''}${g.count} objects, ${fmt(g.bytes / 1024, 0)} KiB` });
      // What was allocated during the soak and is still reachable at its end (code excluded), with what holds it.
      const alive = survivors(snapshots[0]!, snapshots[1]!, 8);
      heapRows.push({ group: 'soak', metric: 'allocated during the soak and still reachable', value: `${alive.count} objects, ${fmt(alive.bytes / 1024, 0)} KiB` });
      for (const x of alive.groups) heapRows.push({ group: 'soak', metric: `  alive: ${x.name.slice(0, 50)} (${x.count}, ${fmt(x.bytes / 1024, 0)} KiB)`, value: x.path.slice(0, 400) });
    }
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const ok = statuses.get('Succeeded') ?? 0;
    const g = 'soak';
    return [
      { group: g, metric: `pipelines finished (${appCount} apps, ${fmt(elapsedMin, 1)} min)`, value: String(total) },
      { group: g, metric: 'outcomes', value: [...statuses].map(([k, v]) => `${k} ${v}`).join(', '), goal: 'all Succeeded', met: ok === total ? 'yes' : 'no' },
      { group: g, metric: 'throughput (pipelines/min)', value: fmt(total / elapsedMin, 1) },
      { group: g, metric: 'push -> prod verified p50 (ms)', value: fmt(percentile(latencies, 50), 0) },
      { group: g, metric: 'push -> prod verified p99 (ms)', value: fmt(percentile(latencies, 99), 0) },
      { group: g, metric: 'host heap after full GC start / peak / end (MiB)', value: `${fmt(first.heapUsed / MiB, 1)} / ${fmt(peak((p) => p.heapUsed) / MiB, 1)} / ${fmt(last.heapUsed / MiB, 1)}` },
      { group: g, metric: 'host heap after GC, slope 1st half / 2nd half (KiB/min)', value: halves((p) => p.heapUsed, 1024 / MiB, 0), goal: '2nd half ~0 (plateau)' },
      { group: g, metric: '  of which V8 code space start / end (MiB)', value: startEnd((p) => p.codeSpace) },
      { group: g, metric: 'host native heap ([heap]: SQLite page cache ...) start / peak / end (MiB)', value: `${fmt(first.mallocHeap / MiB, 1)} / ${fmt(peak((p) => p.mallocHeap) / MiB, 1)} / ${fmt(last.mallocHeap / MiB, 1)}` },
      { group: g, metric: 'host native heap, slope 1st half / 2nd half (KiB/min)', value: halves((p) => p.mallocHeap, 1024 / MiB, 0) },
      { group: g, metric: 'host external memory (incl. array buffers) start / end (MiB)', value: startEnd((p) => p.external) },
      { group: g, metric: 'host RSS start / peak / end (MiB)', value: `${fmt(first.rss / MiB, 0)} / ${fmt(peak((p) => p.rss) / MiB, 0)} / ${fmt(last.rss / MiB, 0)}` },
      { group: g, metric: 'host RSS, slope 1st half / 2nd half (MiB/min)', value: halves((p) => p.rss, 1 / MiB, 2) },
      { group: g, metric: 'host open fds start / peak / end', value: `${totalFds(first)} / ${peak(totalFds)} / ${totalFds(last)}` },
      { group: g, metric: 'host open fds, slope 1st half / 2nd half (/min)', value: halves(totalFds, 1, 2) },
      { group: g, metric: 'host fds by kind that changed', value: countChanges(first.fds, last.fds) },
      {
        group: g,
        metric: 'host open files start / end (MiB)',
        value: Object.keys(last.files ?? {}).filter((f) => /\.(db|sqlite)(-wal)?$/.test(f)).sort().map((f) => `${f} ${fmt((first.files?.[f] ?? 0) / MiB, 1)} / ${fmt(last.files[f]! / MiB, 1)}`).join(', '),
      },
      { group: g, metric: 'host active handles that changed', value: countChanges(first.resources, last.resources) },
      { group: g, metric: 'Azurite RSS start / end (MiB, its own process)', value: `${fmt(azuriteStart, 0)} / ${fmt(azuriteEnd, 0)}` },
      ...heapRows,
    ];
  } finally {
    await host?.stop().catch(() => undefined);
    await stopAllEnvironments(root).catch(() => undefined);
    for (const s of samples) await s.dispose();
    if (keep) {
      mkdirSync(keep, { recursive: true });
      for (const f of [probeFile, ...snapshots]) if (existsSync(f)) copyFileSync(f, join(keep, basename(f)));
    }
    rmSync(root, { recursive: true, force: true });
  }
}
