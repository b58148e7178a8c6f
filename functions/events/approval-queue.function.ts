/**
 * The `conveyor-approvals` queue trigger: approval decisions sent as Service Bus messages
 * (shared/events/approval-message.ts has the rules). An applied decision completes the
 * message; one that can never be applied (malformed, bad credential, unknown run, not waiting,
 * not an approver) is completed too, recorded as a `dev.conveyor.approval.refused` event with
 * the reason and logged; a transient fault throws, so the trigger abandons and retries it (past
 * the queue's max delivery count it is dead-lettered).
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { APPROVAL_EVENT } from '../../shared/contracts/orchestrations.js';
import { applyApprovalMessage, buildEvent } from '../../shared/events/index.js';
import type { Services } from '../composition-root.js';

/** The queue Conveyor reads approval messages from. */
export const APPROVALS_QUEUE = 'conveyor-approvals';

/** The approval-queue handler, given its collaborators. */
export function receiveApprovalMessage({ runs, identities, events }: Pick<Services, 'runs' | 'identities' | 'events'>) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const messageId = String(context.triggerMetadata?.messageId ?? context.invocationId);
    const outcome = await applyApprovalMessage(
      {
        runs,
        identify: (token) => identities.fromApiToken(token),
        raise: (instanceId, decision) => df.getClient(context).raiseEvent(instanceId, APPROVAL_EVENT, decision),
        now: () => new Date().toISOString(),
      },
      message,
    );
    if (outcome.applied) {
      context.log(`approval message ${messageId}: ${outcome.decision.by} ${outcome.decision.decision}d ${outcome.environment} of ${outcome.runId}`);
      return;
    }
    context.warn(`approval message ${messageId} refused: ${outcome.reason}`);
    await events.record([
      buildEvent('dev.conveyor.approval.refused', {
        source: '/approvals',
        subject: `messages/${messageId}`,
        time: new Date().toISOString(),
        change: messageId,
        data: {
          messageId,
          reason: outcome.reason,
          ...(outcome.runId ? { runId: outcome.runId } : {}),
          ...(outcome.environment ? { environment: outcome.environment } : {}),
          ...(outcome.by ? { by: outcome.by } : {}),
        },
      }),
    ]);
  };
}
