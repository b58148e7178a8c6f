/**
 * Recording a finished deployment: stored under the revision it was deployed as (idempotent: a
 * retried call finds its own record), and a failed deploy of a new artifact (not a rollback) is
 * also marked bad, so no rollback ever returns to it. `recordAndAnnounce` also brings the
 * metrics index up to date and records the deployment's event (docs/events.md).
 */
import { ledgerEntry, type DeploymentOutcome, type DeploymentRecord } from '../domain/deployment.js';
import { ConflictError } from '../errors.js';
import type { DeploymentLedger } from '../ledger/deployment-ledger.js';
import { eventsFromDeployment, type CloudEvent } from '../events/index.js';

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

/** What {@link recordAndAnnounce} needs besides the ledger. */
export interface AnnouncePorts {
  ledger: RecordingLedger;
  /** Brings the metrics index of an environment up to date with its ledger. */
  metrics: { catchUp(app: string, environment: string, known?: readonly DeploymentRecord[]): Promise<unknown> };
  events: { record(events: readonly CloudEvent[]): Promise<unknown> };
  now?: () => Date;
}

/**
 * Records `outcome`, then keeps the metrics index current and records the deployment's event.
 * Those two only depend on the stored record, not on each other, so they run side by side.
 */
export async function recordAndAnnounce(ports: AnnouncePorts, outcome: DeploymentOutcome): Promise<DeploymentRecord> {
  const record = await recordDeployment(ports.ledger, outcome);
  await Promise.all([
    // Best effort while the records are fresh: a metrics read catches the index up from the
    // ledger anyway, so a failure here loses nothing.
    ports.metrics.catchUp(outcome.app, outcome.environment, [record]).catch(() => undefined),
    ports.events.record(
      eventsFromDeployment(
        {
          app: outcome.app,
          environment: outcome.environment,
          runId: outcome.runId,
          revision: record.revision,
          kind: outcome.kind,
          status: outcome.status,
          commit: outcome.commit,
          digest: outcome.digest,
          requestedBy: outcome.requestedBy,
          ...(outcome.rolledBackTo !== undefined ? { rolledBackTo: outcome.rolledBackTo } : {}),
          ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
        },
        (ports.now?.() ?? new Date()).toISOString(),
      ),
    ),
  ]);
  return record;
}
