/**
 * The read side: environment history, runs of an app, and step logs
 * (shared/use-cases/read-step-log.use-case.ts). What runs where (the environment matrix) is
 * shared/use-cases/environment-matrix.use-case.ts.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../composition-root.js';
import { PAGE_SIZE } from '../../shared/contracts/http.js';
import { readStepLog } from '../../shared/use-cases/read-step-log.use-case.js';
import { errorToResponse, HttpProblem, problem } from './problem.js';

function paging(request: HttpRequest): { pageSize: number; continuation?: string } {
  const raw = request.query.get('pageSize');
  const pageSize = raw === null ? PAGE_SIZE.default : Number(raw);
  if (!Number.isInteger(pageSize) || pageSize < PAGE_SIZE.min || pageSize > PAGE_SIZE.max) throw new HttpProblem(400, `pageSize must be an integer from ${PAGE_SIZE.min} to ${PAGE_SIZE.max}`);
  const continuation = request.query.get('continuation') ?? undefined;
  return { pageSize, ...(continuation ? { continuation } : {}) };
}

/** GET /api/apps/{app}/environments/{env}/history (newest first, paged). */
export function getHistory(services: Pick<Services, 'apps' | 'ledger'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      const env = request.params.env ?? '';
      await services.apps.get(app);
      const page = paging(request);
      const history = await services.ledger.history(app, env, page);
      if (history.records.length === 0 && !page.continuation) return problem(404, `${app} has no history for environment ${JSON.stringify(env.slice(0, 60))}`);
      return { status: 200, jsonBody: history };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** GET /api/apps/{app}/runs (newest first, paged). */
export function listRuns(services: Pick<Services, 'apps' | 'runs'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      await services.apps.get(app);
      const page = paging(request);
      return { status: 200, jsonBody: await services.runs.list(app, page) };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** GET /api/runs/{runId}/logs/{step}: the step's log as text (what was written so far while it runs). */
export function getLog(services: Pick<Services, 'runs' | 'stepLogs'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const result = await readStepLog(services, request.params.runId ?? '', request.params.step ?? '');
      if (!result.found) return problem(404, result.reason);
      return {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
        body: result.log as never,
      };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
