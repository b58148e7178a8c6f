/**
 * Approval decisions arriving as Service Bus messages (the `conveyor-approvals` queue), from
 * chat or change-management systems. Rights to send on the queue are not an identity: the
 * message carries an API token (the same `CONVEYOR_API_TOKENS` table as the HTTP API) or an
 * Entra ID access token for Conveyor validated for the configured tenant
 * (shared/azure/entra-token.ts), and the decision is recorded as the identity the credential
 * stands for. A message naming who decided without a credential is refused.
 *
 * The rules are the HTTP approval's, in one place (shared/use-cases/decide-approval.use-case.ts):
 * the run must exist and the environment be waiting, the identity must be a listed approver (or
 * in a listed group) and not the pusher unless the environment allows self-approval, one
 * decision per person; N-of-M is counted by the promotion orchestrator.
 */
import { z } from 'zod';
import type { ApprovalDecision, Identity } from '../domain/approval.js';
import { decideApproval, type ApprovalPorts, type ApprovalRefusalCode } from '../use-cases/decide-approval.use-case.js';
import { buildEvent, type CloudEvent } from './cloud-event.js';

/** The message body (JSON). Unknown fields — such as a bare `by` — are refused. */
export const approvalMessageSchema = z.strictObject({
  runId: z.string().min(1).max(200),
  environment: z.string().min(1).max(64),
  decision: z.enum(['approve', 'reject']),
  comment: z.string().max(2000).optional(),
  credential: z
    .union([
      z.strictObject({ apiToken: z.string().min(16).max(4096) }),
      z.strictObject({ entraToken: z.string().min(16).max(16_384) }),
    ])
    .describe('either an API token from CONVEYOR_API_TOKENS, or an Entra ID access token for Conveyor (CONVEYOR_ENTRA_TENANT_ID / CONVEYOR_ENTRA_CLIENT_ID); the decision is recorded as its identity'),
});

/** A decoded approval message. */
export type ApprovalMessage = z.infer<typeof approvalMessageSchema>;

/** What applying a message needs: the approval ports, and who a credential stands for. */
export interface ApprovalMessagePorts extends ApprovalPorts {
  /** The identity of an API token, undefined when unknown. */
  identify(apiToken: string): Identity | undefined;
  /**
   * The identity of an Entra ID access token, or why it is refused; absent when Entra ID tokens
   * are not configured. Throws for transient faults (the tenant's keys unreachable).
   */
  identifyEntra?(token: string): Promise<{ ok: true; identity: Identity } | { ok: false; reason: string }>;
}

/** How a refusal starts in a message's outcome (the kind of refusal, for whoever reads the event). */
const REFUSAL_PREFIX: Record<ApprovalRefusalCode, (runId: string) => string> = {
  'no-run': (runId) => `unknown run ${runId}`,
  'no-environment': () => 'no environment',
  'not-waiting': () => 'not waiting',
  'not-allowed': () => 'not allowed',
  'already-decided': () => 'already decided',
};

/**
 * Why a message was refused, as a short code (the dead-letter reason; the text is the
 * description): the body is unusable, the credential proves no one, or the approval rules say no.
 */
export type ApprovalMessageRefusal = 'malformed' | 'unauthenticated' | 'unknown-run' | 'no-environment' | 'not-waiting' | 'not-allowed' | 'already-decided';

const REFUSAL_CODE: Record<ApprovalRefusalCode, ApprovalMessageRefusal> = {
  'no-run': 'unknown-run',
  'no-environment': 'no-environment',
  'not-waiting': 'not-waiting',
  'not-allowed': 'not-allowed',
  'already-decided': 'already-decided',
};

/** The outcome: applied, or refused for good with the reason (never retried). */
export type ApprovalMessageOutcome =
  | { applied: true; runId: string; environment: string; decision: ApprovalDecision }
  | { applied: false; code: ApprovalMessageRefusal; reason: string; runId?: string; environment?: string; by?: string };

function bodyOf(raw: unknown): unknown {
  if (typeof raw === 'string') return JSON.parse(raw);
  if (Buffer.isBuffer(raw)) return JSON.parse(raw.toString('utf8'));
  return raw;
}

/** Checks a message and, when it may be applied, raises the decision. Throws only for transient faults. */
export async function applyApprovalMessage(ports: ApprovalMessagePorts, raw: unknown): Promise<ApprovalMessageOutcome> {
  let body: unknown;
  try {
    body = bodyOf(raw);
  } catch {
    return { applied: false, code: 'malformed', reason: 'malformed: the body is not JSON' };
  }
  if (body && typeof body === 'object' && !('credential' in body)) {
    return { applied: false, code: 'unauthenticated', reason: 'unauthenticated: the message carries no credential (a claimed identity such as "by" is not accepted)' };
  }
  const parsed = approvalMessageSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.') || '(body)';
    const unknownKeys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
    return { applied: false, code: 'malformed', reason: `malformed: ${path}: ${issue.message}${unknownKeys}` };
  }
  const msg = parsed.data;
  const where = { runId: msg.runId, environment: msg.environment };
  let who: Identity | undefined;
  if ('apiToken' in msg.credential) {
    who = ports.identify(msg.credential.apiToken);
    if (!who) return { applied: false, code: 'unauthenticated', ...where, reason: 'unauthenticated: the credential is not a known API token' };
  } else {
    if (!ports.identifyEntra) return { applied: false, code: 'unauthenticated', ...where, reason: 'unauthenticated: Entra ID tokens are not accepted here (CONVEYOR_ENTRA_TENANT_ID and CONVEYOR_ENTRA_CLIENT_ID are not set)' };
    const verdict = await ports.identifyEntra(msg.credential.entraToken);
    if (!verdict.ok) return { applied: false, code: 'unauthenticated', ...where, reason: `unauthenticated: ${verdict.reason}` };
    who = verdict.identity;
  }
  const by = { ...where, by: who.id };

  const outcome = await decideApproval(ports, { runId: msg.runId, environment: msg.environment, who, decision: msg.decision, ...(msg.comment ? { comment: msg.comment } : {}) });
  if (!outcome.applied) return { applied: false, code: REFUSAL_CODE[outcome.code], ...by, reason: `${REFUSAL_PREFIX[outcome.code](msg.runId)}${outcome.code === 'no-run' ? '' : `: ${outcome.reason}`}` };
  const decision = outcome.decision;
  return { applied: true, ...where, decision };
}

/** The `dev.conveyor.approval.refused` event of a refused message (its id follows the message id, so a redelivery is one event). */
export function approvalRefusedEvent(messageId: string, refusal: Extract<ApprovalMessageOutcome, { applied: false }>, time: string): CloudEvent {
  return buildEvent('dev.conveyor.approval.refused', {
    source: '/approvals',
    subject: `messages/${messageId}`,
    time,
    change: messageId,
    data: {
      messageId,
      reason: refusal.reason,
      ...(refusal.runId ? { runId: refusal.runId } : {}),
      ...(refusal.environment ? { environment: refusal.environment } : {}),
      ...(refusal.by ? { by: refusal.by } : {}),
    },
  });
}

/** What receiving a message needs: applying it, and where a refusal is published. */
export interface ApprovalReceiverPorts extends ApprovalMessagePorts {
  events: { record(events: readonly CloudEvent[]): Promise<unknown> };
}

/**
 * Receives one approval message, for every adapter a message arrives through: applies it, and
 * publishes a refusal as a `dev.conveyor.approval.refused` event before answering. The adapter
 * settles the message by the outcome (applied: complete; refused: dead-letter with the code).
 * Throws only for transient faults.
 */
export async function handleApprovalMessage(ports: ApprovalReceiverPorts, raw: unknown, messageId: string): Promise<ApprovalMessageOutcome> {
  const outcome = await applyApprovalMessage(ports, raw);
  if (!outcome.applied) await ports.events.record([approvalRefusedEvent(messageId, outcome, ports.now())]);
  return outcome;
}
