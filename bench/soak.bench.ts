// Soak: Conveyor on the local host CLI (a child process with its own Azurite) runs pipelines
// back to back for several minutes: each of N apps pushes a new commit as soon as its
// previous run finished (dev -> prod on the process target). Reports throughput, push->prod
// latency (webhook sent -> prod verified and recorded), and the host process's memory (RSS)
// and open file descriptors at start and end, so leaks show up as growth.
//
//   npx tsc -p tsconfig.json && node dist/bench/index.js soak
//   CONVEYOR_SOAK_SECONDS=600 CONVEYOR_SOAK_APPS=6 node dist/bench/index.js soak
//   CONVEYOR_SOAK_HEAP=1 ...: also heap snapshots of the host at start and end (after a GC-settling
//   pause), with the reconcile timer running every CONVEYOR_SOAK_RECONCILE (default 0 * * * * *).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, percentile, type BenchRow } from './harness.js';
import { growth, summarise, takeSnapshot } from './heap-snapshot.js';
import { createSampleService, findFreePorts, type SampleService } from '../test/support/sample-service.js';
import { FINAL_RUN_STATUSES, spawnConveyorHost, stopAllEnvironments, twoEnvPipeline, type ChildHost } from '../test/support/reliability-host.js';

const SECRET = 'soak-webhook-secret-0123456789';

interface ProcSample {
  rssMiB: number;
  fds: number;
}

function sampleProc(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { rssMiB: rssKiB / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
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

export async function run(): Promise<BenchRow[]> {
  const seconds = Number(process.env.CONVEYOR_SOAK_SECONDS ?? 180);
  const appCount = Number(process.env.CONVEYOR_SOAK_APPS ?? 6);
  const root = mkdtempSync(join(tmpdir(), 'conveyor-soak-'));
  const samples: SampleService[] = [];
  let host: ChildHost | undefined;
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
        ...(heap ? { NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' } : {}),
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
    const startSnapshot = heap ? await takeSnapshot(h.pid, root) : undefined;
    const start = sampleProc(h.pid);
    let peak = start;

    const latencies: number[] = [];
    const statuses = new Map<string, number>();
    const started = Date.now();
    const until = started + seconds * 1000;
    const monitor = setInterval(() => {
      let now: ProcSample;
      try {
        now = sampleProc(h.pid);
      } catch {
        return; // the host is gone; the failing push reports why
      }
      if (now.rssMiB > peak.rssMiB) peak = { ...peak, rssMiB: now.rssMiB };
      if (now.fds > peak.fds) peak = { ...peak, fds: now.fds };
    }, 1000);
    let n = 0;
    try {
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
    } finally {
      clearInterval(monitor);
    }
    const elapsedMin = (Date.now() - started) / 60_000;
    // Let timers and sockets settle before the end sample.
    await new Promise((r) => setTimeout(r, 2000));
    const end = sampleProc(h.pid);
    const heapRows: BenchRow[] = [];
    if (startSnapshot) {
      const endSnapshot = await takeSnapshot(h.pid, root);
      const a = summarise(startSnapshot);
      const b = summarise(endSnapshot);
      heapRows.push({ group: 'soak', metric: 'heap (snapshot self sizes) start / end (MiB)', value: `${fmt(a.totalBytes / 2 ** 20, 1)} / ${fmt(b.totalBytes / 2 ** 20, 1)}` });
      for (const g of growth(a, b, 6)) heapRows.push({ group: 'soak', metric: `  grew: ${g.name.slice(0, 60)}`, value: `${g.count >= 0 ? '+' : ''}${g.count} objects, ${fmt(g.bytes / 1024, 0)} KiB` });
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
      { group: g, metric: 'host RSS start / peak / end (MiB)', value: `${fmt(start.rssMiB, 0)} / ${fmt(peak.rssMiB, 0)} / ${fmt(end.rssMiB, 0)}` },
      { group: g, metric: 'host open fds start / peak / end', value: `${start.fds} / ${peak.fds} / ${end.fds}` },
      ...heapRows,
    ];
  } finally {
    await host?.stop().catch(() => undefined);
    await stopAllEnvironments(root).catch(() => undefined);
    for (const s of samples) await s.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}
