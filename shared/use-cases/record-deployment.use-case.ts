/**
 * Recording a finished deployment: stored under the revision it was deployed as (idempotent: a
 * retried call finds its own record), and a failed deploy of a new artifact (not a rollback) is
 * also marked bad, so no rollback ever returns to it.
 */
import { ledgerEntry, type DeploymentOutcome, type DeploymentRecord } from '../domain/deployment.js';
import { ConflictError } from '../errors.js';
import type { DeploymentLedger } from '../ledger/deployment-ledger.js';

/** The ledger operations recording needs (an in-memory fake implements them in tests). */
export type RecordingLedger = Pick<DeploymentLedger, 'record' | 'markBad'>;

/** Records `outcome` in the ledger; returns the stored record. */
export async function recordDeployment(ledger: RecordingLedger, outcome: DeploymentOutcome): Promise<DeploymentRecord> {
  const record = await ledger.record(outcome.app, outcome.environment, ledgerEntry(outcome), { revision: outcome.revision });
  if (outcome.status === 'Failed' && outcome.kind === 'deploy') {
    await ledger.markBad(outcome.app, outcome.environment, record.revision, outcome.reason ?? 'verification failed', { id: 'system', name: 'failed deployment' }).catch((err: unknown) => {
      if (!(err instanceof ConflictError)) throw err;
    });
  }
  return record;
}
