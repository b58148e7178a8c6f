/**
 * `recordDeployment`: stores the deployment under the revision it was deployed as and moves
 * `current`. A failed deploy (not a rollback) is also marked bad so no rollback ever returns
 * to it. Idempotent: a retried call finds its own record and succeeds.
 */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { eventsFromDeployment } from '../../shared/events/index.js';
import { recordDeployment as storeDeployment } from '../../shared/use-cases/record-deployment.use-case.js';
import type { Services } from '../composition-root.js';

/** The `recordDeployment` activity, given its collaborators. */
export function recordDeployment({ ledger, metrics, events }: Pick<Services, 'ledger' | 'metrics' | 'events'>) {
  return async (input: ActivityInput<'recordDeployment'>): Promise<ActivityOutput<'recordDeployment'>> => {
    const record = await storeDeployment(ledger, input);
    // Keep the metrics index current while the records are fresh. Best effort: a metrics read
    // catches the index up from the ledger anyway, so a failure here loses nothing.
    await metrics.catchUp(input.app, input.environment).catch(() => undefined);
    await events.record(
      eventsFromDeployment(
        {
          app: input.app,
          environment: input.environment,
          runId: input.runId,
          revision: record.revision,
          kind: input.kind,
          status: input.status,
          commit: input.commit,
          digest: input.digest,
          requestedBy: input.requestedBy,
          ...(input.rolledBackTo !== undefined ? { rolledBackTo: input.rolledBackTo } : {}),
          ...(input.reason !== undefined ? { reason: input.reason } : {}),
        },
        new Date().toISOString(),
      ),
    );
    return { revision: record.revision };
  };
}
