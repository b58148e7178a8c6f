// Deployment events through the outbox (real Azurite) to a Service Bus topic (the local
// emulator, real SDK): published when the topic is up, the outbox untouched; kept in the
// outbox during an outage without failing the caller, and published by a later flush; a
// repeated publish of the same change is dropped by the topic's duplicate detection.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { startEmulator, type RunningEmulator } from '../../local/servicebus/emulator.js';
import { EventBus, EventOutbox, eventsFromRunPatch, ServiceBusEventPublisher } from '../../shared/events/index.js';
import { listAllNames } from '../../shared/storage/blob-store.js';
import { EVENTS_TOPOLOGY as topology, startEventsTopic, type EventsTopic } from '../support/events-topic.js';

let topic: EventsTopic;
let container: ContainerClient;
let emulator: RunningEmulator;

before(async () => {
  topic = await startEventsTopic('conveyor-events-');
  ({ container, emulator } = topic);
});

after(async () => {
  await topic?.dispose();
});

const drain = (n: number, timeoutMs?: number) => topic.drain(n, timeoutMs);

const T = '2026-11-30T03:00:00.000Z';

test('recorded events reach the topic as CloudEvents without touching the outbox; a retried change is published once', async () => {
  const publisher = new ServiceBusEventPublisher({ connectionString: emulator.connectionString }, 'conveyor-events');
  const bus = new EventBus({ outbox: new EventOutbox(container, 'outbox-a/'), publisher });
  const events = eventsFromRunPatch('shop', 'shop.abc1234', { status: 'Succeeded', environments: { prod: { status: 'Succeeded', revision: 4 } } }, T);
  await bus.record(events);
  await bus.record(eventsFromRunPatch('shop', 'shop.abc1234', { status: 'Succeeded', environments: { prod: { status: 'Succeeded', revision: 4 } } }, '2026-11-30T03:00:09.000Z'));
  assert.deepEqual(await listAllNames(container, 'outbox-a/'), []);
  const got = await drain(2);
  assert.deepEqual(got.map((m) => m.messageId).sort(), events.map((e) => e.id).sort());
  const deployed = got.find((m) => m.subject === 'dev.conveyor.environment.deployed')!;
  assert.equal(deployed.contentType, 'application/cloudevents+json');
  assert.deepEqual(deployed.applicationProperties, { type: 'dev.conveyor.environment.deployed', app: 'shop', environment: 'prod', status: 'Succeeded' });
  assert.equal((deployed.body as { specversion: string }).specversion, '1.0');
  assert.equal((deployed.body as { source: string }).source, '/apps/shop/environments/prod');
  await publisher.close();
});

test('during an outage the caller is not failed; the events wait in the outbox and a flush publishes them', async () => {
  const downDir = mkdtempSync(join(tmpdir(), 'conveyor-events-down-'));
  const down = await startEmulator({ dataDir: downDir, topology });
  const deadCs = down.connectionString;
  await down.stop();
  const deadPublisher = new ServiceBusEventPublisher({ connectionString: deadCs }, 'conveyor-events');
  const outbox = new EventOutbox(container, 'outbox-b/');
  const failing = new EventBus({ outbox, publisher: deadPublisher, publishTimeoutMs: 500 });
  const events = eventsFromRunPatch('shop', 'shop.def5678', { status: 'Failed', reason: 'verification failed' }, T);
  const started = Date.now();
  await failing.record(events);
  assert.ok(Date.now() - started < 5000);
  assert.equal((await listAllNames(container, 'outbox-b/')).length, 1);
  // While the topic is known to be down, further changes only go to the outbox (no waiting).
  const more = eventsFromRunPatch('shop', 'shop.def5678', { environments: { dev: { status: 'Failed' } } }, T);
  const t2 = Date.now();
  await failing.record(more);
  assert.ok(Date.now() - t2 < 400, 'no publish attempt during the back-off');
  assert.equal((await listAllNames(container, 'outbox-b/')).length, 2);
  await deadPublisher.close().catch(() => {});

  const publisher = new ServiceBusEventPublisher({ connectionString: emulator.connectionString }, 'conveyor-events');
  const healthy = new EventBus({ outbox, publisher });
  assert.equal(await healthy.flush(), 2);
  assert.deepEqual(await listAllNames(container, 'outbox-b/'), []);
  const got = await drain(2);
  assert.deepEqual(got.map((m) => m.messageId).sort(), [...events, ...more].map((e) => e.id).sort());
  await publisher.close();
  rmSync(downDir, { recursive: true, force: true });
});

test('without a Service Bus, nothing is recorded', async () => {
  const bus = new EventBus({ outbox: new EventOutbox(container, 'outbox-c/') });
  assert.equal(bus.enabled, false);
  await bus.record(eventsFromRunPatch('shop', 'shop.abc1234', { status: 'Running' }, T));
  assert.deepEqual(await listAllNames(container, 'outbox-c/'), []);
});
