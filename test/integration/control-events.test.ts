// Freeze and quarantine events against real Azurite: the environment controls Conveyor composes
// (PublishingEnvironmentControls, behind the freeze API, the freezeAfterRollback activity and any
// use-case) record an event for every change through the real event bus and outbox; a repeated
// change (already frozen, a digest quarantined again, a retried gate check) publishes nothing new
// (the same id, dropped by the topic's duplicate detection); the gate activity records
// quarantine.enforced when a quarantine refuses a promotion. Records stored before actors were
// whole (a bare id in `by`) read as whole actors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEnvironmentGate, freezeAfterRollback } from '../../functions/activities/environment-gate.activity.js';
import type { Services } from '../../functions/composition-root.js';
import { EventBus, EventOutbox, PublishingEnvironmentControls, type CloudEvent, type EventPublisher } from '../../shared/events/index.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
import { RunStore } from '../../shared/ledger/index.js';
import { withAzurite } from '../support/azurite.js';

let azurite: Awaited<ReturnType<typeof withAzurite>>;
let controls: PublishingEnvironmentControls;
let events: EventBus;
const published: CloudEvent[] = [];
const DIGEST = `sha256:${'ab'.repeat(32)}`;

before(async () => {
  azurite = await withAzurite();
  const state = containerClient(azurite.connectionString, CONTAINERS.state);
  // The topic, as the publisher port sees it: every acknowledged event.
  const publisher: EventPublisher = { publish: async (e) => void published.push(...e), close: async () => {} };
  events = new EventBus({ outbox: new EventOutbox(state), publisher });
  controls = new PublishingEnvironmentControls(state, undefined, events);
});
after(async () => {
  await azurite?.dispose();
});

const ofType = (type: string) => published.filter((e) => e.type === type);

test('a freeze is published once, with who, when and why; lifting it is published with who had frozen', async () => {
  await controls.setFreeze('shop', 'prod', { kind: 'manual', by: { id: 'alice@example.com', name: 'Alice' }, at: '2026-11-30T05:00:00.000Z', reason: 'release weekend' });
  const again = await controls.setFreeze('shop', 'prod', { kind: 'manual', by: { id: 'bob@example.com' }, at: '2026-11-30T05:01:00.000Z', reason: 'me too' });
  assert.equal(again.already, true);
  const [frozen, ...more] = ofType('dev.conveyor.environment.frozen');
  assert.equal(more.length, 0, 'an existing freeze is not published again');
  assert.equal(frozen!.source, '/apps/shop/environments/prod');
  assert.deepEqual(frozen!.data, { app: 'shop', environment: 'prod', kind: 'manual', by: { id: 'alice@example.com', name: 'Alice' }, at: '2026-11-30T05:00:00.000Z', reason: 'release weekend' });

  assert.ok(await controls.unfreeze('shop', 'prod', { id: 'carol@example.com' }, 'done', '2026-11-30T06:00:00.000Z'));
  assert.equal(await controls.unfreeze('shop', 'prod', { id: 'carol@example.com' }, 'again', '2026-11-30T06:01:00.000Z'), undefined);
  const unfrozen = ofType('dev.conveyor.environment.unfrozen');
  assert.equal(unfrozen.length, 1, 'lifting nothing publishes nothing');
  assert.deepEqual(unfrozen[0]!.data, { app: 'shop', environment: 'prod', kind: 'manual', by: { id: 'carol@example.com' }, at: '2026-11-30T06:00:00.000Z', reason: 'done', frozenBy: { id: 'alice@example.com', name: 'Alice' } });
  assert.notEqual(unfrozen[0]!.id, frozen!.id);
});

test('a rollback that freezes and quarantines publishes both; a retried activity publishes the same ids', async () => {
  const activity = freezeAfterRollback({ controls, ledger: {} } as unknown as Pick<Services, 'controls' | 'ledger'>);
  const input = { app: 'shop', environment: 'staging', by: { id: 'dave@example.com' }, reason: 'bad build', freeze: true, quarantine: { revision: 4, commit: 'c'.repeat(40), digest: DIGEST } };
  await activity(input);
  await activity(input);
  const frozen = ofType('dev.conveyor.environment.frozen').filter((e) => e.data.environment === 'staging');
  assert.equal(frozen.length, 1);
  assert.equal(frozen[0]!.data.kind, 'rollback');
  const added = ofType('dev.conveyor.quarantine.added');
  assert.equal(new Set(added.map((e) => e.id)).size, 1, 'the repeat has the same id (the topic drops it)');
  assert.deepEqual({ ...added[0]!.data, at: undefined }, { app: 'shop', environment: 'staging', digest: DIGEST, revision: 4, commit: 'c'.repeat(40), by: { id: 'dave@example.com' }, at: undefined, reason: 'bad build' });
  assert.equal(added[0]!.subject, `quarantine/${DIGEST}`);
});

test('a promotion refused by a quarantine publishes quarantine.enforced, stable per gate check', async () => {
  const gate = checkEnvironmentGate({ controls, apps: {}, events } as unknown as Pick<Services, 'controls' | 'apps' | 'events'>);
  const input = { app: 'shop', environment: 'staging', kind: 'promotion' as const, digest: DIGEST, now: '2026-11-30T07:00:00.000Z' };
  const out = await gate(input);
  assert.equal(out.state, 'refused');
  await gate(input);
  await gate({ ...input, now: '2026-11-30T07:05:00.000Z' });
  const enforced = ofType('dev.conveyor.quarantine.enforced');
  assert.equal(enforced.length, 3);
  assert.equal(new Set(enforced.map((e) => e.id)).size, 2, 'a retried check has the same id; a later check a new one');
  assert.equal(enforced[0]!.data.refused, 'promotion');
  assert.equal(enforced[0]!.data.revision, 4);
  assert.equal(enforced[0]!.time, '2026-11-30T07:00:00.000Z');
});

test('freezes, freeze log entries, quarantines and break-glass stored with a bare id in `by` read as whole actors', async () => {
  // Blobs as Conveyor wrote them before actors were whole, written straight into Azurite.
  const state = containerClient(azurite.connectionString, CONTAINERS.state);
  const put = async (name: string, value: unknown) => {
    const text = JSON.stringify(value);
    await state.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
  };
  const oldDigest = `sha256:${'cd'.repeat(32)}`;
  await put('environments/legacy/prod/freeze.json', { kind: 'rollback', by: 'erin@example.com', at: '2026-11-01T10:00:00.000Z', reason: 'old incident' });
  await put('environments/legacy/prod/freeze-log/0000000000001-abcdef.json', { action: 'freeze', kind: 'rollback', by: 'erin@example.com', at: '2026-11-01T10:00:00.000Z', reason: 'old incident' });
  await put(`environments/legacy/prod/quarantine/${'cd'.repeat(32)}.json`, { artifactDigest: oldDigest, revision: 3, commit: 'e'.repeat(40), by: 'erin@example.com', at: '2026-11-01T10:00:00.000Z', reason: 'old incident' });
  assert.deepEqual(await controls.freeze('legacy', 'prod'), { kind: 'rollback', by: { id: 'erin@example.com' }, at: '2026-11-01T10:00:00.000Z', reason: 'old incident' });
  assert.deepEqual((await controls.freezeLog('legacy', 'prod')).map((e) => e.by), [{ id: 'erin@example.com' }]);
  assert.deepEqual(await controls.quarantined('legacy', 'prod', oldDigest), { digest: oldDigest, revision: 3, commit: 'e'.repeat(40), by: { id: 'erin@example.com' }, at: '2026-11-01T10:00:00.000Z', reason: 'old incident' });
  // The gate's refusal names the id as before.
  const gate = checkEnvironmentGate({ controls, apps: {}, events } as unknown as Pick<Services, 'controls' | 'apps' | 'events'>);
  const refused = await gate({ app: 'legacy', environment: 'prod', kind: 'promotion', digest: oldDigest, now: '2026-11-30T07:10:00.000Z' });
  assert.match(refused.state === 'refused' ? refused.reason : '', /rolled back by erin@example\.com at 2026-11-01/);
  // Unfreezing an old-format freeze publishes whole actors on both sides.
  await controls.unfreeze('legacy', 'prod', { id: 'frank@example.com', name: 'Frank' }, 'over', '2026-11-30T07:11:00.000Z');
  const lifted = ofType('dev.conveyor.environment.unfrozen').find((e) => e.data.app === 'legacy');
  assert.deepEqual([lifted?.data.by, lifted?.data.frozenBy], [{ id: 'frank@example.com', name: 'Frank' }, { id: 'erin@example.com' }]);
  // A run record whose break-glass names only the id.
  const runs = new RunStore(state);
  const at = '2026-11-01T09:00:00.000Z';
  await put('runs/legacy/legacy-r1.json', { app: 'legacy', runId: 'legacy-r1', status: 'Succeeded', commit: 'e'.repeat(40), stages: {}, environments: { prod: { status: 'Succeeded', revision: 3, breakGlass: { by: 'erin@example.com', reason: 'outage', at } } }, createdAt: at, updatedAt: at });
  assert.deepEqual((await runs.get('legacy', 'legacy-r1')).value.environments.prod?.breakGlass, { by: { id: 'erin@example.com' }, reason: 'outage', at });
});
