/** `GET /api/runs/{runId}`: the run record with the live state of its orchestrations. */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { appOfHealId, appOfRunId, promotionInstanceId } from '../../shared/domain/ids.js';
import type { Services } from '../composition-root.js';
import { errorToResponse, problem } from './problem.js';

/** GET /api/runs/{runId}. */
export function getRun(services: Pick<Services, 'runs'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const runId = request.params.runId ?? '';
      const app = appOfRunId(runId) ?? appOfHealId(runId);
      if (!app) return problem(404, `no run ${JSON.stringify(runId.slice(0, 120))}: run ids look like <app>.<commit> (or heal.<app>.<environment>.<revision>.<attempt> for a heal)`);
      const { value: run } = await services.runs.get(app, runId);
      const client = df.getClient(context);
      const status = await client.getStatus(runId).catch(() => undefined);
      // Live progress of environments still in flight (waiting for the lock or an approval, deploying, verifying).
      const live: Record<string, unknown> = {};
      await Promise.all(
        (run.environmentOrder ?? [])
          .filter((env) => ['Running', 'Pending'].includes(run.environments[env]?.status ?? ''))
          .map(async (env) => {
            const promotion = await client.getStatus(promotionInstanceId(runId, env)).catch(() => undefined);
            if (promotion?.customStatus) live[env] = promotion.customStatus;
          }),
      );
      return {
        status: 200,
        jsonBody: {
          ...run,
          orchestration: status ? { runtimeStatus: status.runtimeStatus, customStatus: status.customStatus ?? null, lastUpdatedTime: status.lastUpdatedTime } : null,
          progress: live,
        },
      };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
