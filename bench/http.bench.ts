// HTTP trigger round trip through the local host vs a bare node:http server doing the same
// work (route one path parameter, answer a small JSON body), both as child processes, loaded
// by autocannon from this process with 50 connections. Goal: host >= 70% of the
// bare server's requests/s, host p99 < 5 ms.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, percentile, type BenchRow } from './harness.js';

const require = createRequire(import.meta.url);
// autocannon ships no types; only the result fields used here are described.
interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  non2xx: number;
  timeouts: number;
}
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);

// The bare baseline does the same work as the host's function: route one path parameter, call
// the same async handler (`async (id) => ({ jsonBody: { id, ok: true } })`), await it and
// serialise its JSON body with the same headers. The difference measured is the host itself:
// routing, keys check, HttpRequest/InvocationContext construction, invocation pipeline.
const BARE = `
const http = require('node:http');
const handler = async (id) => ({ jsonBody: { id, ok: true } });
const server = http.createServer(async (req, res) => {
  const url = req.url;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const m = /^\\/api\\/bench\\/([^/]+)$/.exec(path);
  if (!m) { res.statusCode = 404; res.end(); return; }
  const result = await handler(decodeURIComponent(m[1]));
  const body = JSON.stringify(result.jsonBody);
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => console.log('Host ready at http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

function startChild(args: string[]): Promise<{ child: ChildProcess; origin: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CONVEYOR_LOG_LEVEL: 'warn' } });
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Host ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolvePromise({ child, origin: m[1]! });
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return NaN;
  }
}

interface Measured extends CannonResult {
  /** Server CPU time per request, µs: robust to other load on the machine, unlike req/s. */
  cpuPerRequestUs: number;
}

async function load(origin: string, pid: number | undefined): Promise<Measured> {
  const url = `${origin}/api/bench/item-42`;
  await autocannon({ url, connections: CONNECTIONS, duration: 1 }); // warm-up (JIT, keep-alive sockets)
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS });
  const total = result.requests.average * SECONDS;
  return { ...result, cpuPerRequestUs: ((cpuSeconds(pid) - cpuBefore) / total) * 1e6 };
}

async function measure(args: string[]): Promise<Measured> {
  const server = await startChild(args);
  try {
    return await load(server.origin, server.child.pid);
  } finally {
    await stopChild(server.child);
  }
}

const best = (a: Measured | undefined, b: Measured) => (!a || b.requests.average > a.requests.average ? b : a);

export async function run(): Promise<BenchRow[]> {
  const state = mkdtempSync(join(tmpdir(), 'conveyor-bench-http-'));
  const hostArgs = [join(root, 'dist', 'local', 'host', 'cli.js'), '--app-dir', join(root, 'test', 'fixtures', 'http-bench-app'), '--port', '0', '--no-storage', '--state-dir', state];
  // Alternate bare and host rounds and keep each side's best: on a shared 2-core machine a
  // single round is at the mercy of whatever else runs at that moment.
  const pairRatios: number[] = [];
  let bareResult: Measured | undefined;
  let hostResult: Measured | undefined;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const bare = await measure(['-e', BARE]);
      const hosted = await measure(hostArgs);
      pairRatios.push(hosted.requests.average / bare.requests.average);
      bareResult = best(bareResult, bare);
      hostResult = best(hostResult, hosted);
    }
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
  if (!bareResult || !hostResult) throw new Error('no measurement');
  const ratio = hostResult.requests.average / bareResult.requests.average;
  const bad = hostResult.errors + hostResult.non2xx + hostResult.timeouts;
  return [
    {
      group: 'http',
      metric: `requests/s (${CONNECTIONS} conns, ${SECONDS} s, best of ${ROUNDS})`,
      value: fmt(hostResult.requests.average, 0),
      baseline: fmt(bareResult.requests.average, 0),
      ratio: `${fmt(ratio * 100, 1)}% of bare`,
      goal: '>= 70%',
      met: ratio >= 0.7 && bad === 0 ? 'yes' : 'no',
    },
    {
      group: 'http',
      metric: 'host/bare requests/s, back-to-back rounds',
      value: pairRatios.map((r) => `${fmt(r * 100, 0)}%`).join(' '),
      ratio: `median ${fmt(percentile(pairRatios, 50) * 100, 1)}%`,
    },
    { group: 'http', metric: 'p50 latency (ms)', value: fmt(hostResult.latency.p50, 2), baseline: fmt(bareResult.latency.p50, 2) },
    {
      group: 'http',
      metric: 'p99 latency (ms)',
      value: fmt(hostResult.latency.p99, 2),
      baseline: fmt(bareResult.latency.p99, 2),
      goal: '< 5',
      met: hostResult.latency.p99 < 5 ? 'yes' : 'no',
    },
    {
      group: 'http',
      metric: 'server CPU per request (µs)',
      value: fmt(hostResult.cpuPerRequestUs, 1),
      baseline: fmt(bareResult.cpuPerRequestUs, 1),
      ratio: `bare/host ${fmt((bareResult.cpuPerRequestUs / hostResult.cpuPerRequestUs) * 100, 1)}%`,
    },
    { group: 'http', metric: 'errors / non-2xx / timeouts', value: `${hostResult.errors} / ${hostResult.non2xx} / ${hostResult.timeouts}`, baseline: `${bareResult.errors} / ${bareResult.non2xx} / ${bareResult.timeouts}` },
  ];
}
