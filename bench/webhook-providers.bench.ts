// Webhook providers: (a) CPU cost of verify + parse per delivery, for a realistic
// GitHub push payload (20 commits), beside the bare minimum (HMAC-SHA256 + timingSafeEqual +
// JSON.parse); (b) the same over HTTP: 50 concurrent signed pushes against a plain node:http
// server that verifies + parses with the providers and answers 202, beside a node:http server
// that only checks the HMAC, both as child processes loaded by autocannon. The webhook
// function on the local host adds its own routing, dedupe and durable start on top; its bench
// belongs with it. Goal for the acknowledgement: p99 under 50 ms.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { getProvider } from '../shared/webhooks/provider-registry.js';
import { fmt, type BenchRow } from './harness.js';

const require = createRequire(import.meta.url);
// autocannon ships no types; only the result fields used here are described.
interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
  timeouts: number;
}
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;
const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_WEBHOOK_SECONDS ?? 3);

const SERVER_COMMON = `
import http from 'node:http';
const SECRET = process.env.SECRET;
const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => { size += c.length; if (size > 5 * 1024 * 1024) { res.writeHead(413); res.end(); req.destroy(); } else chunks.push(c); });
  req.on('end', () => { handle(Buffer.concat(chunks), req.headers).then(([status, body]) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); }); });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;
const PROVIDER_SERVER = (registryUrl: string) => `
const { getProvider } = await import(${JSON.stringify(registryUrl)});
const github = getProvider('github');
async function handle(body, headers) {
  const v = await github.verify(body, headers, SECRET);
  if (!v.ok) return [401, { title: v.reason }];
  const p = github.parse(body, headers);
  if (p.kind !== 'push') return [400, { title: p.kind }];
  return [202, { commit: p.event.commit, deliveryId: p.event.deliveryId }];
}
${SERVER_COMMON}`;
const BARE_SERVER = `
import { createHmac, timingSafeEqual } from 'node:crypto';
async function handle(body, headers) {
  const expected = Buffer.from('sha256=' + createHmac('sha256', SECRET).update(body).digest('hex'));
  const given = Buffer.from(String(headers['x-hub-signature-256'] ?? ''));
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return [401, {}];
  return [202, { ok: true }];
}
${SERVER_COMMON}`;

async function startServer(source: string): Promise<{ child: ChildProcess; origin: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { env: { PATH: process.env.PATH, SECRET }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { child, origin: `http://127.0.0.1:${port}` };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function load(source: string, body: Buffer, headers: Record<string, string>): Promise<CannonResult> {
  const server = await startServer(source);
  try {
    const opts = { url: `${server.origin}/api/webhooks/github`, method: 'POST', body, headers, connections: CONNECTIONS };
    await autocannon({ ...opts, duration: 1 }); // warm-up (JIT, keep-alive sockets)
    return await autocannon({ ...opts, duration: SECONDS });
  } finally {
    await stopServer(server.child);
  }
}

const SECRET = 'bench-secret';
const ITERATIONS = 5_000;
const sha = (i: number) => i.toString(16).padStart(40, 'a');

function githubPayload(): Buffer {
  const commits = Array.from({ length: 20 }, (_, i) => ({
    id: sha(i),
    tree_id: sha(i + 100),
    distinct: true,
    message: `Commit ${i}: ${'change the checkout flow so that it handles retries '.repeat(3)}`,
    timestamp: '2026-11-27T10:00:00Z',
    url: `https://github.com/acme/shop/commit/${sha(i)}`,
    author: { name: 'Mona Lisa', email: 'mona@example.com', username: 'mona' },
    committer: { name: 'Mona Lisa', email: 'mona@example.com', username: 'mona' },
    added: ['src/a.ts'],
    removed: [],
    modified: ['src/b.ts', 'src/c.ts', 'README.md'],
  }));
  return Buffer.from(
    JSON.stringify({
      ref: 'refs/heads/main',
      before: sha(998),
      after: sha(19),
      created: false,
      deleted: false,
      forced: false,
      commits,
      head_commit: commits.at(-1),
      repository: {
        id: 1,
        name: 'shop',
        full_name: 'acme/shop',
        html_url: 'https://github.com/acme/shop',
        clone_url: 'https://github.com/acme/shop.git',
        ssh_url: 'git@github.com:acme/shop.git',
        git_url: 'git://github.com/acme/shop.git',
        url: 'https://github.com/acme/shop',
        owner: { login: 'acme', id: 2 },
      },
      pusher: { name: 'mona', email: 'mona@example.com' },
      sender: { login: 'mona', id: 3 },
    }),
  );
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 500; i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < ITERATIONS; i++) await fn();
  return ((performance.now() - t0) * 1000) / ITERATIONS; // µs per op
}

export async function run(): Promise<BenchRow[]> {
  const body = githubPayload();
  const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
  const ghHeaders = { 'x-github-event': 'push', 'x-github-delivery': 'd-1', 'x-hub-signature-256': signature, 'content-type': 'application/json' };
  const github = getProvider('github')!;
  const gitlab = getProvider('gitlab')!;

  const bare = await time(() => {
    const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new Error('bad');
    return JSON.parse(body.toString('utf8')) as unknown;
  });
  const gh = await time(async () => {
    const v = await github.verify(body, ghHeaders, SECRET);
    if (!v.ok) throw new Error(v.reason);
    const p = github.parse(body, ghHeaders);
    if (p.kind !== 'push') throw new Error(p.kind);
  });
  const glBody = Buffer.from(
    JSON.stringify({
      object_kind: 'push', before: sha(998), after: sha(19), ref: 'refs/heads/main', user_username: 'jsmith',
      project: { path_with_namespace: 'acme/shop', git_http_url: 'https://gitlab.example.com/acme/shop.git', web_url: 'https://gitlab.example.com/acme/shop' },
      commits: (JSON.parse(body.toString()) as { commits: { id: string; message: string }[] }).commits.map((c) => ({ id: c.id, message: c.message, author: { name: 'J', email: 'j@example.com' } })),
    }),
  );
  const glHeaders = { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET };
  const gl = await time(async () => {
    const v = await gitlab.verify(glBody, glHeaders, SECRET);
    if (!v.ok) throw new Error(v.reason);
    if (gitlab.parse(glBody, glHeaders).kind !== 'push') throw new Error('parse');
  });
  const registryUrl = new URL('../shared/webhooks/provider-registry.js', import.meta.url).href;
  const httpProviders = await load(PROVIDER_SERVER(registryUrl), body, ghHeaders);
  const httpBare = await load(BARE_SERVER, body, ghHeaders);
  for (const [name, r] of [['providers', httpProviders], ['bare', httpBare]] as const) {
    if (r.errors || r.non2xx || r.timeouts) throw new Error(`${name} server: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
  }

  return [
    {
      group: 'webhook-providers',
      metric: `HTTP ack, ${CONNECTIONS} concurrent signed pushes: p50 / p99 (ms)`,
      value: `${httpProviders.latency.p50} / ${httpProviders.latency.p99}`,
      baseline: `${httpBare.latency.p50} / ${httpBare.latency.p99}`,
      goal: 'p99 < 50',
      met: httpProviders.latency.p99 < 50 ? 'yes' : 'no',
    },
    {
      group: 'webhook-providers',
      metric: 'HTTP ack requests/s',
      value: fmt(httpProviders.requests.average, 0),
      baseline: fmt(httpBare.requests.average, 0),
      ratio: `${fmt((100 * httpProviders.requests.average) / httpBare.requests.average, 0)}% of bare`,
    },
    { group: 'webhook-providers', metric: `GitHub verify+parse, ${Math.round(body.length / 1024)} KB push (µs/op)`, value: fmt(gh, 1), baseline: fmt(bare, 1), ratio: `${fmt(gh / bare, 2)}x bare HMAC+JSON.parse` },
    { group: 'webhook-providers', metric: 'GitHub verify+parse throughput (ops/s, one core)', value: fmt(1e6 / gh, 0), baseline: fmt(1e6 / bare, 0) },
    { group: 'webhook-providers', metric: `GitLab verify+parse, ${Math.round(glBody.length / 1024)} KB push (µs/op)`, value: fmt(gl, 1) },
  ];
}
