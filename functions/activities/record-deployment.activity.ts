/**
 * `recordDeployment`: stores the deployment under the revision it was deployed as, moves
 * `current`, keeps the metrics index current and records the deployment's event
 * (shared/use-cases/record-deployment.use-case.ts). Idempotent: a retried call finds its own record.
 */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { recordAndAnnounce } from '../../shared/use-cases/record-deployment.use-case.js';
import type { Services } from '../composition-root.js';

/** The `recordDeployment` activity, given its collaborators. */
export function recordDeployment(services: Pick<Services, 'ledger' | 'metrics' | 'events'>) {
  return async (input: ActivityInput<'recordDeployment'>): Promise<ActivityOutput<'recordDeployment'>> => {
    const record = await recordAndAnnounce(services, input);
    return { revision: record.revision };
  };
}
