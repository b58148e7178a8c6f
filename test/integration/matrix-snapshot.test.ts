// The per-app matrix snapshot against real Azurite: after each kind of change (registration,
// run created and patched, deployment recorded, approval waiting and decided, freeze and
// unfreeze, sync state, registration changed and deleted) the stored snapshot, read by a fresh
// reader, equals the row recomputed from the records; a change in flight is shown from the
// records; a missing, corrupt or out-of-date snapshot and a dead writer's marker are rebuilt.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRegistry } from '../../shared/apps/index.js';
import { EnvironmentControls } from '../../shared/environments/index.js';
import { DeploymentLedger, RunStore } from '../../shared/ledger/index.js';
import { BlobSyncStore } from '../../shared/reconcile/index.js';
import { containerClient, CONTAINERS, listAllNames } from '../../shared/storage/blob-store.js';
import { buildRow, MatrixSnapshots, overviewApp, type RowSources } from '../../shared/use-cases/matrix-snapshot.js';
import { withAzurite } from '../support/azurite.js';

let azurite: Awaited<ReturnType<typeof withAzurite>>;
let matrix: MatrixSnapshots;
let sources: RowSources & { apps: AppRegistry; ledger: DeploymentLedger; runs: RunStore; controls: EnvironmentControls; syncStates: BlobSyncStore };
/** The same stores, announcing nothing: what a writer that bypasses (or dies before) the feed leaves. */
let silent: typeof sources;
const state = () => containerClient(azurite.connectionString, CONTAINERS.state);
const NOW = new Date();
const commit = (n: number) => n.toString(16).padStart(40, 'c');

before(async () => {
  azurite = await withAzurite();
  matrix = new MatrixSnapshots(state(), undefined, { now: () => NOW, log: () => undefined });
  const changes = matrix;
  sources = {
    apps: new AppRegistry(state(), { changes }),
    ledger: new DeploymentLedger(state(), { changes }),
    runs: new RunStore(state(), { changes }),
    controls: new EnvironmentControls(state(), changes),
    syncStates: new BlobSyncStore(state(), changes),
  };
  matrix.readFrom(sources);
  silent = { apps: new AppRegistry(state()), ledger: new DeploymentLedger(state()), runs: new RunStore(state()), controls: new EnvironmentControls(state()), syncStates: new BlobSyncStore(state()) };
});
after(async () => {
  await matrix?.idle();
  await azurite?.dispose();
});

/** A reader with an empty cache (so it reads the stored snapshot), and what it found. */
async function readFresh(app: string, now = NOW) {
  const reader = new MatrixSnapshots(state(), sources, { now: () => now, log: () => undefined });
  const page = await reader.overview();
  return { row: page.apps.find((a) => a.name === app), report: page.report, total: page.total };
}

/** The row recomputed from the records. */
async function recomputed(app: string) {
  return overviewApp(await buildRow(sources, (await sources.apps.get(app)).value), NOW);
}

/** After the writer's background refresh, the stored snapshot is current: read as is, equal to the records. */
async function assertSnapshotCurrent(app: string, what: string) {
  await matrix.idle();
  const { row, report } = await readFresh(app);
  assert.deepEqual(report, { fromSnapshot: report.fromSnapshot, fromSources: 0, rebuilt: 0 }, `${what}: served from the snapshot`);
  assert.deepEqual(row, await recomputed(app), `${what}: the snapshot equals the records`);
  assert.deepEqual(await listAllNames(state(), `matrix/pending/${app}/`), [], `${what}: no change marker left`);
  return row!;
}

async function deploy(app: string, env: string, n: number, kind: 'deploy' | 'rollback' = 'deploy') {
  await sources.ledger.record(app, env, {
    commit: commit(n),
    digest: `sha256:${commit(n).padEnd(64, '0')}`,
    runId: `${app}.${commit(n)}`,
    kind,
    status: 'Succeeded',
    verification: [],
    startedAt: new Date(NOW.getTime() - 60_000).toISOString(),
    finishedAt: NOW.toISOString(),
  });
}

describe('matrix snapshot', () => {
  test('after each kind of change the stored snapshot equals the matrix recomputed from the records', async () => {
    await sources.apps.create({ name: 'shop', repoUrl: 'https://git.example.com/acme/shop.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'S' });
    assert.deepEqual((await assertSnapshotCurrent('shop', 'registered')).environments, []);

    const runId = `shop.${commit(1)}`;
    await sources.runs.create({ app: 'shop', runId, status: 'Running', commit: commit(1), headCommit: { message: 'Faster checkout', author: 'Dev' }, environmentOrder: ['dev', 'prod'] });
    assert.equal((await assertSnapshotCurrent('shop', 'run created')).runs[0]?.status, 'Running');

    await deploy('shop', 'prod', 1);
    await deploy('shop', 'dev', 1);
    const deployed = await assertSnapshotCurrent('shop', 'deployments recorded');
    assert.deepEqual(deployed.environments.map((e) => [e.name, e.revision, e.headCommit?.message, e.health.state]), [['dev', 1, 'Faster checkout', 'healthy'], ['prod', 1, 'Faster checkout', 'healthy']], 'promotion order, commit message');

    const waitingSince = new Date(NOW.getTime() - 5_000).toISOString();
    await sources.runs.update('shop', runId, (r) => ({ ...r, environments: { dev: { status: 'Succeeded' }, prod: { status: 'Pending', approval: { waitingSince, until: NOW.toISOString(), approvers: ['alice@example.com'], required: 1, allowSelfApproval: false, decisions: [] } } } }));
    assert.equal((await assertSnapshotCurrent('shop', 'approval waiting')).runs[0]?.environments.prod?.waitingSince, waitingSince);

    await sources.runs.update('shop', runId, (r) => ({ ...r, status: 'Succeeded', environments: { ...r.environments, prod: { status: 'Succeeded', approval: { ...r.environments.prod!.approval!, outcome: 'approved', decisions: [{ decision: 'approve', by: 'alice@example.com', at: NOW.toISOString() }] } } } }));
    const decided = await assertSnapshotCurrent('shop', 'approval decided');
    assert.equal(decided.runs[0]?.environments.prod?.waitingSince, undefined);

    await sources.controls.setFreeze('shop', 'prod', { kind: 'manual', by: { id: 'alice@example.com' }, at: NOW.toISOString(), reason: 'sale weekend' });
    assert.equal((await assertSnapshotCurrent('shop', 'frozen')).environments[1]?.freeze?.reason, 'sale weekend');
    await sources.controls.unfreeze('shop', 'prod', { id: 'alice@example.com' }, 'over', NOW.toISOString());
    assert.equal((await assertSnapshotCurrent('shop', 'unfrozen')).environments[1]?.freeze, undefined);

    await sources.syncStates.put({ app: 'shop', environment: 'dev', sync: 'drifted', reason: 'the ledger says revision 1 runs, but it is not running (exited)', since: NOW.toISOString(), checkedAt: NOW.toISOString() });
    const drifted = await assertSnapshotCurrent('shop', 'sync changed');
    assert.deepEqual([drifted.environments[0]?.health.state, drifted.environments[0]?.running], ['unhealthy', false]);

    await deploy('shop', 'dev', 2, 'rollback');
    assert.equal((await assertSnapshotCurrent('shop', 'rollback recorded')).environments[0]?.kind, 'rollback');

    const { etag } = await sources.apps.get('shop');
    await sources.apps.update('shop', { repoUrl: 'https://git.example.com/acme/shop-renamed.git' }, etag);
    assert.match((await assertSnapshotCurrent('shop', 'registration changed')).repoUrl, /shop-renamed/);

    await sources.apps.delete('shop');
    await matrix.idle();
    const gone = await readFresh('shop');
    assert.deepEqual([gone.row, gone.total], [undefined, 0]);
    assert.deepEqual(await listAllNames(state(), 'matrix/apps/shop'), [], 'the snapshot of a deleted app is removed');
  });

  test('a change being written is shown from the records at once; a dead writer’s marker makes readers rebuild and clear it', async () => {
    await sources.apps.create({ name: 'cart', repoUrl: 'https://git.example.com/acme/cart.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'S' });
    await assertSnapshotCurrent('cart', 'registered');
    // A writer announces, writes, and dies before its refresh: only the marker tells.
    await matrix.changing('cart');
    await silent.ledger.record('cart', 'dev', { commit: commit(7), digest: `sha256:${commit(7).padEnd(64, '0')}`, runId: `cart.${commit(7)}`, kind: 'deploy', status: 'Succeeded', verification: [], startedAt: NOW.toISOString(), finishedAt: NOW.toISOString() });
    const inFlight = await readFresh('cart');
    assert.deepEqual([inFlight.report.fromSources, inFlight.report.rebuilt], [1, 0], 'built from the records, snapshot left to its writer');
    assert.equal(inFlight.row?.environments[0]?.revision, 1);
    assert.deepEqual(inFlight.row, await recomputed('cart'));
    // Past the stale age, the next reader rebuilds the snapshot and removes the marker.
    const later = await readFresh('cart', new Date(Date.now() + 120_000));
    assert.deepEqual([later.report.rebuilt, later.row?.environments[0]?.revision], [1, 1]);
    assert.deepEqual(await listAllNames(state(), 'matrix/pending/cart/'), []);
    await assertSnapshotCurrent('cart', 'after the dead writer');
  });

  test('writes close together share one marker and one refresh, and a marker stays while a write relying on it goes on', async () => {
    // A feed whose refresh waits a minute for writes to pause: only idle() runs it.
    const feed = new MatrixSnapshots(state(), undefined, { now: () => NOW, log: () => undefined, refreshDelayMs: 60_000, refreshMaxDelayMs: 60_000 });
    const runs = new RunStore(state(), { changes: feed });
    feed.readFrom({ ...sources, runs });
    await sources.apps.create({ name: 'bulk', repoUrl: 'https://git.example.com/acme/bulk.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'S' });
    await assertSnapshotCurrent('bulk', 'registered');
    const runId = `bulk.${commit(9)}`;
    await runs.create({ app: 'bulk', runId, status: 'Running', commit: commit(9) });
    for (const stage of ['build', 'test', 'package']) await runs.update('bulk', runId, (r) => ({ ...r, stages: { ...r.stages, [stage]: { status: 'Succeeded' } } }));
    assert.equal((await listAllNames(state(), 'matrix/pending/bulk/')).length, 1, 'four writes, one marker');
    const during = await readFresh('bulk');
    assert.equal(during.report.fromSources, 1, 'while the refresh waits, readers use the records');
    assert.equal(during.row?.runs[0]?.runId, runId, 'the new run shows at once');
    assert.deepEqual(during.row, await recomputed('bulk'));
    // A write in flight when the refresh runs keeps the marker it relies on.
    const inFlight = await feed.changing('bulk');
    await feed.idle();
    assert.equal((await listAllNames(state(), 'matrix/pending/bulk/')).length, 1, 'the marker of the write in flight stays');
    assert.equal((await readFresh('bulk')).report.fromSources, 1);
    inFlight.done();
    await feed.idle();
    assert.deepEqual(await listAllNames(state(), 'matrix/pending/bulk/'), []);
    const { row, report } = await readFresh('bulk');
    assert.deepEqual([report.fromSources, report.rebuilt], [0, 0], 'served from the refreshed snapshot');
    assert.deepEqual(row, await recomputed('bulk'));
  });

  test('a deleted, corrupt, foreign-shaped or out-of-date snapshot is rebuilt from the records on read', async () => {
    await sources.apps.create({ name: 'pay', repoUrl: 'https://git.example.com/acme/pay.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'S' });
    await deploy('pay', 'dev', 3);
    await assertSnapshotCurrent('pay', 'deployed');
    const blob = state().getBlockBlobClient('matrix/apps/pay.json');
    const damage: [string, () => Promise<unknown>][] = [
      ['deleted', () => blob.delete()],
      ['not JSON', () => blob.upload('{"schema": 1, "app": "pay", ', 28)],
      ['wrong shape', () => blob.upload('{"schema":1,"app":"pay","appEtag":"x","builtAt":"y","row":{"name":"pay"}}', 74)],
      ['another app', () => state().getBlockBlobClient('matrix/apps/cart.json').downloadToBuffer().then((b) => blob.upload(b, b.length))],
      // The registration written by something that announced nothing: its ETag no longer matches.
      ['registration changed behind its back', async () => {
        const { etag } = await silent.apps.get('pay');
        await silent.apps.update('pay', { branches: ['main', 'release'] }, etag);
      }],
    ];
    for (const [what, act] of damage) {
      await act();
      const { row, report } = await readFresh('pay');
      assert.equal(report.rebuilt, 1, `${what}: rebuilt`);
      assert.deepEqual(row, await recomputed('pay'), `${what}: equal to the records`);
      await assertSnapshotCurrent('pay', `${what}, then read again`);
    }
  });
  test('a write that bypassed the stores shows once the snapshot is old enough to be rechecked', async () => {
    await sources.apps.create({ name: 'ship', repoUrl: 'https://git.example.com/acme/ship.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'S' });
    await deploy('ship', 'dev', 5);
    await assertSnapshotCurrent('ship', 'deployed');
    await silent.controls.setFreeze('ship', 'dev', { kind: 'manual', by: { id: 'ops@example.com' }, at: NOW.toISOString(), reason: 'by hand' });
    const reader = new MatrixSnapshots(state(), sources, { now: () => new Date(NOW.getTime() + 6 * 60_000), log: () => undefined });
    const served = (await reader.overview()).apps.find((a) => a.name === 'ship');
    assert.equal(served?.environments[0]?.freeze, undefined, 'served from the snapshot as it was');
    await reader.idle();
    const rechecked = await reader.overview();
    assert.equal(rechecked.apps.find((a) => a.name === 'ship')?.environments[0]?.freeze?.reason, 'by hand');
    assert.equal(rechecked.report.rebuilt, 0, 'rebuilt in the background, not on the read');
  });
});
