// Conveyor's own overhead, on the embedded default (local host + Azurite + SQLite
// durable backend + the process target), driven only through public HTTP:
//
// 1. End to end: signed push webhook -> run Succeeded for the sample service (build `cp`,
//    test `node --check`, three environments, each verified by one HTTP check that passes at
//    the first try). The time inside the steps is subtracted: the build and test commands'
//    own durations (the activities' results, read from the durable history), each target's
//    process start until its port accepts and the previous revision's stop (measured directly
//    in the same run with the same command on the same machine), and every verification
//    request's duration (the verifyEnvironment results). What is left is Conveyor's overhead:
//    webhook, checkout, artifact pack/upload/download/extract, run and ledger records, durable
//    dispatch. Ten pushes of new commits (p50 / p99), plus one "realistic" app whose build
//    sleeps 25 s and whose start takes 1 s, to show the overhead's share of a real pipeline.
//    Goals: overhead < 1 s for three environments; < 2% of the realistic app's total.
// 2. Webhook acknowledgement under load: 50 connections of signed GitHub pushes (autocannon)
//    against the real webhook function on the local host, (a) for a branch the app does not
//    track (verified, then 200 ignored) and (b) redeliveries of existing runs (200 duplicate,
//    through the durable client's getStatus), beside a bare node:http server that only checks
//    the HMAC. Goal: p99 < 50 ms.
//
// Conveyor runs in a child process (bench/pipeline-host.ts) so the load generator and the
// polling never share its event loop. Knobs: BENCH_PIPELINE_PUSHES (10),
// BENCH_PIPELINE_REALISTIC_RUNS (1; 0 skips it), BENCH_PIPELINE_BUILD_SECONDS (25),
// BENCH_PIPELINE_LOAD_SECONDS (5; 0 skips the load part), BENCH_PIPELINE_PROFILE=<dir> (the
// host runs with --cpu-prof; its hottest functions are printed to stderr),
// BENCH_PIPELINE_SERVICEBUS=off (the host starts no Service Bus emulator, so no event is
// published: run it back to back with the default to see what publishing adds to a run).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  createSampleService,
  findFreePorts,
  SAMPLE_BUILD_COMMAND,
  SAMPLE_ENVIRONMENTS,
  SAMPLE_START_COMMAND,
  samplePipelineYaml,
  type SampleService,
} from '../test/support/sample-service.js';
import { fmt, percentile, type BenchRow } from './harness.js';

const require = createRequire(import.meta.url);
// autocannon ships no types; only the fields used here are described.
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  non2xx: number;
  timeouts: number;
  statusCodeStats?: Record<string, { count: number }>;
}
interface CannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | string;
}
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;

const here = dirname(fileURLToPath(import.meta.url));
const GROUP = 'pipeline';
const SECRET = 'bench-webhook-secret-0123456789abcdef';
const APP = 'sample';
const PUSHES = Number(process.env.BENCH_PIPELINE_PUSHES ?? 10);
const REALISTIC_RUNS = Number(process.env.BENCH_PIPELINE_REALISTIC_RUNS ?? 1);
const REALISTIC_BUILD_SECONDS = Number(process.env.BENCH_PIPELINE_BUILD_SECONDS ?? 25);
const REALISTIC_START_COMMAND = `sleep 1 && exec ${SAMPLE_START_COMMAND}`;
const LOAD_SECONDS = Number(process.env.BENCH_PIPELINE_LOAD_SECONDS ?? 5);
const CONNECTIONS = 50;
const PROFILE_DIR = process.env.BENCH_PIPELINE_PROFILE;
const TERMINAL = new Set(['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded']);

// ---------------------------------------------------------------------------------------------
// Conveyor in a child process

interface ConveyorChild {
  origin: string;
  /** The host process and the Azurite it started (for CPU accounting). */
  pids: { host: number; azurite?: number };
  keys: { master: string; function: string };
  api(path: string, init?: RequestInit & { key?: 'function' | 'admin' | 'none' }): Promise<Response>;
  stop(): Promise<void>;
}

async function startConveyorChild(env: Record<string, string>): Promise<ConveyorChild> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, BENCH_CONVEYOR_ENV: JSON.stringify(env) };
  // Node 20 refuses --cpu-prof in NODE_OPTIONS, so only the host itself can be profiled (Azurite's
  // share shows in the CPU accounting of the load rows).
  const profile = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, join(here, 'pipeline-host.js')], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv });
  const ready = await new Promise<{ origin: string; keys: ConveyorChild['keys'] }>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl === -1) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      try {
        resolve(JSON.parse(out.slice(0, nl)) as { origin: string; keys: ConveyorChild['keys'] });
      } catch (err) {
        reject(err as Error);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`Conveyor host child exited early (${code}): ${out}`)));
  });
  const api: ConveyorChild['api'] = (path, init = {}) => {
    const headers = new Headers(init.headers);
    const key = init.key ?? 'function';
    if (key !== 'none') headers.set('x-functions-key', key === 'admin' ? ready.keys.master : ready.keys.function);
    return fetch(`${ready.origin}${path}`, { ...init, headers });
  };
  return {
    ...ready,
    pids: { host: child.pid!, azurite: await azuritePid(child.pid!) },
    api,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The Azurite child of the host process (Linux /proc), if any. */
async function azuritePid(hostPid: number): Promise<number | undefined> {
  const children = await readFile(`/proc/${hostPid}/task/${hostPid}/children`, 'utf8').catch(() => '');
  for (const pid of children.split(/\s+/).filter(Boolean).map(Number)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('azurite')) return pid;
  }
  return undefined;
}

/** CPU milliseconds (user + system) a process has used so far, from /proc; NaN elsewhere. */
async function cpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

// ---------------------------------------------------------------------------------------------
// Durable history (the public durable HTTP API, master key)

interface HistoryRow {
  EventType: string;
  FunctionName?: string;
  Timestamp?: string;
  ScheduledTime?: string;
  Result?: unknown;
}

async function durableHistory(conveyor: ConveyorChild, instanceId: string): Promise<HistoryRow[]> {
  // The run record says Succeeded one step before the orchestration itself completes (its last
  // activity writes the record): wait for the durable API to answer 200 (completed), not 202.
  const deadline = Date.now() + 30_000;
  let res = await conveyor.api(`/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}?showHistory=true&showHistoryOutput=true&showInput=false`, { key: 'admin' });
  while (res.status === 202 && Date.now() < deadline) {
    await res.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 50));
    res = await conveyor.api(`/runtime/webhooks/durabletask/instances/${encodeURIComponent(instanceId)}?showHistory=true&showHistoryOutput=true&showInput=false`, { key: 'admin' });
  }
  if (res.status !== 200) throw new Error(`durable status of ${instanceId}: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { historyEvents?: HistoryRow[]; history?: HistoryRow[] };
  return body.historyEvents ?? body.history ?? [];
}

/** Activity (and sub-orchestration) spans of one instance: scheduled -> completed. */
function spans(history: HistoryRow[]): { name: string; startMs: number; endMs: number; result: unknown }[] {
  return history
    .filter((e) => /^(TaskCompleted|TaskFailed|SubOrchestrationInstanceCompleted|SubOrchestrationInstanceFailed)$/.test(e.EventType))
    .map((e) => ({ name: e.FunctionName ?? '?', startMs: Date.parse(e.ScheduledTime ?? ''), endMs: Date.parse(e.Timestamp ?? ''), result: e.Result }));
}

// ---------------------------------------------------------------------------------------------
// The same steps, done directly (what Conveyor's figures are corrected by)

function waitForPort(port: number, deadlineMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadlineMs) reject(new Error(`port ${port} never accepted`));
        else setTimeout(tryOnce, 1);
      });
    };
    tryOnce();
  });
}

/**
 * The target's part of a deployment that the app itself decides: its start command from spawn
 * until the port accepts, and its SIGTERM -> exit when the next revision replaces it. Measured
 * directly, with the same command in a build of the same commit, on the same machine in the
 * same run; samples are taken between pushes too, so they see the same machine load.
 */
class StartStopSampler {
  private readonly starts: number[] = [];
  private readonly stops: number[] = [];
  private constructor(
    private readonly dir: string,
    private readonly port: number,
    private readonly startCommand: string,
  ) {}

  static async create(sample: SampleService, commit: string, startCommand: string): Promise<StartStopSampler> {
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-bench-start-'));
    await sample.buildCommit(commit, dir);
    const [port] = await findFreePorts(1);
    return new StartStopSampler(dir, port!, startCommand);
  }

  async sample(times = 1): Promise<void> {
    for (let i = 0; i < times; i++) {
      const t0 = performance.now();
      // Like the process target: bash -c in its own process group, minimal environment.
      const child = spawn('bash', ['-c', this.startCommand], {
        cwd: this.dir,
        detached: true,
        stdio: 'ignore',
        env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, PORT: String(this.port), CONVEYOR_APP: APP, CONVEYOR_ENV: 'bench' },
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await waitForPort(this.port, Date.now() + 15_000);
      this.starts.push(performance.now() - t0);
      const t1 = performance.now();
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
      this.stops.push(performance.now() - t1);
    }
  }

  /** Medians so far. */
  get startMs(): number {
    return percentile(this.starts, 50);
  }
  get stopMs(): number {
    return percentile(this.stops, 50);
  }
  get count(): number {
    return this.starts.length;
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// One push, measured

interface RunMeasurement {
  runId: string;
  totalMs: number;
  ackMs: number;
  /** Command / app / request time inside the steps. */
  insideMs: number;
  overheadMs: number;
  /** Overhead by where it went. */
  parts: Record<string, number>;
}

/** What one push did, before the direct step measurements are applied. */
interface RawRun {
  runId: string;
  totalMs: number;
  ackMs: number;
  spans: ReturnType<typeof spans>;
  /** Whether each deployment replaced a running revision (whose stop is the app's time). */
  previousRunning: boolean;
}

async function push(conveyor: ConveyorChild, sample: SampleService, commit: string, previousRunning: boolean): Promise<RawRun> {
  const hook = await sample.pushWebhook({ secret: SECRET, commit });
  const t0 = Date.now();
  const p0 = performance.now();
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const ackMs = performance.now() - p0;
  const ack = (await res.json()) as { runId?: string };
  if (res.status !== 202 || !ack.runId) throw new Error(`webhook answered ${res.status}: ${JSON.stringify(ack)}`);
  const runId = ack.runId;

  let run: { status: string; reason?: string; finishedAt?: string } | undefined;
  const until = Date.now() + 10 * 60_000;
  while (Date.now() < until) {
    const r = await conveyor.api(`/api/runs/${encodeURIComponent(runId)}`);
    if (r.status === 200) {
      run = (await r.json()) as typeof run;
      if (run && TERMINAL.has(run.status)) break;
    } else await r.body?.cancel();
    // Polling costs the host a blob read + a durable status each; 50 ms keeps that small. The
    // figures come from the durable history, not from this loop.
    await new Promise((r) => setTimeout(r, 50));
  }
  if (run?.status !== 'Succeeded') throw new Error(`run ${runId} ended ${run?.status}: ${run?.reason ?? ''}`);

  // End = the pipeline instance completed (its last act is writing the run record's final state).
  const pipeline = await durableHistory(conveyor, runId);
  const completed = pipeline.find((e) => e.EventType === 'ExecutionCompleted');
  const endMs = Date.parse(completed?.Timestamp ?? run.finishedAt ?? '');
  if (!Number.isFinite(endMs)) throw new Error(`run ${runId}: no completion time in its history`);

  const all = spans(pipeline).filter((s) => s.name !== 'promotion');
  for (const env of SAMPLE_ENVIRONMENTS) all.push(...spans(await durableHistory(conveyor, `${runId}.${env}`)));
  const deploys = all.filter((s) => s.name === 'deployArtifact').length;
  if (deploys !== SAMPLE_ENVIRONMENTS.length) throw new Error(`run ${runId}: ${deploys} deployments in its history, expected ${SAMPLE_ENVIRONMENTS.length}`);
  return { runId, totalMs: endMs - t0, ackMs, spans: all, previousRunning };
}

/** Splits a run's wall time into the time inside the steps and Conveyor's overhead. */
function account(raw: RawRun, app: { startMs: number; stopMs: number }): RunMeasurement {
  let insideMs = 0;
  const parts: Record<string, number> = {};
  const add = (k: string, v: number) => (parts[k] = (parts[k] ?? 0) + v);
  for (const s of raw.spans) {
    const span = s.endMs - s.startMs;
    const result = (s.result ?? {}) as { durationMs?: number };
    let inside = 0;
    // The commands' and requests' own durations, as the activities measured them.
    if (s.name === 'buildArtifact' || s.name === 'runTests' || s.name === 'verifyEnvironment') inside = result.durationMs ?? 0;
    // The app's start (and the previous revision's stop): measured directly.
    if (s.name === 'deployArtifact') inside = app.startMs + (raw.previousRunning ? app.stopMs : 0);
    insideMs += inside;
    add(`${s.name} beyond the step`, span - inside);
  }
  const activityMs = raw.spans.reduce((sum, s) => sum + (s.endMs - s.startMs), 0);
  // Everything outside activities: the webhook, durable dispatch between activities,
  // orchestrator episodes, sub-orchestration start/finish, environment lock entity calls.
  parts['webhook + durable dispatch + locks'] = raw.totalMs - activityMs;
  parts['(webhook ack alone)'] = raw.ackMs;
  return { runId: raw.runId, totalMs: raw.totalMs, ackMs: raw.ackMs, insideMs, overheadMs: raw.totalMs - insideMs, parts };
}

// ---------------------------------------------------------------------------------------------
// Webhook load

const BARE_SERVER = `
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
const SECRET = process.env.SECRET;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const expected = Buffer.from('sha256=' + createHmac('sha256', SECRET).update(body).digest('hex'));
    const given = Buffer.from(String(req.headers['x-hub-signature-256'] ?? ''));
    const ok = expected.length === given.length && timingSafeEqual(expected, given);
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { status: 'ignored' } : { status: 401 }));
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
`;

async function startBare(): Promise<{ child: ChildProcess; origin: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_SERVER], { env: { PATH: process.env.PATH, SECRET }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { child, origin: `http://127.0.0.1:${port}` };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface LoadResult extends CannonResult {
  /** CPU ms per answered request of each measured process. */
  cpuPerRequest: Record<string, number>;
}

async function load(origin: string, requests: CannonRequest[], pids: Record<string, number | undefined>): Promise<LoadResult> {
  const opts = { url: origin, connections: CONNECTIONS, requests };
  await autocannon({ ...opts, duration: 1 }); // warm-up: JIT, keep-alive sockets, caches
  // Let requests abandoned by the warm-up drain, so they are not billed to the measurement.
  await new Promise((r) => setTimeout(r, 1000));
  const before = Object.fromEntries(await Promise.all(Object.entries(pids).map(async ([k, pid]) => [k, await cpuMs(pid)] as const)));
  const cannon = await autocannon({ ...opts, duration: LOAD_SECONDS });
  const cpuPerRequest: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) cpuPerRequest[k] = ((await cpuMs(pid)) - before[k]!) / Math.max(1, cannon.requests.total);
  const result = { ...cannon, cpuPerRequest };
  if (result.errors || result.timeouts || result.non2xx) {
    throw new Error(`load on ${origin}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)})`);
  }
  return result;
}

function webhookRequest(hook: { body: Buffer; headers: Record<string, string> }): CannonRequest {
  return { method: 'POST', path: '/api/webhooks/github', headers: hook.headers, body: hook.body };
}

// ---------------------------------------------------------------------------------------------
// Profile summary (BENCH_PIPELINE_PROFILE)

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

async function summariseProfiles(dir: string): Promise<void> {
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      const frame = byId.get(id)?.callFrame;
      const key = frame ? `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, 'npm:').replace(/^file:\/\/.*?\/dist\//, 'dist/')}:${frame.lineNumber + 1}` : '?';
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    });
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
    process.stderr.write(`\n${file}: ${fmt(total / 1e6, 1)} s sampled; top self time:\n`);
    for (const [k, v] of top) process.stderr.write(`  ${fmt((100 * v) / total, 1).padStart(5)}%  ${k}\n`);
  }
}

// ---------------------------------------------------------------------------------------------

export async function run(): Promise<BenchRow[]> {
  const sample = await createSampleService({ retries: 2, interval: '100ms' });
  const conveyor = await startConveyorChild({ SAMPLE_WEBHOOK_SECRET: SECRET, CONVEYOR_LOG_LEVEL: 'info' });
  const rows: BenchRow[] = [];
  const samplers: StartStopSampler[] = [];
  // Every figure here is wall time on a shared machine: say how busy it was.
  const loadAtStart = loadavg()[0]!;
  try {
    const put = await conveyor.api(`/api/apps/${APP}`, {
      method: 'PUT',
      key: 'admin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'SAMPLE_WEBHOOK_SECRET' }),
    });
    if (put.status !== 201) throw new Error(`PUT /api/apps/${APP}: ${put.status} ${await put.text()}`);

    // --- 1. end-to-end overhead, tiny steps ------------------------------------------------
    const tiny = await StartStopSampler.create(sample, sample.initialCommit, SAMPLE_START_COMMAND);
    samplers.push(tiny);
    await tiny.sample(5);
    const coldRaw = await push(conveyor, sample, sample.initialCommit, false);
    const raws: RawRun[] = [];
    const commits = [sample.initialCommit];
    for (let i = 0; i < PUSHES; i++) {
      const commit = await sample.commitChange(`bench change ${i + 1}`);
      commits.push(commit);
      const raw = await push(conveyor, sample, commit, true);
      raws.push(raw);
      await tiny.sample(1);
      process.stderr.write(`  push ${i + 1}/${PUSHES}: total ${fmt(raw.totalMs, 0)} ms\n`);
    }
    const cold = account(coldRaw, tiny);
    const warm = raws.map((r) => account(r, tiny));
    const overheads = warm.map((m) => m.overheadMs);
    const p50 = percentile(overheads, 50);
    const p99 = percentile(overheads, 99);
    const totals = warm.map((m) => m.totalMs);
    const insides = warm.map((m) => m.insideMs);
    rows.push(
      {
        group: GROUP,
        metric: `push -> run Succeeded, 3 envs, tiny steps: total p50 / p99 (ms, ${warm.length} pushes)`,
        value: `${fmt(percentile(totals, 50), 0)} / ${fmt(percentile(totals, 99), 0)}`,
        baseline: `${fmt(percentile(insides, 50), 0)} / ${fmt(percentile(insides, 99), 0)}`,
        ratio: 'baseline: inside the steps',
      },
      { group: GROUP, metric: 'Conveyor overhead, 3 envs, tiny steps: p50 / p99 (ms)', value: `${fmt(p50, 0)} / ${fmt(p99, 0)}`, goal: '< 1000', met: p99 < 1000 ? 'yes' : 'no' },
      { group: GROUP, metric: 'Conveyor overhead, first push (cold git cache, first deploys) (ms)', value: fmt(cold.overheadMs, 0), baseline: fmt(cold.insideMs, 0), ratio: 'baseline: inside the steps' },
      { group: GROUP, metric: `app start -> port accepts / SIGTERM -> exit, direct (ms, median of ${tiny.count})`, value: `${fmt(tiny.startMs, 0)} / ${fmt(tiny.stopMs, 0)}` },
    );
    // Where the overhead goes (median of each part over the warm pushes).
    const partNames = [...new Set(warm.flatMap((m) => Object.keys(m.parts)))];
    for (const name of partNames.sort()) {
      const values = warm.map((m) => m.parts[name] ?? 0);
      rows.push({ group: GROUP, metric: `  overhead: ${name}, p50 (ms)`, value: fmt(percentile(values, 50), 0) });
    }

    // --- 1b. realistic app ------------------------------------------------------------------
    if (REALISTIC_RUNS > 0) {
      const yaml = samplePipelineYaml({ ports: sample.ports, retries: 2, interval: '100ms' })
        .replace(`command: ${SAMPLE_BUILD_COMMAND}`, `command: sleep ${REALISTIC_BUILD_SECONDS} && ${SAMPLE_BUILD_COMMAND}`)
        .split(`start: ${SAMPLE_START_COMMAND}`)
        .join(`start: ${REALISTIC_START_COMMAND}`);
      const realisticCommit = await sample.commitPipeline(yaml, 'Realistic pipeline: slow build, slow start');
      const slow = await StartStopSampler.create(sample, realisticCommit, REALISTIC_START_COMMAND);
      samplers.push(slow);
      await slow.sample(2);
      const results: RawRun[] = [];
      for (let i = 0; i < REALISTIC_RUNS; i++) {
        const commit = i === 0 ? realisticCommit : await sample.commitChange(`realistic change ${i}`);
        commits.push(commit);
        results.push(await push(conveyor, sample, commit, true));
        await slow.sample(1);
      }
      // The first realistic deployment stops a tiny-app process: its stop time is the tiny one.
      const measured = results.map((r, i) => account(r, { startMs: slow.startMs, stopMs: i === 0 ? tiny.stopMs : slow.stopMs }));
      const worst = measured.reduce((a, b) => (b.overheadMs / b.totalMs > a.overheadMs / a.totalMs ? b : a));
      const share = (100 * worst.overheadMs) / worst.totalMs;
      rows.push({
        group: GROUP,
        metric: `realistic app (build ${REALISTIC_BUILD_SECONDS} s, start ${fmt(slow.startMs / 1000, 2)} s): overhead / total (ms, worst of ${measured.length})`,
        value: `${fmt(worst.overheadMs, 0)} / ${fmt(worst.totalMs, 0)}`,
        ratio: `${fmt(share, 2)}% of total`,
        goal: '< 2%',
        met: share < 2 ? 'yes' : 'no',
      });
      for (const [name, v] of Object.entries(worst.parts).sort()) rows.push({ group: GROUP, metric: `  realistic overhead: ${name} (ms)`, value: fmt(v, 0) });
    }

    // --- 2. webhook acknowledgement under load (BENCH_PIPELINE_LOAD_SECONDS=0 skips it) ----
    if (LOAD_SECONDS > 0) {
      const untrackedHook = await sample.pushWebhook({ secret: SECRET, ref: 'refs/heads/bench-untracked' });
      const probe = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: untrackedHook.headers, body: untrackedHook.body });
      const probeBody = (await probe.json()) as { status?: string };
      if (probe.status !== 200 || probeBody.status !== 'ignored') throw new Error(`untracked push answered ${probe.status} ${JSON.stringify(probeBody)}`);
      const duplicateHooks = await Promise.all(commits.map((commit) => sample.pushWebhook({ secret: SECRET, commit })));
      for (const hook of duplicateHooks.slice(0, 2)) {
        const r = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
        const b = (await r.json()) as { status?: string };
        if (r.status !== 200 || b.status !== 'duplicate') throw new Error(`redelivery answered ${r.status} ${JSON.stringify(b)}`);
      }

      const untracked = await load(conveyor.origin, [webhookRequest(untrackedHook)], conveyor.pids);
      await new Promise((r) => setTimeout(r, 2000)); // drain
      const duplicates = await load(conveyor.origin, duplicateHooks.map(webhookRequest), conveyor.pids);
      const bareServer = await startBare();
      let bare: LoadResult;
      try {
        bare = await load(bareServer.origin, [webhookRequest(untrackedHook)], { bare: bareServer.child.pid });
      } finally {
        await stopChild(bareServer.child);
      }
      for (const [label, r] of [
        ['untracked branch (200 ignored)', untracked],
        [`redeliveries of ${duplicateHooks.length} runs (200 duplicate)`, duplicates],
      ] as const) {
        rows.push(
          {
            group: GROUP,
            metric: `webhook ack, ${CONNECTIONS} conns, ${label}: p50 / p99 (ms)`,
            value: `${r.latency.p50} / ${r.latency.p99}`,
            baseline: `${bare.latency.p50} / ${bare.latency.p99}`,
            ratio: `p99 ${fmt(r.latency.p99 / Math.max(bare.latency.p99, 1), 1)}x bare`,
            goal: 'p99 < 50',
            met: r.latency.p99 < 50 ? 'yes' : 'no',
          },
          {
            group: GROUP,
            metric: `webhook ack, ${label}: requests/s`,
            value: fmt(r.requests.average, 0),
            baseline: fmt(bare.requests.average, 0),
            ratio: `${fmt((100 * r.requests.average) / bare.requests.average, 1)}% of bare`,
          },
          {
            group: GROUP,
            metric: `webhook ack, ${label}: CPU ms per request, host / Azurite`,
            value: `${fmt(r.cpuPerRequest.host!, 2)} / ${fmt(r.cpuPerRequest.azurite!, 2)}`,
            baseline: fmt(bare.cpuPerRequest.bare!, 2),
          },
        );
      }
    }
  } finally {
    await conveyor.stop();
    for (const s of samplers) await s.dispose();
    await sample.dispose();
  }
  rows.push({ group: GROUP, metric: `machine load average (1 min) at start / end, ${cpus().length} CPUs`, value: `${fmt(loadAtStart, 1)} / ${fmt(loadavg()[0]!, 1)}` });
  if (PROFILE_DIR) await summariseProfiles(PROFILE_DIR);
  return rows;
}

