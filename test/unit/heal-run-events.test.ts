// A heal is recorded as a run with trigger `heal`: its run-record patches create the record with
// that trigger, its events carry it, and Git hosts are not told about it (a heal is no verdict
// on the commit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsFromRunPatch } from '../../shared/events/index.js';
import { feedbackUpdateFor } from '../../shared/feedback/feedback-mapping.js';
import { recordRunPatch } from '../../shared/use-cases/record-run.use-case.js';
import { appOfHealId, healInstanceId } from '../../shared/domain/ids.js';
import { InMemoryRunStore } from '../support/fakes.js';

const T = '2026-11-30T03:00:00.000Z';
const healId = healInstanceId('shop', 'prod', 7, 2);

test('a heal id names its app; other ids do not pass for one', () => {
  assert.equal(appOfHealId(healId), 'shop');
  for (const id of ['shop.abc1234', 'heal.shop.prod', 'heal.Shop.prod.7.2', 'rollback.shop.prod.1.2']) assert.equal(appOfHealId(id), undefined, id);
});

test('the first patch of a heal creates its run record with trigger heal', async () => {
  const runs = {};
  const store = new InMemoryRunStore(runs);
  await recordRunPatch(store, 'shop', healId, { trigger: 'heal', status: 'Running', commit: 'c'.repeat(40), pusher: { id: 'system' }, environments: { prod: { status: 'Running' } } });
  await recordRunPatch(store, 'shop', healId, { trigger: 'heal', status: 'Succeeded', environments: { prod: { status: 'Succeeded', revision: 9 } } });
  const { value: run } = await store.get('shop', healId);
  assert.equal(run.trigger, 'heal');
  assert.equal(run.status, 'Succeeded');
  assert.equal(run.environments.prod?.revision, 9);
});

test('events of a heal carry trigger heal, and Git host feedback ignores them', () => {
  const events = eventsFromRunPatch('shop', healId, { trigger: 'heal', status: 'Succeeded', commit: 'c'.repeat(40), environments: { prod: { status: 'Succeeded', revision: 9 } } }, T);
  assert.deepEqual(events.map((e) => [e.type, e.data.trigger]), [['dev.conveyor.run.succeeded', 'heal'], ['dev.conveyor.environment.deployed', 'heal']]);
  for (const e of events) assert.equal(feedbackUpdateFor(e), undefined, e.type);
  // A pushed run's events still reach the Git host.
  const pushed = eventsFromRunPatch('shop', 'shop.abc1234', { status: 'Succeeded', commit: 'c'.repeat(40) }, T);
  assert.ok(feedbackUpdateFor(pushed[0]!));
});
