/** The reconcile loop: the heads sweep (missed pushes), the drift sweep (what runs vs the ledger), heal decisions. */
export * from './heads-sweep.js';
export * from './drift.js';
export * from './drift-sweep.js';
export { appHeadsSchema, BlobSyncStore, environmentSyncSchema, syncChangeSchema, type AppHeadsStatus } from './sync-store.js';
export { mapBounded, withDeadline, type Settled } from './pool.js';
export { publishingSyncStore, syncChangedEvent, type EventRecorder } from './sync-events.js';
