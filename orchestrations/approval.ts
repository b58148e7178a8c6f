/**
 * The approval gate: waits durably for `ApprovalDecided` events until enough distinct approvers
 * said yes, someone said no, the timeout passed, or a newer run superseded this one.
 */
import type * as df from 'durable-functions';
import { approvalRefusal, isApprovalDecision, type ApprovalRecord } from '../shared/domain/approval.js';
import type { ApprovalSpec } from '../shared/domain/pipeline.js';
import { APPROVAL_EVENT, SUPERSEDED_EVENT } from '../shared/contracts/orchestrations.js';
import { nowIso, type Call } from './activity-call.js';

/** How the gate ended. */
export type ApprovalOutcome =
  | { outcome: 'approved'; record: ApprovalRecord }
  | { outcome: 'rejected'; by: string; comment?: string; record: ApprovalRecord }
  | { outcome: 'timed-out'; record: ApprovalRecord }
  | { outcome: 'superseded'; by: string; record: ApprovalRecord };

/**
 * Runs the gate. `onChange` is given the record each time it changes (to keep the run record
 * and custom status current); it returns a call to run (e.g. the recordRun activity).
 */
export function* awaitApproval(
  context: df.OrchestrationContext,
  spec: ApprovalSpec,
  pusherId: string,
  onChange: (record: ApprovalRecord) => Call<unknown>,
): Generator<df.Task, ApprovalOutcome, unknown> {
  const waitingSince = nowIso(context);
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + spec.timeoutMs);
  const record: ApprovalRecord = {
    waitingSince,
    until: deadline.toISOString(),
    approvers: spec.approvers,
    required: spec.required,
    allowSelfApproval: spec.allowSelfApproval,
    ...(spec.alsoApprovers ? { alsoApprovers: spec.alsoApprovers } : {}),
    decisions: [],
  };
  yield* onChange(record);

  const timeout = context.df.createTimer(deadline);
  const superseded = context.df.waitForExternalEvent(SUPERSEDED_EVENT);
  const approvedBy = new Set<string>();
  for (;;) {
    const decision = context.df.waitForExternalEvent(APPROVAL_EVENT);
    const winner = (yield context.df.Task.any([decision, timeout, superseded])) as df.Task;
    if (winner === timeout) {
      record.outcome = 'timed-out';
      yield* onChange(record);
      return { outcome: 'timed-out', record };
    }
    if (winner === superseded) {
      timeout.cancel();
      const payload: unknown = superseded.result;
      const by = typeof payload === 'object' && payload !== null && 'by' in payload ? String(payload.by) : 'a newer run';
      record.outcome = 'superseded';
      yield* onChange(record);
      return { outcome: 'superseded', by, record };
    }
    // The API checked the caller already; the orchestrator checks again because events can
    // also arrive through the durable management API.
    const d = decision.result;
    if (!isApprovalDecision(d)) continue;
    if (approvalRefusal(spec, { id: d.by, groups: d.groups ?? [] }, pusherId) !== undefined) continue;
    if (record.decisions.some((x) => x.by.toLowerCase() === d.by.toLowerCase())) continue;
    record.decisions.push({ decision: d.decision, by: d.by, ...(d.name ? { name: d.name } : {}), ...(d.comment ? { comment: d.comment } : {}), at: d.at ?? nowIso(context) });
    if (d.decision === 'reject') {
      timeout.cancel();
      record.outcome = 'rejected';
      yield* onChange(record);
      return { outcome: 'rejected', by: d.by, comment: d.comment, record };
    }
    approvedBy.add(d.by.toLowerCase());
    if (approvedBy.size >= spec.required) {
      timeout.cancel();
      record.outcome = 'approved';
      yield* onChange(record);
      return { outcome: 'approved', record };
    }
    yield* onChange(record);
  }
}
