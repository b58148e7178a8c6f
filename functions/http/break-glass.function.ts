/**
 * `POST /api/runs/{runId}/environments/{env}/break-glass` with `{ reason }`: lets a run that
 * waits for a closed deploy window into the environment now. Only someone the environment's
 * deploy-window policy names in `breakGlass` (a user, or a member of a listed group) may; the
 * promotion checks again (events can also arrive through the durable management API) and the
 * run record keeps who and why. A freeze is never overridden this way: unfreeze it.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { BreakGlassRequest } from '../../shared/contracts/activities.js';
import { breakGlassBody } from '../../shared/contracts/http.js';
import { BREAK_GLASS_EVENT } from '../../shared/contracts/orchestrations.js';
import { appOfRunId, promotionInstanceId } from '../../shared/domain/ids.js';
import { breakGlassRefusal } from '../../shared/domain/windows.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, problem } from './problem.js';

/** POST /api/runs/{runId}/environments/{env}/break-glass. */
export function breakGlass(services: Pick<Services, 'apps' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const runId = request.params.runId ?? '';
      const envName = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, breakGlassBody);
      const appName = appOfRunId(runId);
      if (!appName) return problem(404, `no run ${JSON.stringify(runId.slice(0, 120))}`);
      const { value: app } = await services.apps.get(appName);
      const refusal = breakGlassRefusal(app.deployWindows?.[envName]?.breakGlass ?? [], { id: who.id, groups: [...who.groups] }, body.reason);
      if (refusal) return problem(403, refusal);
      const client = df.getClient(context);
      const instanceId = promotionInstanceId(runId, envName);
      const status = await client.getStatus(instanceId).catch(() => undefined);
      const step = (status?.customStatus as { step?: string } | undefined)?.step;
      if (!status || step !== 'waiting-for-window') return problem(409, `run ${runId} is not waiting for a deploy window of ${envName}${step ? ` (it is ${step})` : ''}`);
      const event: BreakGlassRequest = { by: who.id, groups: [...who.groups], reason: body.reason, at: new Date().toISOString() };
      await client.raiseEvent(instanceId, BREAK_GLASS_EVENT, event);
      context.log(`break-glass for ${runId} in ${envName} by ${who.id}: ${body.reason}`);
      return { status: 202, jsonBody: { runId, environment: envName, breakGlass: { by: who.id, reason: body.reason, at: event.at } } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
