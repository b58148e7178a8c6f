/**
 * `POST /api/runs/{runId}/environments/{env}/approval` with `{ decision, comment }`: records a
 * person's decision on a promotion waiting for approval. The caller must be an approver of that
 * environment at the run's commit (as recorded when the gate opened), and not the pusher when
 * the environment forbids self-approval.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { approvalDecisionBody } from '../../shared/contracts/http.js';
import { APPROVAL_EVENT } from '../../shared/contracts/orchestrations.js';
import { appOfRunId, promotionInstanceId } from '../../shared/domain/ids.js';
import { approvalRefusal, type ApprovalDecision } from '../../shared/domain/approval.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, problem } from './problem.js';

/** POST /api/runs/{runId}/environments/{env}/approval. */
export function decideApproval(services: Pick<Services, 'runs' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const runId = request.params.runId ?? '';
      const envName = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, approvalDecisionBody);

      const app = appOfRunId(runId);
      if (!app) return problem(404, `no run ${JSON.stringify(runId.slice(0, 120))}`);
      const { value: run } = await services.runs.get(app, runId);
      const env = run.environments[envName];
      if (!env || !(run.environmentOrder ?? []).includes(envName)) return problem(404, `run ${runId} has no environment ${JSON.stringify(envName.slice(0, 60))}`);
      const gate = env.approval;
      if (!gate || gate.outcome !== undefined || env.status !== 'Pending') {
        return problem(409, `${envName} of run ${runId} is not waiting for an approval${gate?.outcome ? ` (it was ${gate.outcome})` : ''}`);
      }
      const refusal = approvalRefusal(gate, who, run.pusher?.id);
      if (refusal) return problem(403, refusal);
      if (gate.decisions.some((d) => d.by.toLowerCase() === who.id.toLowerCase())) {
        return problem(409, `${who.id} already decided on ${envName} of run ${runId}`);
      }

      const decision: ApprovalDecision = {
        decision: body.decision,
        by: who.id,
        ...(who.name ? { name: who.name } : {}),
        groups: who.groups,
        ...(body.comment ? { comment: body.comment } : {}),
        at: new Date().toISOString(),
      };
      await df.getClient(context).raiseEvent(promotionInstanceId(runId, envName), APPROVAL_EVENT, decision);
      context.log(`approval: ${who.id} ${body.decision}d ${envName} of ${runId}`);
      return {
        status: 202,
        jsonBody: {
          status: 'recorded',
          runId,
          environment: envName,
          decision: body.decision,
          by: who.id,
          approvals: gate.decisions.filter((d) => d.decision === 'approve').length + (body.decision === 'approve' ? 1 : 0),
          required: gate.required,
        },
      };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
