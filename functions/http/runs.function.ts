/** `GET /api/runs/{runId}`: the run record with the live state of its orchestrations. */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { services } from '../services.js';
import { errorToResponse, problem } from './problem.js';
import { appOfRunId } from './runs.js';

export async function getRun(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const runId = request.params.runId ?? '';
    const app = appOfRunId(runId);
    if (!app) return problem(404, `no run ${JSON.stringify(runId.slice(0, 120))}: run ids look like <app>.<commit>`);
    const { value: run } = await services().runs.get(app, runId);
    const client = df.getClient(context);
    const status = await client.getStatus(runId).catch(() => undefined);
    return {
      status: 200,
      jsonBody: {
        ...run,
        orchestration: status ? { runtimeStatus: status.runtimeStatus, customStatus: status.customStatus ?? null, lastUpdatedTime: status.lastUpdatedTime } : null,
      },
    };
  } catch (err) {
    return errorToResponse(err, (m) => context.error(m));
  }
}
