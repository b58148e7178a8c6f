/**
 * The `conveyor-approvals` queue trigger: approval decisions sent as Service Bus messages
 * (shared/events/approval-message.ts has the rules). The trigger is bound to the SDK type and
 * settles each message itself: an applied decision completes it; one that can never be applied
 * (malformed, bad credential, unknown run, not waiting, not an approver) is dead-lettered with
 * the refusal's code as the reason and its text as the description (the use-case has published it as a
 * `dev.conveyor.approval.refused` event); a transient fault throws, so the host abandons the
 * message and Service Bus redelivers it (past the queue's max delivery count it is dead-lettered).
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { APPROVAL_EVENT } from '../../shared/contracts/orchestrations.js';
import { handleApprovalMessage } from '../../shared/events/index.js';
import type { Services } from '../composition-root.js';
import { deadLetter, singleMessage, type ServiceBusMessageContext } from './service-bus-sdk.js';

/** The queue Conveyor reads approval messages from. */
export const APPROVALS_QUEUE = 'conveyor-approvals';

/** The approval-queue handler, given its collaborators. */
export function receiveApprovalMessage({ runs, identities, events, entraTokens }: Pick<Services, 'runs' | 'identities' | 'events' | 'entraTokens'>) {
  return async (sb: ServiceBusMessageContext, context: InvocationContext): Promise<void> => {
    const message = singleMessage(sb);
    const messageId = String(message.messageId ?? context.triggerMetadata?.messageId ?? context.invocationId);
    const outcome = await handleApprovalMessage(
      {
        runs,
        identify: (token) => identities.fromApiToken(token),
        ...(entraTokens ? { identifyEntra: (token: string) => entraTokens.verify(token) } : {}),
        raise: (instanceId, decision) => df.getClient(context).raiseEvent(instanceId, APPROVAL_EVENT, decision),
        now: () => new Date().toISOString(),
        events,
      },
      message.body,
      messageId,
    );
    if (outcome.applied) {
      context.log(`approval message ${messageId}: ${outcome.decision.by} ${outcome.decision.decision}d ${outcome.environment} of ${outcome.runId}`);
      await sb.actions.complete(message);
      return;
    }
    context.warn(`approval message ${messageId} refused (${outcome.code}): ${outcome.reason}`);
    await deadLetter(sb, message, outcome.code, outcome.reason);
  };
}
