/**
 * `POST /api/runs/{runId}/environments/{env}/break-glass` with `{ reason }`: lets a run that
 * waits for a closed deploy window into the environment now. Who may, and what is checked:
 * shared/use-cases/environment-controls.use-case.ts (the promotion checks again; the run record
 * keeps who and why). A freeze is never overridden this way: unfreeze it.
 */
import { actorOf } from '../../shared/domain/run.js';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { breakGlassBody } from '../../shared/contracts/http.js';
import { BREAK_GLASS_EVENT } from '../../shared/contracts/orchestrations.js';
import { breakGlass as breakTheGlass } from '../../shared/use-cases/environment-controls.use-case.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { controlSignals, refusalResponse } from './freeze.function.js';
import { errorToResponse } from './problem.js';

/** POST /api/runs/{runId}/environments/{env}/break-glass. */
export function breakGlass(services: Pick<Services, 'apps' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const runId = request.params.runId ?? '';
      const envName = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, breakGlassBody);
      const result = await breakTheGlass(services, controlSignals(context), { runId, environment: envName, who, reason: body.reason, at: new Date().toISOString(), breakGlassEvent: BREAK_GLASS_EVENT });
      if (!result.done) return refusalResponse(result);
      context.log(`break-glass for ${runId} in ${envName} by ${who.id}: ${body.reason}`);
      return { status: 202, jsonBody: { runId, environment: envName, breakGlass: { by: actorOf(who), reason: body.reason, at: result.event.at } } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
