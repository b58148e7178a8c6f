/**
 * Sync-state changes as events: each change the drift sweep records is published once as
 * `dev.conveyor.environment.sync-changed` (docs/events.md), after it is stored, so an event never
 * announces a change that was not recorded. The event id comes from the change itself, so a
 * change recorded twice (a retried sweep) is dropped by the topic's duplicate detection.
 */
import { buildEvent, type CloudEvent } from '../events/index.js';
import type { SyncChange } from './drift.js';
import type { SyncStore } from './drift-sweep.js';

/** Longest reason carried by the event (the stored change keeps it whole). */
const EVENT_REASON_MAX = 1000;

/** The `dev.conveyor.environment.sync-changed` event of one change. */
export function syncChangedEvent(change: SyncChange): CloudEvent {
  return buildEvent('dev.conveyor.environment.sync-changed', {
    source: `/apps/${change.app}/environments/${change.environment}`,
    subject: `sync/${change.at}`,
    time: change.at,
    change: `${change.from ?? ''}>${change.to}@${change.at}`,
    data: { app: change.app, environment: change.environment, ...(change.from ? { from: change.from } : {}), to: change.to, reason: change.reason.slice(0, EVENT_REASON_MAX), at: change.at },
  });
}

/** Where events go (the event bus: outbox, then the topic). */
export interface EventRecorder {
  record(events: readonly CloudEvent[]): Promise<void>;
}

/**
 * `store` with every recorded change also published. An event that cannot be recorded is
 * reported through `warn` and does not fail the sweep (the change itself is stored).
 */
export function publishingSyncStore(store: SyncStore, events: EventRecorder, warn: (message: string) => void): SyncStore {
  return {
    get: (app, environment) => store.get(app, environment),
    put: (sync) => store.put(sync),
    async recordChange(change) {
      await store.recordChange(change);
      await events.record([syncChangedEvent(change)]).catch((err: unknown) => warn(`sync event for ${change.app}/${change.environment} not recorded: ${err instanceof Error ? err.message : String(err)}`));
    },
  };
}
