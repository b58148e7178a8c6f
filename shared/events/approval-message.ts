/**
 * Approval decisions arriving as Service Bus messages (the `conveyor-approvals` queue), from
 * chat or change-management systems. Rights to send on the queue are not an identity: the
 * message carries an API token (the same `CONVEYOR_API_TOKENS` table as the HTTP API), and the
 * decision is recorded as the identity that token stands for. A message naming who decided
 * without a credential is refused.
 *
 * The rules are the HTTP approval's: the run must exist and the environment be waiting, the
 * identity must be a listed approver (or in a listed group) and not the pusher unless the
 * environment allows self-approval, one decision per person; N-of-M is counted by the
 * promotion orchestrator, which re-checks every decision it receives.
 */
import { z } from 'zod';
import { approvalRefusal, type ApprovalDecision, type Identity } from '../domain/approval.js';
import { appOfRunId, promotionInstanceId } from '../domain/ids.js';
import type { RunRecord } from '../domain/run.js';
import { NotFoundError } from '../errors.js';

/** The message body (JSON). Unknown fields — such as a bare `by` — are refused. */
export const approvalMessageSchema = z.strictObject({
  runId: z.string().min(1).max(200),
  environment: z.string().min(1).max(64),
  decision: z.enum(['approve', 'reject']),
  comment: z.string().max(2000).optional(),
  credential: z.strictObject({ apiToken: z.string().min(16).max(4096) }).describe('an API token from CONVEYOR_API_TOKENS; the decision is recorded as its identity'),
});

/** A decoded approval message. */
export type ApprovalMessage = z.infer<typeof approvalMessageSchema>;

/** What applying a message needs. */
export interface ApprovalMessagePorts {
  runs: { get(app: string, runId: string): Promise<{ value: RunRecord }> };
  /** The identity of an API token, undefined when unknown. */
  identify(apiToken: string): Identity | undefined;
  /** Delivers the decision to the waiting promotion (a failure is transient: it throws). */
  raise(instanceId: string, decision: ApprovalDecision): Promise<void>;
  now(): string;
}

/** The outcome: applied, or refused for good with the reason (never retried). */
export type ApprovalMessageOutcome =
  | { applied: true; runId: string; environment: string; decision: ApprovalDecision }
  | { applied: false; reason: string; runId?: string; environment?: string; by?: string };

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
    return { applied: false, reason: 'malformed: the body is not JSON' };
  }
  if (body && typeof body === 'object' && !('credential' in body)) {
    return { applied: false, reason: 'unauthenticated: the message carries no credential (a claimed identity such as "by" is not accepted)' };
  }
  const parsed = approvalMessageSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.') || '(body)';
    const unknownKeys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
    return { applied: false, reason: `malformed: ${path}: ${issue.message}${unknownKeys}` };
  }
  const msg = parsed.data;
  const where = { runId: msg.runId, environment: msg.environment };
  const who = ports.identify(msg.credential.apiToken);
  if (!who) return { applied: false, ...where, reason: 'unauthenticated: the credential is not a known API token' };
  const by = { ...where, by: who.id };

  const app = appOfRunId(msg.runId);
  if (!app) return { applied: false, ...by, reason: `unknown run ${msg.runId}` };
  let run: RunRecord;
  try {
    run = (await ports.runs.get(app, msg.runId)).value;
  } catch (err) {
    if (err instanceof NotFoundError) return { applied: false, ...by, reason: `unknown run ${msg.runId}` };
    throw err;
  }
  const env = run.environments[msg.environment];
  if (!env || !(run.environmentOrder ?? []).includes(msg.environment)) return { applied: false, ...by, reason: `run ${msg.runId} has no environment ${msg.environment}` };
  const gate = env.approval;
  if (!gate || gate.outcome !== undefined || env.status !== 'Pending') {
    return { applied: false, ...by, reason: `not waiting: ${msg.environment} of run ${msg.runId} is not waiting for an approval${gate?.outcome ? ` (it was ${gate.outcome})` : ''}` };
  }
  const refusal = approvalRefusal(gate, who, run.pusher?.id);
  if (refusal) return { applied: false, ...by, reason: `not allowed: ${refusal}` };
  if (gate.decisions.some((d) => d.by.toLowerCase() === who.id.toLowerCase())) {
    return { applied: false, ...by, reason: `already decided: ${who.id} already decided on ${msg.environment} of run ${msg.runId}` };
  }
  const decision: ApprovalDecision = {
    decision: msg.decision,
    by: who.id,
    ...(who.name ? { name: who.name } : {}),
    groups: who.groups,
    ...(msg.comment ? { comment: msg.comment } : {}),
    at: ports.now(),
  };
  await ports.raise(promotionInstanceId(msg.runId, msg.environment), decision);
  return { applied: true, ...where, decision };
}
