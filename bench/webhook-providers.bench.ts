// Webhook providers (issue 5): CPU cost of verify + parse per delivery for each provider, for a
// realistic GitHub push payload (~20 commits, ~25 KB), beside the bare minimum (HMAC-SHA256 +
// timingSafeEqual + JSON.parse). The HTTP acknowledgement bench (p50/p99 under 50 concurrent
// signed pushes) belongs with the webhook function; this isolates what the providers add.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { getProvider } from '../shared/webhooks/provider-registry.js';
import { fmt, type BenchRow } from './harness.js';

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
  return [
    { group: 'webhook-providers', metric: `GitHub verify+parse, ${Math.round(body.length / 1024)} KB push (µs/op)`, value: fmt(gh, 1), baseline: fmt(bare, 1), ratio: `${fmt(gh / bare, 2)}x bare HMAC+JSON.parse` },
    { group: 'webhook-providers', metric: 'GitHub verify+parse throughput (ops/s, one core)', value: fmt(1e6 / gh, 0), baseline: fmt(1e6 / bare, 0) },
    { group: 'webhook-providers', metric: `GitLab verify+parse, ${Math.round(glBody.length / 1024)} KB push (µs/op)`, value: fmt(gl, 1) },
  ];
}
