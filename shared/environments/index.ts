/** Per-environment controls: freezes (manual and after a rollback) and quarantined digests. */
export { EnvironmentControls, type FreezeEvent, type Quarantine } from './freeze-store.js';
