/**
 * Who may approve a promotion (pure, so both the HTTP API and the orchestrator apply the same
 * rule): a listed user, or a member of a listed `group:<name>`; the commit's pusher only when
 * the environment allows self-approval.
 */
import type { ApprovalSpec } from './pipeline.js';
import { isListed } from './policy.js';

/** A caller as established by the identity layer. */
export interface Identity {
  /** Stable id, normally an e-mail address. */
  id: string;
  name?: string;
  /** Group names (without the `group:` prefix). */
  groups: string[];
}

/** One recorded approval decision. */
export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  by: string;
  name?: string;
  groups?: string[];
  comment?: string;
  at: string;
}

/** Whether an event payload is an approval decision (events can arrive through the durable management API unchecked). */
export function isApprovalDecision(value: unknown): value is ApprovalDecision {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  return (
    typeof d.by === 'string' &&
    (d.decision === 'approve' || d.decision === 'reject') &&
    (d.groups === undefined || (Array.isArray(d.groups) && d.groups.every((g) => typeof g === 'string'))) &&
    (d.name === undefined || typeof d.name === 'string') &&
    (d.comment === undefined || typeof d.comment === 'string') &&
    (d.at === undefined || typeof d.at === 'string')
  );
}

/** An environment's approval gate as recorded in the run, while and after it waits. */
export interface ApprovalRecord {
  waitingSince: string;
  until: string;
  approvers: string[];
  required: number;
  allowSelfApproval: boolean;
  /** From environment policy: approvers must be on this list too (see ApprovalSpec.alsoApprovers). */
  alsoApprovers?: string[];
  decisions: ApprovalDecision[];
  outcome?: 'approved' | 'rejected' | 'timed-out' | 'superseded';
}

/** Why an identity may not decide, or undefined when it may. */
export function approvalRefusal(spec: Pick<ApprovalSpec, 'approvers' | 'allowSelfApproval' | 'alsoApprovers'>, who: Pick<Identity, 'id' | 'groups'>, pusherId: string | undefined): string | undefined {
  const id = who.id.toLowerCase();
  if (!isListed(spec.approvers, who)) return `${who.id} is not an approver (approvers: ${spec.approvers.join(', ')})`;
  if (spec.alsoApprovers && !isListed(spec.alsoApprovers, who)) {
    return `${who.id} is not on both approver lists the environment policy requires (${spec.approvers.join(', ')} and ${spec.alsoApprovers.join(', ')})`;
  }
  if (!spec.allowSelfApproval && pusherId !== undefined && pusherId.toLowerCase() === id) {
    return `${who.id} pushed this commit and may not approve their own change`;
  }
  return undefined;
}
