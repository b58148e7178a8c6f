/** `flushEvents` timer: publishes events left in the outbox while Service Bus was unreachable. */
import type { InvocationContext, Timer } from '@azure/functions';
import type { Services } from '../composition-root.js';

/** The timer handler, given its collaborators. */
export function flushEvents({ events }: Pick<Services, 'events'>) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    const sent = await events.flush();
    if (sent > 0) context.log(`events: published ${sent} delayed event(s) from the outbox`);
  };
}
