/**
 * The `git-feedback` subscription of the `conveyor-events` topic: reports each run of an app
 * that opted in back to its Git host (shared/feedback/feedback-subscriber.ts has the rules).
 * The trigger is bound to the SDK type and settles each message itself: reported and ignored
 * events complete it; an event that can never be reported (not a CloudEvent, run unknown, no
 * token, the host refused it with a 4xx) is dead-lettered on the subscription with a reason
 * code and the text as description (and kept as a blob record too); a transient fault (host
 * 5xx/429, network, storage) throws, so the host abandons it and Service Bus redelivers it.
 */
import type { InvocationContext } from '@azure/functions';
import { deliverFeedback, feedbackDeps, type FeedbackPorts } from '../../shared/feedback/index.js';
import { deadLetter, singleMessage, type ServiceBusMessageContext } from './service-bus-sdk.js';

export { FEEDBACK_SUBSCRIPTION } from '../../shared/feedback/index.js';

/** The feedback trigger's handler, given its collaborators (shared/feedback/feedback-ports.ts). */
export function reportToGitHost(ports: FeedbackPorts) {
  const deps = feedbackDeps(ports);
  return async (sb: ServiceBusMessageContext, context: InvocationContext): Promise<void> => {
    const message = singleMessage(sb);
    const messageId = String(message.messageId ?? context.triggerMetadata?.messageId ?? context.invocationId);
    const outcome = await deliverFeedback(deps, message.body, messageId);
    if (outcome.kind === 'reported') {
      const { update } = outcome;
      context.log(`git feedback: ${update.app} ${update.runId}${update.environment ? ` ${update.environment}` : ''} -> ${outcome.provider} ${update.state} on ${outcome.commit.slice(0, 12)}`);
    } else if (outcome.kind === 'dead-lettered') {
      context.warn(`git feedback: message ${messageId} dead-lettered: ${outcome.reason}`);
      await deadLetter(sb, message, 'feedback-refused', outcome.reason);
      return;
    }
    await sb.actions.complete(message);
  };
}
