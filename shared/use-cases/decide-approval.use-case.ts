/**
 * Deciding on a promotion waiting for approval, for every way a decision arrives (the HTTP
 * API, the `conveyor-approvals` queue): the run must exist and the environment be waiting, the
 * identity must be a listed approver (shared/domain/approval.ts) and decide once; then the
 * decision is raised on the waiting promotion. N-of-M is counted by the promotion
 * orchestrator, which re-checks every decision it receives.
 */
import { approvalRefusal, type ApprovalDecision, type Identity } from '../domain/approval.js';
import { appOfRunId, isName, promotionInstanceId } from '../domain/ids.js';
import type { RunRecord } from '../domain/run.js';
import { NotFoundError } from '../errors.js';

/** What deciding needs. */
export interface ApprovalPorts {
  runs: { get(app: string, runId: string): Promise<{ value: RunRecord }> };
  /** Delivers the decision to the waiting promotion (a failure is transient: it throws). */
  raise(instanceId: string, decision: ApprovalDecision): Promise<void>;
  now(): string;
}

/** A decision someone (already identified) makes. */
export interface ApprovalRequest {
  runId: string;
  environment: string;
  who: Identity;
  decision: 'approve' | 'reject';
  comment?: string;
}

/** Why a decision cannot be applied (each adapter maps the code: a status, a refusal event). */
export type ApprovalRefusalCode = 'no-run' | 'no-environment' | 'not-waiting' | 'not-allowed' | 'already-decided';

/** The outcome: raised (with the approvals so far, this one included), or refused with the reason. */
export type ApprovalOutcome =
  | { applied: true; decision: ApprovalDecision; approvals: number; required: number }
  | { applied: false; code: ApprovalRefusalCode; reason: string };

/** Checks the decision and, when it may be applied, raises it. Throws only for transient faults. */
export async function decideApproval(ports: ApprovalPorts, request: ApprovalRequest): Promise<ApprovalOutcome> {
  const { runId, environment, who } = request;
  const envName = isName(environment) ? environment : JSON.stringify(environment.slice(0, 60));
  const app = appOfRunId(runId);
  const noRun = { applied: false as const, code: 'no-run' as const, reason: `no run ${JSON.stringify(runId.slice(0, 120))}` };
  if (!app) return noRun;
  let run: RunRecord;
  try {
    run = (await ports.runs.get(app, runId)).value;
  } catch (err) {
    if (err instanceof NotFoundError) return noRun;
    throw err;
  }
  const env = run.environments[environment];
  if (!env || !(run.environmentOrder ?? []).includes(environment)) return { applied: false, code: 'no-environment', reason: `run ${runId} has no environment ${envName}` };
  const gate = env.approval;
  if (!gate || gate.outcome !== undefined || env.status !== 'Pending') {
    return { applied: false, code: 'not-waiting', reason: `${envName} of run ${runId} is not waiting for an approval${gate?.outcome ? ` (it was ${gate.outcome})` : ''}` };
  }
  const refusal = approvalRefusal(gate, who, run.pusher?.id);
  if (refusal) return { applied: false, code: 'not-allowed', reason: refusal };
  if (gate.decisions.some((d) => d.by.toLowerCase() === who.id.toLowerCase())) {
    return { applied: false, code: 'already-decided', reason: `${who.id} already decided on ${envName} of run ${runId}` };
  }
  const decision: ApprovalDecision = {
    decision: request.decision,
    by: who.id,
    ...(who.name ? { name: who.name } : {}),
    groups: who.groups,
    ...(request.comment ? { comment: request.comment } : {}),
    at: ports.now(),
  };
  await ports.raise(promotionInstanceId(runId, environment), decision);
  const approvals = gate.decisions.filter((d) => d.decision === 'approve').length + (request.decision === 'approve' ? 1 : 0);
  return { applied: true, decision, approvals, required: gate.required };
}
