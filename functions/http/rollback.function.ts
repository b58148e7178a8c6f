/**
 * `POST /api/apps/{app}/environments/{env}/rollback` with optional `{ toRevision, reason, force }`
 * asks the request-rollback use-case (shared/use-cases/request-rollback.use-case.ts: rights,
 * target, the `rollback` orchestration started) and answers 202 with an operation status URL, or
 * the refusal (403 / 404 / 409); `GET /api/operations/{operationId}` shows the operation.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { breakGlassBody, rollbackRequestBody } from '../../shared/contracts/http.js';
import type { RollbackInput } from '../../shared/contracts/activities.js';
import { BREAK_GLASS_EVENT } from '../../shared/contracts/orchestrations.js';
import { isOperationId } from '../../shared/domain/ids.js';
import { actorOf } from '../../shared/domain/run.js';
import { operationView, requestRollback as startRollback } from '../../shared/use-cases/request-rollback.use-case.js';
import { breakGlassOperation } from '../../shared/use-cases/environment-controls.use-case.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, problem } from './problem.js';
import { refusalResponse } from './freeze.function.js';

/** URL of an operation's status. */
function operationUrl(request: HttpRequest, id: string): string {
  return `${new URL(request.url).origin}/api/operations/${id}`;
}

const REFUSAL_STATUS = { forbidden: 403, 'not-found': 404, conflict: 409 } as const;

/** POST /api/apps/{app}/environments/{env}/rollback. */
export function requestRollback(services: Pick<Services, 'apps' | 'ledger' | 'runs' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const who = services.identities.require(request);
      const body = await readJsonBody(request, rollbackRequestBody, { allowEmpty: true });
      const outcome = await startRollback(
        {
          apps: services.apps,
          ledger: services.ledger,
          runs: services.runs,
          newId: randomUUID,
          startRollback: async (instanceId, input) => void (await df.getClient(context).startNew('rollback', { instanceId, input })),
        },
        { app: request.params.app ?? '', environment: request.params.env ?? '', who, ...body },
      );
      if (!outcome.ok) return problem(REFUSAL_STATUS[outcome.code], outcome.reason);
      context.log(`rollback ${outcome.operationId} requested by ${who.id}`);
      const statusUrl = operationUrl(request, outcome.operationId);
      return { status: 202, headers: { location: statusUrl }, jsonBody: { operationId: outcome.operationId, statusUrl, status: 'Pending' } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** GET /api/operations/{operationId}. */
export async function getOperation(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const id = request.params.operationId ?? '';
    if (!isOperationId(id)) return problem(404, `no operation ${JSON.stringify(id.slice(0, 120))}`);
    const status = await df.getClient(context).getStatus(id).catch(() => undefined);
    if (!status) return problem(404, `no operation ${id}`);
    return { status: 200, jsonBody: operationView(id, { ...status, runtimeStatus: String(status.runtimeStatus) }) };
  } catch (err) {
    return errorToResponse(err, (m) => context.error(m));
  }
}

/**
 * POST /api/operations/{operationId}/break-glass with `{ reason }`: lets a rollback that waits
 * for a closed deploy window in now. Only someone the environment's deploy-window policy names
 * in `breakGlass` may (403); 409 when the operation is not waiting for a window. The rules are
 * shared/use-cases/environment-controls.use-case.ts (`breakGlassOperation`); the rollback checks
 * the override again and records who, when and why in its new revision's reason.
 */
export function breakGlassRollback(services: Pick<Services, 'apps' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const id = request.params.operationId ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, breakGlassBody);
      if (!isOperationId(id)) return problem(404, `no operation ${JSON.stringify(id.slice(0, 120))}`);
      const client = df.getClient(context);
      const result = await breakGlassOperation(
        services,
        {
          operation: async (operationId) => {
            const status = await client.getStatus(operationId).catch(() => undefined);
            const input = status?.input as RollbackInput | undefined;
            if (!status || !input) return undefined;
            const step = (status.customStatus as { step?: string } | undefined)?.step;
            return { app: input.app, environment: input.environment, live: ['Pending', 'Running'].includes(String(status.runtimeStatus)), ...(step ? { step } : {}) };
          },
          raise: (instanceId, event, payload) => client.raiseEvent(instanceId, event, payload),
        },
        { operationId: id, who, reason: body.reason, at: new Date().toISOString(), breakGlassEvent: BREAK_GLASS_EVENT },
      );
      if (!result.done) return refusalResponse(result);
      context.log(`break-glass for rollback ${id} by ${who.id}: ${body.reason}`);
      return { status: 202, jsonBody: { operationId: id, environment: result.environment, breakGlass: { by: actorOf(who), reason: body.reason, at: result.event.at } } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
