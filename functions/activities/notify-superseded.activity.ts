/** `notifySuperseded`: raises `Superseded` on a promotion that waits for an approval a newer run made moot. */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { ActivityInput } from '../../shared/contracts/activities.js';
import { SUPERSEDED_EVENT, type SupersededEvent } from '../../shared/contracts/orchestrations.js';

export async function notifySuperseded(input: ActivityInput<'notifySuperseded'>, context: InvocationContext): Promise<null> {
  const client = df.getClient(context);
  // A promotion that already finished answers 410, which the client treats as done.
  await client.raiseEvent(input.instanceId, SUPERSEDED_EVENT, { by: input.by } satisfies SupersededEvent);
  return null;
}
