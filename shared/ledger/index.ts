/** Deployment ledger (gap-free revisions, ETag-guarded `current`) and run records. */
export { DeploymentLedger, deploymentRecordSchema, currentDeploymentSchema, type HistoryPage, type LedgerOptions } from './deployment-ledger.js';
export { RunStore, runRecordSchema, type NewRun, type RunPage, type RunStoreOptions } from './run-store.js';
