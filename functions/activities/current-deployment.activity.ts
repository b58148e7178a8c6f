/** `currentDeployment`: the ledger's current deployment of an environment, read under the deploy slot by a heal. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import type { Services } from '../composition-root.js';

/** The `currentDeployment` activity, given its collaborators. */
export function currentDeployment({ ledger }: Pick<Services, 'ledger'>) {
  return async (input: ActivityInput<'currentDeployment'>): Promise<ActivityOutput<'currentDeployment'>> => (await ledger.current(input.app, input.environment)) ?? null;
}
