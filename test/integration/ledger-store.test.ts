import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DeploymentLedger, RunStore } from '../../shared/ledger/index.js';
import { EnvironmentControls } from '../../shared/environments/index.js';
import { BlobSyncStore } from '../../shared/reconcile/index.js';
import type { NewDeployment } from '../../shared/domain/deployment.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
import { ConflictError, CorruptDataError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { withAzurite } from '../support/azurite.js';

let azurite: Awaited<ReturnType<typeof withAzurite>>;
let ledger: DeploymentLedger;
let runs: RunStore;
const state = () => containerClient(azurite.connectionString, CONTAINERS.state);

before(async () => {
  azurite = await withAzurite();
  ledger = new DeploymentLedger(state());
  let t = Date.parse('2026-03-01T00:00:00Z');
  runs = new RunStore(state(), { now: () => new Date((t += 1000)) });
});
after(async () => {
  await azurite.dispose();
});

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');
function deployment(n: number, over: Partial<NewDeployment> = {}): NewDeployment {
  return {
    commit: hex(n, 40),
    digest: `sha256:${hex(n, 64)}`,
    runId: `run-${n}`,
    kind: 'deploy',
    status: 'Succeeded',
    verification: [{ check: 0, attempt: 1, ok: true }],
    requestedBy: { id: 'alice@example.com', name: 'Alice' },
    startedAt: '2026-03-01T10:00:00Z',
    finishedAt: '2026-03-01T10:01:00Z',
    ...over,
  };
}

test('the first deployment is revision 1 and becomes current', async () => {
  assert.equal(await ledger.current('shop', 'dev'), undefined);
  const rec = await ledger.record('shop', 'dev', deployment(1));
  assert.equal(rec.revision, 1);
  assert.deepEqual(await ledger.current('shop', 'dev'), {
    app: 'shop',
    environment: 'dev',
    revision: 1,
    commit: hex(1, 40),
    digest: `sha256:${hex(1, 64)}`,
    finishedAt: '2026-03-01T10:01:00Z',
    runId: 'run-1',
    status: 'Succeeded',
    kind: 'deploy',
  });
  const stored = await ledger.get('shop', 'dev', 1);
  assert.deepEqual(stored.verification, [{ check: 0, attempt: 1, ok: true }]);
});

test('20 concurrent writers get 20 distinct, consecutive revisions and current is the last', async () => {
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => new DeploymentLedger(state()).record('shop', 'race', deployment(100 + i))));
  const revisions = results.map((r) => r.revision).sort((a, b) => a - b);
  assert.deepEqual(revisions, Array.from({ length: 20 }, (_, i) => i + 1));
  const current = await ledger.current('shop', 'race');
  assert.equal(current?.revision, 20);
  const last = await ledger.get('shop', 'race', 20);
  assert.equal(current?.commit, last.commit);
  assert.equal(current?.runId, last.runId);
  // Every history record is there exactly once, newest first across pages.
  const seen: number[] = [];
  let continuation: string | undefined;
  do {
    const page = await ledger.history('shop', 'race', { pageSize: 7, continuation });
    seen.push(...page.records.map((r) => r.revision));
    continuation = page.continuation;
  } while (continuation);
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => 20 - i));
  assert.equal(new Set(results.map((r) => r.runId)).size, 20);
});

test('a writer that died before moving current does not cause a gap or a rewind', async () => {
  await ledger.record('shop', 'crash', deployment(1));
  // Simulate a crash after the history create: revision 2 exists, current still says 1.
  const { createJson } = await import('../../shared/storage/blob-store.js');
  await createJson(state(), `ledger/shop/crash/history/${String(9_999_999_999 - 2).padStart(10, '0')}.json`, {
    ...deployment(2),
    app: 'shop',
    environment: 'crash',
    revision: 2,
    recordedAt: '2026-03-01T10:02:00Z',
  });
  assert.equal((await ledger.current('shop', 'crash'))?.revision, 1);
  const next = await ledger.record('shop', 'crash', deployment(3));
  assert.equal(next.revision, 3);
  assert.equal((await ledger.current('shop', 'crash'))?.revision, 3);
});

test('lastGood skips failed and bad revisions; markBad leaves history untouched', async () => {
  await ledger.record('shop', 'prod', deployment(1));
  await ledger.record('shop', 'prod', deployment(2));
  await ledger.record('shop', 'prod', deployment(3, { status: 'Failed', reason: 'verification failed: /healthz 500' }));
  await ledger.record('shop', 'prod', deployment(4, { kind: 'rollback', rolledBackTo: 2 }));
  assert.equal((await ledger.lastGood('shop', 'prod'))?.revision, 4);
  assert.equal((await ledger.lastGood('shop', 'prod', { before: 4 }))?.revision, 2);
  const before = await ledger.get('shop', 'prod', 2);
  await ledger.markBad('shop', 'prod', 2, 'data corruption found later', { id: 'bob@example.com' });
  assert.deepEqual(await ledger.get('shop', 'prod', 2), before, 'history is immutable');
  assert.equal((await ledger.lastGood('shop', 'prod', { before: 4 }))?.revision, 1);
  assert.equal((await ledger.badMarker('shop', 'prod', 2))?.reason, 'data corruption found later');
  await assert.rejects(ledger.markBad('shop', 'prod', 2, 'again'), ConflictError);
  await assert.rejects(ledger.markBad('shop', 'prod', 99, 'nope'), NotFoundError);
  assert.equal(await ledger.lastGood('shop', 'prod', { before: 1 }), undefined);
  assert.equal((await ledger.get('shop', 'prod', 4)).rolledBackTo, 2);
});

test('records stored under the old names (artifactDigest, rollbackOf, deployedAt, actor ids as strings) read under the new ones, losing nothing; new writes use the new names', async () => {
  const c = state();
  const put = (name: string, value: unknown) => {
    const text = JSON.stringify(value);
    return c.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
  };
  const old = (revision: number, over: Record<string, unknown> = {}) => ({
    commit: hex(revision, 40),
    artifactDigest: `sha256:${hex(revision, 64)}`,
    runId: `run-${revision}`,
    kind: 'deploy',
    status: 'Succeeded',
    verification: [{ check: 0, attempt: 1, ok: true }],
    requestedBy: 'carol@example.com',
    target: { image: 'registry.example/shop@sha256:abc' },
    startedAt: '2026-02-01T10:00:00Z',
    finishedAt: `2026-02-01T10:0${revision}:00Z`,
    app: 'shop',
    environment: 'legacy',
    revision,
    recordedAt: `2026-02-01T10:0${revision}:01Z`,
    ...over,
  });
  await put('ledger/shop/legacy/history/9999999998.json', old(1));
  await put('ledger/shop/legacy/history/9999999997.json', old(2, { status: 'Failed', reason: 'verification failed' }));
  await put('ledger/shop/legacy/history/9999999996.json', old(3, { kind: 'rollback', rollbackOf: 1, requestedBy: 'system' }));
  await put('ledger/shop/legacy/bad/0000000002.json', { revision: 2, reason: 'verification failed', markedBy: 'conveyor', markedAt: '2026-02-01T10:02:02Z' });
  await put('ledger/shop/legacy/current.json', {
    app: 'shop', environment: 'legacy', revision: 3, commit: hex(3, 40), artifactDigest: `sha256:${hex(3, 64)}`,
    deployedAt: '2026-02-01T10:03:00Z', runId: 'run-3', status: 'Succeeded', kind: 'rollback',
  });

  const { digest: _digest, ...rest } = deployment(1);
  assert.deepEqual(await ledger.get('shop', 'legacy', 1), {
    ...rest,
    digest: `sha256:${hex(1, 64)}`,
    requestedBy: { id: 'carol@example.com' },
    target: { image: 'registry.example/shop@sha256:abc' },
    startedAt: '2026-02-01T10:00:00Z',
    finishedAt: '2026-02-01T10:01:00Z',
    app: 'shop',
    environment: 'legacy',
    revision: 1,
    recordedAt: '2026-02-01T10:01:01Z',
  });
  const rollback = await ledger.get('shop', 'legacy', 3);
  assert.equal(rollback.rolledBackTo, 1);
  assert.deepEqual(rollback.requestedBy, { id: 'system' });
  assert.equal('rollbackOf' in rollback || 'artifactDigest' in rollback, false, 'the old names are gone from what is read');
  assert.deepEqual((await ledger.history('shop', 'legacy')).records.map((r) => [r.revision, r.digest, r.requestedBy?.id]), [
    [3, `sha256:${hex(3, 64)}`, 'system'],
    [2, `sha256:${hex(2, 64)}`, 'carol@example.com'],
    [1, `sha256:${hex(1, 64)}`, 'carol@example.com'],
  ]);
  assert.deepEqual(await ledger.badMarker('shop', 'legacy', 2), { revision: 2, reason: 'verification failed', markedBy: { id: 'conveyor' }, markedAt: '2026-02-01T10:02:02Z' });
  assert.equal((await ledger.lastGood('shop', 'legacy', { before: 3 }))?.revision, 1);
  assert.deepEqual(await ledger.current('shop', 'legacy'), {
    app: 'shop', environment: 'legacy', revision: 3, commit: hex(3, 40), digest: `sha256:${hex(3, 64)}`,
    finishedAt: '2026-02-01T10:03:00Z', runId: 'run-3', status: 'Succeeded', kind: 'rollback',
  });

  // The next deployment continues after the old ones and is written under the new names.
  const next = await ledger.record('shop', 'legacy', deployment(4, { kind: 'rollback', rolledBackTo: 1 }));
  assert.equal(next.revision, 4);
  const raw = async (name: string) => JSON.parse((await c.getBlockBlobClient(name).downloadToBuffer()).toString('utf8')) as Record<string, unknown>;
  const stored = await raw('ledger/shop/legacy/history/9999999995.json');
  assert.deepEqual([stored.digest, stored.rolledBackTo, stored.requestedBy], [`sha256:${hex(4, 64)}`, 1, { id: 'alice@example.com', name: 'Alice' }]);
  assert.equal('artifactDigest' in stored || 'rollbackOf' in stored, false);
  const pointer = await raw('ledger/shop/legacy/current.json');
  assert.deepEqual([pointer.revision, pointer.digest, pointer.finishedAt, 'deployedAt' in pointer], [4, `sha256:${hex(4, 64)}`, '2026-03-01T10:01:00Z', false]);
  // Reading never rewrote the old records.
  assert.equal((await raw('ledger/shop/legacy/history/9999999998.json')).artifactDigest, `sha256:${hex(1, 64)}`);
});

test('a quarantine and a sync state stored under the old name (artifactDigest) read as digest', async () => {
  const c = state();
  const put = (name: string, value: unknown) => {
    const text = JSON.stringify(value);
    return c.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
  };
  const d = `sha256:${hex(7, 64)}`;
  const q = { revision: 7, commit: hex(7, 40), by: 'ann@example.com', at: '2026-02-01T10:00:00Z', reason: 'rolled back' };
  await put(`environments/shop/legacy/quarantine/${hex(7, 64)}.json`, { artifactDigest: d, ...q });
  // The old id string in `by` reads as a whole actor, too.
  assert.deepEqual(await new EnvironmentControls(c).quarantined('shop', 'legacy', d), { digest: d, ...q, by: { id: 'ann@example.com' } });
  const sync = { app: 'shop', environment: 'legacy', sync: 'in-sync', reason: 'runs revision 7', since: 't0', checkedAt: 't1' };
  await put('reconcile/shop/legacy/sync.json', { ...sync, expected: { revision: 7, commit: hex(7, 40), artifactDigest: d } });
  assert.deepEqual(await new BlobSyncStore(c).get('shop', 'legacy'), { ...sync, expected: { revision: 7, commit: hex(7, 40), digest: d } });
});

test('invalid input is rejected before anything is written', async () => {
  await assert.rejects(ledger.record('Shop', 'dev', deployment(1)), ValidationError);
  await assert.rejects(ledger.record('shop', '../x', deployment(1)), ValidationError);
  await assert.rejects(ledger.record('shop', 'dev', deployment(1, { digest: 'md5:abc' })), ValidationError);
  await assert.rejects(ledger.get('shop', 'dev', 0), ValidationError);
  await assert.rejects(ledger.get('shop', 'dev', 999), NotFoundError);
});

test('foreign or corrupt ledger content is a CorruptDataError with a clear message', async () => {
  const c = state();
  await c.getBlockBlobClient('ledger/shop/weird/current.json').upload('<html>not json</html>', 21);
  await assert.rejects(ledger.current('shop', 'weird'), (err: unknown) => {
    assert.ok(err instanceof CorruptDataError);
    assert.match(err.message, /ledger\/shop\/weird\/current\.json is not valid JSON/);
    return true;
  });
  await c.getBlockBlobClient('ledger/shop/weird2/current.json').upload('{"revision":"one"}', 18);
  await assert.rejects(ledger.current('shop', 'weird2'), /does not have the expected shape/);
  // A record stored under the wrong revision (copied by hand) is caught.
  await ledger.record('shop', 'moved', deployment(1));
  const rec = await ledger.get('shop', 'moved', 1);
  const body = JSON.stringify({ ...rec });
  await c.getBlockBlobClient(`ledger/shop/moved/history/${String(9_999_999_999 - 2).padStart(10, '0')}.json`).upload(body, body.length);
  await assert.rejects(ledger.get('shop', 'moved', 2), /claims shop\/moved revision 1/);
  await c.getBlockBlobClient('ledger/shop/moved/history/notes.txt').upload('hi', 2);
  await assert.rejects(ledger.history('shop', 'moved'), CorruptDataError);
});

test('run records: an update starts from the version its store wrote, and re-reads when another store wrote since (no change lost)', async () => {
  // Two stores over one container: two processes running activities of one run.
  const mine = new RunStore(state());
  const theirs = new RunStore(state());
  await mine.create({ app: 'depot', runId: 'two-writers', status: 'Running', commit: hex(3, 40) });
  await mine.update('depot', 'two-writers', (r) => ({ ...r, stages: { ...r.stages, build: { status: 'Succeeded' } } }));
  await theirs.update('depot', 'two-writers', (r) => ({ ...r, stages: { ...r.stages, test: { status: 'Running' } } }));
  // `mine` last wrote the version before theirs: its conditioned write is refused, it re-reads.
  const seen: string[][] = [];
  const after = await mine.update('depot', 'two-writers', (r) => {
    seen.push(Object.keys(r.stages).sort());
    return { ...r, stages: { ...r.stages, test: { status: 'Succeeded' } }, status: 'Succeeded' };
  });
  assert.deepEqual(seen, [['build'], ['build', 'test']], 'first from its own version, then from the stored one');
  assert.deepEqual((await theirs.get('depot', 'two-writers')).value, after);
  assert.deepEqual(Object.keys(after.stages).sort(), ['build', 'test']);
  // What a caller does to the returned record does not leak into the next update.
  after.stages.build!.status = 'Failed';
  await mine.update('depot', 'two-writers', (r) => {
    assert.equal(r.stages.build?.status, 'Succeeded');
    return r;
  });
  // A record removed behind the store's back: the update reports it missing, as without the kept version.
  await state().getBlobClient('runs/depot/two-writers.json').delete();
  await assert.rejects(mine.update('depot', 'two-writers', (r) => r), NotFoundError);
});

test('run records: create once, update with ETags under concurrency, list newest first', async () => {
  const created = await runs.create({ app: 'shop', runId: 'r-1', status: 'Running', commit: hex(1, 40), branch: 'main' });
  assert.deepEqual(created.value.stages, {});
  await assert.rejects(runs.create({ app: 'shop', runId: 'r-1', status: 'Running', commit: hex(1, 40) }), ConflictError);
  // Ten concurrent updates each add one stage: none is lost.
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      runs.update('shop', 'r-1', (r) => ({ ...r, stages: { ...r.stages, [`s${i}`]: { status: 'Succeeded' } } })),
    ),
  );
  const after = await runs.get('shop', 'r-1');
  assert.equal(Object.keys(after.value.stages).length, 10);
  // A stale ETag is refused.
  await assert.rejects(runs.replace({ ...after.value, status: 'Failed' }, created.etag), ConflictError);
  await runs.replace({ ...after.value, status: 'Succeeded' }, after.etag);

  for (const id of ['r-2', 'a-3', 'z-4', 'm-5']) await runs.create({ app: 'shop', runId: id, status: 'Pending', commit: hex(2, 40) });
  const page1 = await runs.list('shop', { pageSize: 3 });
  assert.deepEqual(page1.runs.map((r) => r.runId), ['m-5', 'z-4', 'a-3']);
  assert.ok(page1.continuation);
  const page2 = await runs.list('shop', { pageSize: 3, continuation: page1.continuation });
  assert.deepEqual(page2.runs.map((r) => r.runId), ['r-2', 'r-1']);
  assert.equal(page2.continuation, undefined);
  await assert.rejects(runs.get('shop', 'nope'), NotFoundError);
  await assert.rejects(runs.get('shop', '../../etc'), ValidationError);
});

test('a corrupt run record is reported, not crashed on', async () => {
  await state().getBlockBlobClient('runs/shop/broken.json').upload('{"app":"shop"}', 14);
  await assert.rejects(runs.get('shop', 'broken'), (err: unknown) => err instanceof CorruptDataError && /runs\/shop\/broken\.json/.test(err.message));
});

test('recording at a given revision is idempotent for the same run and never opens a gap', async () => {
  assert.equal(await ledger.latestRevision('shop', 'given'), 0);
  const first = await ledger.record('shop', 'given', deployment(1), { revision: 1 });
  assert.equal(first.revision, 1);
  // A retried activity finds its own record and returns it.
  const retry = await ledger.record('shop', 'given', deployment(1), { revision: 1 });
  assert.deepEqual(retry, first);
  // Another run cannot take the same number, and nobody may skip ahead.
  await assert.rejects(ledger.record('shop', 'given', deployment(2), { revision: 1 }), ConflictError);
  await assert.rejects(ledger.record('shop', 'given', deployment(3), { revision: 3 }), /would leave a gap/);
  assert.equal((await ledger.record('shop', 'given', deployment(2), { revision: 2 })).revision, 2);
  assert.equal(await ledger.latestRevision('shop', 'given'), 2);
  assert.equal((await ledger.current('shop', 'given'))?.revision, 2);
});

test('environments lists the environments of an app that have a ledger', async () => {
  await ledger.record('envs', 'dev', deployment(1));
  await ledger.record('envs', 'prod', deployment(1));
  assert.deepEqual(await ledger.environments('envs'), ['dev', 'prod']);
  assert.deepEqual(await ledger.environments('nothing-here'), []);
});

test('a brand-new account (no state container yet) has no history, no current and no last good revision', async () => {
  const empty = new DeploymentLedger(containerClient(azurite.connectionString, 'empty-state'));
  assert.equal(await empty.current('shop', 'dev'), undefined);
  assert.deepEqual(await empty.history('shop', 'dev'), { records: [] });
  assert.equal(await empty.lastGood('shop', 'dev'), undefined);
  assert.deepEqual(await new RunStore(containerClient(azurite.connectionString, 'empty-state')).list('shop'), { runs: [] });
});
