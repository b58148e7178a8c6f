/**
 * `POST /api/apps/{app}/environments/{env}/rollback` with optional `{ toRevision, reason, force }`
 * starts a `rollback` orchestration (default target: the last good revision before the current
 * one) and answers 202 with an operation status URL; `GET /api/operations/{operationId}` reads it.
 * What can be refused is checked first (404 / 409) so the caller learns at once; the
 * orchestration checks again under the environment lock.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { breakGlassBody, rollbackRequestBody } from '../../shared/contracts/http.js';
import type { BreakGlassRequest, RollbackInput, RollbackResult } from '../../shared/contracts/activities.js';
import { BREAK_GLASS_EVENT } from '../../shared/contracts/orchestrations.js';
import { breakGlassRefusal } from '../../shared/domain/windows.js';
import { isOperationId, rollbackOperationId } from '../../shared/domain/ids.js';
import { findRollbackTarget } from '../../shared/use-cases/rollback-target.use-case.js';
import { currentApprovers } from '../../shared/use-cases/current-approvers.use-case.js';
import { deployWindowOf, rollbackRefusal } from '../../shared/domain/policy.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, problem } from './problem.js';

/** URL of an operation's status. */
function operationUrl(request: HttpRequest, id: string): string {
  return `${new URL(request.url).origin}/api/operations/${id}`;
}

/** POST /api/apps/{app}/environments/{env}/rollback. */
export function requestRollback(services: Pick<Services, 'apps' | 'ledger' | 'runs' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const appName = request.params.app ?? '';
      const envName = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, rollbackRequestBody, { allowEmpty: true });
      const { apps, ledger } = services;
      const { value: app } = await apps.get(appName);
      // Rollback rights come from the environment policy (default: its approvers).
      const policy = app.policy?.environments[envName];
      const fallback = policy?.rollback || policy?.approval ? undefined : await currentApprovers(services, app.name, envName);
      const refusal = rollbackRefusal({ environment: envName, policy, currentApprovers: fallback, who });
      if (refusal) return problem(403, refusal);
      const target = await findRollbackTarget(ledger, { app: app.name, environment: envName, toRevision: body.toRevision, force: body.force });
      if (!target.ok && target.code === 'never-deployed') return problem(404, `${app.name} has no deployed environment ${JSON.stringify(envName.slice(0, 60))}`);
      if (!target.ok) return problem(409, target.reason);

      const operationId = rollbackOperationId(app.name, envName, randomUUID());
      const input: RollbackInput = {
        operationId,
        app: app.name,
        environment: envName,
        repoUrl: app.repoUrl,
        pipelinePath: app.pipelinePath,
        ...(body.toRevision !== undefined ? { toRevision: body.toRevision } : {}),
        force: body.force,
        ...(body.reason ? { reason: body.reason } : {}),
        requestedBy: { id: who.id, ...(who.name ? { name: who.name } : {}) },
        requestedAt: new Date().toISOString(),
        ...(body.breakGlass ? { breakGlass: { by: who.id, groups: [...who.groups], reason: body.breakGlass.reason, at: new Date().toISOString() } } : {}),
      };
      await df.getClient(context).startNew('rollback', { instanceId: operationId, input });
      context.log(`rollback ${operationId} requested by ${who.id}`);
      const statusUrl = operationUrl(request, operationId);
      return { status: 202, headers: { location: statusUrl }, jsonBody: { operationId, statusUrl, status: 'Pending' } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

const RUNTIME_TO_STATUS: Record<string, string> = {
  Pending: 'Pending',
  Running: 'Running',
  ContinuedAsNew: 'Running',
  Suspended: 'Running',
  Failed: 'Errored',
  Terminated: 'Aborted',
  Canceled: 'Aborted',
};

/** GET /api/operations/{operationId}. */
export async function getOperation(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const id = request.params.operationId ?? '';
    if (!isOperationId(id)) return problem(404, `no operation ${JSON.stringify(id.slice(0, 120))}`);
    const status = await df.getClient(context).getStatus(id).catch(() => undefined);
    if (!status) return problem(404, `no operation ${id}`);
    const input = status.input as RollbackInput | undefined;
    const output = status.runtimeStatus === 'Completed' ? (status.output as RollbackResult) : undefined;
    return {
      status: 200,
      jsonBody: {
        operationId: id,
        kind: 'rollback',
        app: input?.app,
        environment: input?.environment,
        requestedBy: input?.requestedBy,
        requestedAt: input?.requestedAt,
        status: output?.status ?? RUNTIME_TO_STATUS[status.runtimeStatus] ?? status.runtimeStatus,
        ...(output ?? {}),
        progress: status.customStatus ?? null,
        lastUpdatedTime: status.lastUpdatedTime,
      },
    };
  } catch (err) {
    return errorToResponse(err, (m) => context.error(m));
  }
}

/**
 * POST /api/operations/{operationId}/break-glass with `{ reason }`: lets a rollback that waits
 * for a closed deploy window in now. Only someone the environment's deploy-window policy names
 * in `breakGlass` may (403); 409 when the operation is not waiting for a window. The rollback
 * checks the override again and records who and why in its new revision's note.
 */
export function breakGlassRollback(services: Pick<Services, 'apps' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const id = request.params.operationId ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, breakGlassBody);
      if (!isOperationId(id)) return problem(404, `no operation ${JSON.stringify(id.slice(0, 120))}`);
      const client = df.getClient(context);
      const status = await client.getStatus(id).catch(() => undefined);
      const input = status?.input as RollbackInput | undefined;
      if (!status || !input) return problem(404, `no operation ${id}`);
      const { value: app } = await services.apps.get(input.app);
      const refusal = breakGlassRefusal(deployWindowOf(app, input.environment)?.breakGlass ?? [], { id: who.id, groups: [...who.groups] }, body.reason);
      if (refusal) return problem(403, refusal);
      const step = (status.customStatus as { step?: string } | undefined)?.step;
      const live = ['Pending', 'Running'].includes(String(status.runtimeStatus));
      if (!live || step !== 'waiting-for-window') return problem(409, `rollback ${id} is not waiting for a deploy window${step ? ` (it is ${step})` : ''}`);
      const event: BreakGlassRequest = { by: who.id, groups: [...who.groups], reason: body.reason, at: new Date().toISOString() };
      await client.raiseEvent(id, BREAK_GLASS_EVENT, event);
      context.log(`break-glass for rollback ${id} by ${who.id}: ${body.reason}`);
      return { status: 202, jsonBody: { operationId: id, environment: input.environment, breakGlass: { by: who.id, reason: body.reason, at: event.at } } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
