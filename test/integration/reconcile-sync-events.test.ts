// The drift sweep's sync-state changes as events, through the real parts: sync states in blob
// storage (Azurite), the event outbox, and a Service Bus topic on the local emulator read with
// the real SDK. The environment's target is a scripted observer (our own port). Each change of
// state publishes exactly one `dev.conveyor.environment.sync-changed` event with its data; a
// sweep that sees no change publishes none.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerClient } from '@azure/storage-blob';
import type { RunningEmulator } from '../../local/servicebus/emulator.js';
import type { CurrentDeployment } from '../../shared/domain/deployment.js';
import { EventBus, EventOutbox, ServiceBusEventPublisher } from '../../shared/events/index.js';
import { BlobSyncStore, publishingSyncStore, sweepDrift, type DriftSweepPorts, type Observation } from '../../shared/reconcile/index.js';
import { listAllNames } from '../../shared/storage/blob-store.js';
import { startEventsTopic, type EventsTopic } from '../support/events-topic.js';

let topic: EventsTopic;
let container: ContainerClient;
let emulator: RunningEmulator;

before(async () => {
  topic = await startEventsTopic('conveyor-sync-events-');
  ({ container, emulator } = topic);
});

after(async () => {
  await topic?.dispose();
});

const drain = (n: number, timeoutMs?: number) => topic.drain(n, timeoutMs);

test('a drift change publishes exactly one sync-changed event with its data; an unchanged sweep publishes none', async () => {
  const current: CurrentDeployment = { app: 'shop', environment: 'prod', revision: 7, commit: 'c'.repeat(40), digest: `sha256:${'d'.repeat(64)}`, finishedAt: '2026-11-30T01:00:00.000Z', runId: `shop.${'c'.repeat(40)}`, status: 'Succeeded', kind: 'deploy' };
  const running: Observation = { status: { app: 'shop', environment: 'prod', state: 'running', running: true, healthy: true, revision: 7, commit: current.commit, digest: current.digest, details: { port: 4100 } } };
  const killed: Observation = { status: { app: 'shop', environment: 'prod', state: 'exited', running: false, healthy: false, revision: 7, reason: 'killed by SIGKILL', details: { port: 4100 } } };
  let observation = running;
  let clock = Date.parse('2026-11-30T02:00:00.000Z');
  const publisher = new ServiceBusEventPublisher({ connectionString: emulator.connectionString }, 'conveyor-events');
  const bus = new EventBus({ outbox: new EventOutbox(container, 'outbox-sync/'), publisher });
  const warnings: string[] = [];
  const ports: DriftSweepPorts = {
    catalog: { environments: async () => [{ name: 'prod', drift: 'report' }] },
    ledger: { current: async () => current },
    observer: { observe: async () => observation },
    store: publishingSyncStore(new BlobSyncStore(container), bus, (m) => warnings.push(m)),
    healer: { start: async () => assert.fail('drift: report never heals'), outcome: async () => ({ state: 'running' }) },
    now: () => new Date(clock),
  };
  const sweep = async () => {
    clock += 60_000;
    const [report] = await sweepDrift(['shop'], ports);
    assert.ok(report?.ok, report?.error);
    return report!.environments[0]!;
  };

  // First sight: in sync (a change from nothing), one event.
  assert.equal((await sweep()).changed, true);
  const first = await drain(1);
  assert.equal(first.length, 1);
  assert.deepEqual((first[0]!.body as { data: unknown }).data, { app: 'shop', environment: 'prod', to: 'in-sync', reason: (await new BlobSyncStore(container).get('shop', 'prod'))!.reason, at: '2026-11-30T02:01:00.000Z' });

  // Unchanged: no event.
  assert.equal((await sweep()).changed, false);
  assert.equal((await drain(0)).length, 0);

  // The process is killed: drifted, exactly one event saying from what to what, why and when.
  observation = killed;
  const drifted = await sweep();
  assert.equal(drifted.sync, 'drifted');
  const [event, ...extra] = await drain(1);
  assert.deepEqual(extra, [], 'exactly one event');
  assert.equal(event!.subject, 'dev.conveyor.environment.sync-changed');
  assert.equal(event!.contentType, 'application/cloudevents+json');
  const body = event!.body as { type: string; source: string; subject: string; time: string; id: string; data: Record<string, unknown> };
  assert.equal(body.type, 'dev.conveyor.environment.sync-changed');
  assert.equal(body.source, '/apps/shop/environments/prod');
  assert.equal(body.subject, 'sync/2026-11-30T02:03:00.000Z');
  assert.equal(body.id, event!.messageId);
  assert.deepEqual(body.data, { app: 'shop', environment: 'prod', from: 'in-sync', to: 'drifted', reason: drifted.reason, at: '2026-11-30T02:03:00.000Z' });
  assert.match(String(body.data.reason), /not running/);

  // Still drifted: nothing more; the outbox is empty (everything was published).
  await sweep();
  assert.equal((await drain(0)).length, 0);
  assert.deepEqual(await listAllNames(container, 'outbox-sync/'), []);
  assert.deepEqual(warnings, []);
  await publisher.close();
});
