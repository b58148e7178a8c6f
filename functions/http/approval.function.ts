/**
 * `POST /api/runs/{runId}/environments/{env}/approval` with `{ decision, comment }`: records a
 * person's decision on a promotion waiting for approval. The caller must be an approver of that
 * environment at the run's commit (as recorded when the gate opened), and not the pusher when
 * the environment forbids self-approval. The rules are shared with the approval queue
 * (shared/use-cases/decide-approval.use-case.ts).
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { approvalDecisionBody } from '../../shared/contracts/http.js';
import { APPROVAL_EVENT } from '../../shared/contracts/orchestrations.js';
import { decideApproval as applyDecision, type ApprovalRefusalCode } from '../../shared/use-cases/decide-approval.use-case.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, problem } from './problem.js';

const STATUS_OF: Record<ApprovalRefusalCode, number> = { 'no-run': 404, 'no-environment': 404, 'not-waiting': 409, 'not-allowed': 403, 'already-decided': 409 };

/** POST /api/runs/{runId}/environments/{env}/approval. */
export function decideApproval(services: Pick<Services, 'runs' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const runId = request.params.runId ?? '';
      const envName = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, approvalDecisionBody);

      const outcome = await applyDecision(
        { runs: services.runs, raise: (instanceId, decision) => df.getClient(context).raiseEvent(instanceId, APPROVAL_EVENT, decision), now: () => new Date().toISOString() },
        { runId, environment: envName, who, decision: body.decision, ...(body.comment ? { comment: body.comment } : {}) },
      );
      if (!outcome.applied) return problem(STATUS_OF[outcome.code], outcome.reason);
      context.log(`approval: ${who.id} ${body.decision}d ${envName} of ${runId}`);
      return {
        status: 202,
        jsonBody: { status: 'recorded', runId, environment: envName, decision: body.decision, by: who.id, approvals: outcome.approvals, required: outcome.required },
      };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
