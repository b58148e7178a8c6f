import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DeploymentLedger, RunStore } from '../../shared/ledger/index.js';
import type { NewDeployment } from '../../shared/domain/deployment.js';
import { MetricsIndex } from '../../shared/metrics/index.js';
import { parseWindow } from '../../shared/metrics/window.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
import { withAzurite } from '../support/azurite.js';

let azurite: Awaited<ReturnType<typeof withAzurite>>;
let ledger: DeploymentLedger;
let runs: RunStore;
const state = () => containerClient(azurite.connectionString, CONTAINERS.state);
const T0 = Date.parse('2026-03-01T00:00:00Z');
let clock = T0;

before(async () => {
  azurite = await withAzurite();
  ledger = new DeploymentLedger(state());
  runs = new RunStore(state(), { now: () => new Date(clock) });
});
after(async () => {
  await azurite.dispose();
});

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

/** Records deployment n of app/env: its run was created 10 minutes before it finished. */
async function deploy(app: string, env: string, n: number, over: Partial<NewDeployment> = {}): Promise<void> {
  const finishedAt = T0 + n * 3_600_000;
  clock = finishedAt - 600_000;
  const runId = `${app}.${hex(n, 40)}`;
  await runs.create({ app, runId, status: 'Succeeded', commit: hex(n, 40) }).catch(() => undefined);
  await ledger.record(app, env, {
    commit: hex(n, 40),
    digest: `sha256:${hex(n, 64)}`,
    runId,
    kind: 'deploy',
    status: 'Succeeded',
    verification: [],
    startedAt: new Date(finishedAt - 60_000).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    ...over,
  });
}

test('the index holds every ledger record in order, with the change time from the run record, and catches up incrementally', async () => {
  const index = new MetricsIndex(state(), ledger, runs, { batchSize: 3 });
  for (let n = 1; n <= 5; n++) await deploy('shop', 'dev', n);
  const first = await index.catchUp('shop', 'dev');
  assert.deepEqual(first, { revisions: 5, added: 5, rebuilt: false });
  await deploy('shop', 'dev', 6, { status: 'Failed' });
  await ledger.record('shop', 'dev', {
    commit: hex(5, 40),
    digest: `sha256:${hex(5, 64)}`,
    runId: 'op-1',
    kind: 'rollback',
    rolledBackTo: 5,
    status: 'Succeeded',
    verification: [],
    startedAt: new Date(T0 + 6.5 * 3_600_000).toISOString(),
    finishedAt: new Date(T0 + 7 * 3_600_000).toISOString(),
  });
  const entries = await index.entries('shop', 'dev');
  assert.deepEqual(
    entries.map((e) => [e.revision, e.kind, e.status]),
    [[1, 'deploy', 'Succeeded'], [2, 'deploy', 'Succeeded'], [3, 'deploy', 'Succeeded'], [4, 'deploy', 'Succeeded'], [5, 'deploy', 'Succeeded'], [6, 'deploy', 'Failed'], [7, 'rollback', 'Succeeded']],
  );
  assert.equal(entries[0]!.changeAt, T0 + 3_600_000 - 600_000);
  assert.equal(entries[0]!.finishedAt, T0 + 3_600_000);
  assert.equal(entries[6]!.changeAt, undefined);
  assert.equal(entries[6]!.rolledBackTo, 5);
  assert.deepEqual(await index.catchUp('shop', 'dev'), { revisions: 7, added: 0, rebuilt: false });

  const [m] = await index.metrics('shop', ['dev'], parseWindow('30d', T0 + 10 * 86_400_000));
  assert.equal(m!.deployments.attempted, 6);
  assert.equal(m!.changeFailureRate.failures, 1);
  assert.equal(m!.leadTime.p50Seconds, 600);
  assert.equal(m!.timeToRestore.p50Seconds, 3600);
});

test('a catch-up given the record just stored does not read it again, and ends equal to one that reads everything', async () => {
  const reads: number[] = [];
  const counting = { latestRevision: ledger.latestRevision.bind(ledger), get: (app: string, env: string, revision: number) => (reads.push(revision), ledger.get(app, env, revision)) };
  const index = new MetricsIndex(state(), counting, runs);
  for (let n = 1; n <= 3; n++) await deploy('kiosk', 'dev', n);
  await index.catchUp('kiosk', 'dev');
  await deploy('kiosk', 'dev', 4);
  const fourth = await ledger.get('kiosk', 'dev', 4);
  reads.length = 0;
  assert.deepEqual(await index.catchUp('kiosk', 'dev', [fourth]), { revisions: 4, added: 1, rebuilt: false });
  assert.deepEqual(reads, [3], 'only the stored tip is read (to check it), not the given record');
  const stored = await new MetricsIndex(state(), ledger, runs).entries('kiosk', 'dev');
  assert.deepEqual(stored[3], { revision: 4, kind: 'deploy', status: 'Succeeded', commit: hex(4, 40), runId: `kiosk.${hex(4, 40)}`, startedAt: T0 + 4 * 3_600_000 - 60_000, finishedAt: T0 + 4 * 3_600_000, changeAt: T0 + 4 * 3_600_000 - 600_000 });
  // A record of another environment given by mistake is not taken for this one's.
  await deploy('kiosk', 'dev', 5);
  reads.length = 0;
  await index.catchUp('kiosk', 'dev', [{ ...fourth, environment: 'prod', revision: 5 }]);
  assert.deepEqual(reads.sort(), [4, 5]);
});

/** Overwrites the stored index document (what a bug, an operator or an old ledger could leave). */
async function tamper(app: string, env: string, change: (doc: { entries: unknown[][] } & Record<string, unknown>) => unknown): Promise<void> {
  const blob = state().getBlockBlobClient(`metrics-index/${app}/${env}.json`);
  const doc = JSON.parse((await blob.downloadToBuffer()).toString('utf8')) as { entries: unknown[][] } & Record<string, unknown>;
  const text = JSON.stringify(change(doc));
  await blob.upload(text, Buffer.byteLength(text));
}

test('an index that disagrees with the ledger is rebuilt, never believed', async () => {
  const index = new MetricsIndex(state(), ledger, runs);
  for (let n = 1; n <= 4; n++) await deploy('cart', 'dev', n);
  await index.catchUp('cart', 'dev');
  const truth = await index.entries('cart', 'dev');

  const cases: Array<[string, (doc: { entries: unknown[][] } & Record<string, unknown>) => unknown]> = [
    ['a gap in the revisions', (d) => ({ ...d, entries: [d.entries[0], d.entries[2], d.entries[3]] })],
    ['more revisions than the ledger', (d) => ({ ...d, entries: [...d.entries, [5, 'deploy', 'Succeeded', hex(9, 40), 'x', 0, 0, null, null]] })],
    ['a tip from another ledger', (d) => ({ ...d, entries: d.entries.map((e, i) => (i === 3 ? [4, 'deploy', 'Succeeded', hex(99, 40), 'cart.other', 0, 0, null, null] : e)) })],
    ['another environment', (d) => ({ ...d, environment: 'prod' })],
    ['not JSON at all', () => 'garbage'],
    ['the wrong shape', (d) => ({ ...d, schema: 2 })],
  ];
  for (const [name, change] of cases) {
    await tamper('cart', 'dev', change);
    const result = await index.catchUp('cart', 'dev');
    assert.equal(result.rebuilt, true, name);
    assert.deepEqual(await index.entries('cart', 'dev'), truth, name);
  }
});

test('concurrent catch-ups of one environment agree and leave one consistent index', async () => {
  for (let n = 1; n <= 30; n++) await deploy('race', 'prod', n);
  const results = await Promise.all(Array.from({ length: 6 }, () => new MetricsIndex(state(), ledger, runs, { batchSize: 7 }).entries('race', 'prod')));
  for (const r of results) assert.deepEqual(r.map((e) => e.revision), Array.from({ length: 30 }, (_, i) => i + 1));
  assert.deepEqual(await new MetricsIndex(state(), ledger, runs).catchUp('race', 'prod'), { revisions: 30, added: 0, rebuilt: false });
});

test('an environment never deployed has no entries', async () => {
  assert.deepEqual(await new MetricsIndex(state(), ledger, runs).entries('shop', 'prod'), []);
});

test('the parsed indexes kept in memory hold at most cacheEntries entries together (an index grows with its history)', async () => {
  for (const env of ['a', 'b']) for (let n = 1; n <= 3; n++) await deploy('capped', env, n);
  const index = new MetricsIndex(state(), ledger, runs, { cacheEntries: 5 });
  await index.catchUp('capped', 'a');
  await index.catchUp('capped', 'b');
  const cache = (index as unknown as { cache: Map<string, { value: { entries: unknown[] } }> }).cache;
  // Before the cap, 64 documents of any length stayed: here both, 6 entries.
  assert.deepEqual([...cache.values()].map((d) => d.value.entries.length), [3]);
  // The one that left is read again from storage, unchanged.
  assert.deepEqual((await index.entries('capped', 'a')).map((e) => e.revision), [1, 2, 3]);
});
