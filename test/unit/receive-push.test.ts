// The receive-push use-case with Conveyor's own in-memory fakes (app index, run store, a
// pipeline starter that records starts): what any adapter receiving push deliveries relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { AppRecord } from '../../shared/apps/index.js';
import type { PipelineInput } from '../../shared/contracts/activities.js';
import { KnownRuns, receivePush, type ReceivePushPorts } from '../../shared/use-cases/receive-push.use-case.js';
import { InMemoryRunStore } from '../support/fakes.js';

const SECRET = 'shop-secret';
const COMMIT = '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c';
const app = (name: string, over: Partial<AppRecord> = {}): AppRecord => ({
  name,
  repoUrl: 'https://github.com/acme/shop.git',
  provider: 'github',
  branches: ['main'],
  webhookSecretSetting: `${name.toUpperCase()}_SECRET`,
  pipelinePath: '.conveyor/pipeline.yaml',
  createdAt: 't',
  updatedAt: 't',
  ...over,
});

function world(apps: AppRecord[], secrets: Record<string, string> = { SHOP_SECRET: SECRET }) {
  const runs = new InMemoryRunStore();
  const started: { id: string; input: PipelineInput }[] = [];
  const redacted: string[] = [];
  let backendCalls = 0;
  const ports: ReceivePushPorts = {
    runs,
    appIndex: { find: async (urls) => apps.filter((a) => urls.includes(a.repoUrl)) },
    webhookSecrets: (setting) => (secrets[setting] ? [secrets[setting]] : []),
    redact: (s) => void redacted.push(s),
    knownRuns: new KnownRuns(),
    now: () => new Date('2026-11-30T10:00:00.000Z'),
    pipelines: {
      exists: async (id) => {
        backendCalls++;
        return started.some((s) => s.id === id);
      },
      start: async (id, input) => void started.push({ id, input }),
    },
  };
  return { ports, runs, started, redacted, backendCalls: () => backendCalls };
}

function push(branch = 'main', secret = SECRET) {
  const body = Buffer.from(
    JSON.stringify({
      ref: `refs/heads/${branch}`,
      before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      after: COMMIT,
      deleted: false,
      head_commit: { id: COMMIT, message: 'Fix checkout', author: { name: 'Mona Lisa', email: 'mona@example.com' } },
      repository: { full_name: 'acme/shop', html_url: 'https://github.com/acme/shop', clone_url: 'https://github.com/acme/shop.git' },
      pusher: { name: 'mona', email: 'mona@example.com' },
    }),
  );
  const headers = { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'd-1', 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` };
  return { provider: 'GitHub', body: async () => body, headers };
}

test('a signed push to a tracked branch creates the run record and starts its pipeline; a redelivery starts nothing and asks no backend', async () => {
  const w = world([app('shop')]);
  const outcome = await receivePush(w.ports, push());
  assert.deepEqual(outcome, { kind: 'runs', started: true, runId: `shop.${COMMIT}`, runs: [{ app: 'shop', status: 'started', runId: `shop.${COMMIT}` }], deliveryId: 'd-1' });
  assert.equal(w.started.length, 1);
  assert.deepEqual(w.started[0]!.input.subject.pusher, { id: 'mona@example.com', name: 'mona' });
  assert.equal(w.started[0]!.input.subject.requestedAt, '2026-11-30T10:00:00.000Z');
  const run = (await w.runs.get('shop', `shop.${COMMIT}`)).value;
  assert.deepEqual([run.status, run.trigger, run.branch, run.headCommit], ['Pending', 'webhook', 'main', { message: 'Fix checkout', author: 'Mona Lisa' }]);
  assert.deepEqual(w.redacted, [SECRET]);

  const calls = w.backendCalls();
  const again = await receivePush(w.ports, push());
  assert.equal(again.kind === 'runs' && again.started, false);
  assert.equal(again.kind === 'runs' && again.runs[0]!.status, 'duplicate');
  assert.equal(w.backendCalls(), calls, 'the redelivery was answered from the known runs');
  assert.equal(w.started.length, 1);
});

test('each app sharing the repository is judged on its own: its secret, its branches', async () => {
  const w = world([app('shop'), app('shop-docs', { branches: ['docs'], webhookSecretSetting: 'SHOP_SECRET' }), app('other', { webhookSecretSetting: 'OTHER_SECRET' })], { SHOP_SECRET: SECRET, OTHER_SECRET: 'other' });
  const outcome = await receivePush(w.ports, push());
  assert.equal(outcome.kind, 'runs');
  assert.deepEqual(
    outcome.kind === 'runs' && outcome.runs.map((r) => [r.app, r.status]),
    [['shop', 'started'], ['shop-docs', 'ignored']],
    'other (another secret) is not acted on; shop-docs does not track main',
  );
});

const refusals: [string, (w: ReturnType<typeof world>) => Promise<unknown>, string, RegExp][] = [
  ['an unknown provider', (w) => receivePush(w.ports, { ...push(), provider: 'bitbucket' }), 'unknown-provider', /supported: github, gitlab, azure-devops/],
  ['a body signed with another secret', (w) => receivePush(w.ports, push('main', 'wrong')), 'rejected', /signature rejected/],
  ['a repository no app is registered for with this provider', (w) => receivePush({ ...w.ports, appIndex: { find: async () => [app('shop', { provider: 'gitlab' })] } }, push()), 'unregistered', /no app is registered for repository acme\/shop with provider github/],
  ['a push to a branch the app does not track', (w) => receivePush(w.ports, push('feature/x')), 'ignored', /branch feature\/x is not tracked by shop \(tracks main\)/],
];
for (const [what, act, kind, reason] of refusals) {
  test(`nothing is started for ${what}`, async () => {
    const w = world([app('shop')]);
    const outcome = (await act(w)) as { kind: string; reason?: string };
    assert.equal(outcome.kind, kind);
    assert.match(outcome.reason ?? '', reason);
    assert.equal(w.started.length, 0);
    assert.deepEqual(w.runs.runs, {});
  });
}

test('an unknown provider is refused before the body is read', async () => {
  const w = world([app('shop')]);
  let read = false;
  const outcome = await receivePush(w.ports, { ...push(), provider: 'bitbucket', body: async () => ((read = true), Buffer.alloc(0)) });
  assert.equal(outcome.kind, 'unknown-provider');
  assert.equal(read, false);
});
