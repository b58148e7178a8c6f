// Freeze and quarantine events against real Azurite: the environment controls Conveyor composes
// (PublishingEnvironmentControls, behind the freeze API, the freezeAfterRollback activity and any
// use-case) record an event for every change through the real event bus and outbox; a repeated
// change (already frozen, a digest quarantined again, a retried gate check) publishes nothing new
// (the same id, dropped by the topic's duplicate detection); the gate activity records
// quarantine.enforced when a quarantine refuses a promotion.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEnvironmentGate, freezeAfterRollback } from '../../functions/activities/environment-gate.activity.js';
import type { Services } from '../../functions/composition-root.js';
import { EventBus, EventOutbox, PublishingEnvironmentControls, type CloudEvent, type EventPublisher } from '../../shared/events/index.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
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
  await controls.setFreeze('shop', 'prod', { kind: 'manual', by: 'alice@example.com', at: '2026-11-30T05:00:00.000Z', reason: 'release weekend' });
  const again = await controls.setFreeze('shop', 'prod', { kind: 'manual', by: 'bob@example.com', at: '2026-11-30T05:01:00.000Z', reason: 'me too' });
  assert.equal(again.already, true);
  const [frozen, ...more] = ofType('dev.conveyor.environment.frozen');
  assert.equal(more.length, 0, 'an existing freeze is not published again');
  assert.equal(frozen!.source, '/apps/shop/environments/prod');
  assert.deepEqual(frozen!.data, { app: 'shop', environment: 'prod', kind: 'manual', by: 'alice@example.com', at: '2026-11-30T05:00:00.000Z', reason: 'release weekend' });

  assert.ok(await controls.unfreeze('shop', 'prod', 'carol@example.com', 'done', '2026-11-30T06:00:00.000Z'));
  assert.equal(await controls.unfreeze('shop', 'prod', 'carol@example.com', 'again', '2026-11-30T06:01:00.000Z'), undefined);
  const unfrozen = ofType('dev.conveyor.environment.unfrozen');
  assert.equal(unfrozen.length, 1, 'lifting nothing publishes nothing');
  assert.deepEqual(unfrozen[0]!.data, { app: 'shop', environment: 'prod', kind: 'manual', by: 'carol@example.com', at: '2026-11-30T06:00:00.000Z', reason: 'done', frozenBy: 'alice@example.com' });
  assert.notEqual(unfrozen[0]!.id, frozen!.id);
});

test('a rollback that freezes and quarantines publishes both; a retried activity publishes the same ids', async () => {
  const activity = freezeAfterRollback({ controls, ledger: {} } as unknown as Pick<Services, 'controls' | 'ledger'>);
  const input = { app: 'shop', environment: 'staging', by: 'dave@example.com', reason: 'bad build', freeze: true, quarantine: { revision: 4, commit: 'c'.repeat(40), digest: DIGEST } };
  await activity(input);
  await activity(input);
  const frozen = ofType('dev.conveyor.environment.frozen').filter((e) => e.data.environment === 'staging');
  assert.equal(frozen.length, 1);
  assert.equal(frozen[0]!.data.kind, 'rollback');
  const added = ofType('dev.conveyor.quarantine.added');
  assert.equal(new Set(added.map((e) => e.id)).size, 1, 'the repeat has the same id (the topic drops it)');
  assert.deepEqual({ ...added[0]!.data, at: undefined }, { app: 'shop', environment: 'staging', digest: DIGEST, revision: 4, commit: 'c'.repeat(40), by: 'dave@example.com', at: undefined, reason: 'bad build' });
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
