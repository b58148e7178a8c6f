/**
 * `POST /api/apps/{app}/environments/{env}/freeze` with `{ reason }` and
 * `POST .../unfreeze` with optional `{ reason }`: set or lift a freeze by hand. The rules (who
 * may, what is recorded, who is woken) are shared/use-cases/environment-controls.use-case.ts.
 */
import { actorOf } from '../../shared/domain/run.js';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { freezeBody, unfreezeBody } from '../../shared/contracts/http.js';
import { UNFROZEN_EVENT } from '../../shared/contracts/orchestrations.js';
import type { LockState } from '../../shared/domain/environment-lock.js';
import { LOCK_ENTITY_NAME, lockEntityKey } from '../../shared/domain/ids.js';
import { freezeEnvironment as freeze, unfreezeEnvironment as unfreeze, type ControlRefusal, type ControlSignals } from '../../shared/use-cases/environment-controls.use-case.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, problem } from './problem.js';

/** The HTTP answer of a refused control. */
export function refusalResponse(refused: ControlRefusal): HttpResponseInit {
  return problem(refused.code === 'not-found' ? 404 : refused.code === 'not-allowed' ? 403 : 409, refused.reason);
}

/** The durable client as the controls need it. */
export function controlSignals(context: InvocationContext): ControlSignals {
  const client = df.getClient(context);
  return {
    async lockHolder(app, env) {
      const lock = await client.readEntityState<LockState>(new df.EntityId(LOCK_ENTITY_NAME, lockEntityKey(app, env)));
      return lock.entityExists ? lock.entityState?.holder : undefined;
    },
    async promotionStep(instanceId) {
      const status = await client.getStatus(instanceId).catch(() => undefined);
      return status ? ((status.customStatus as { step?: string } | undefined)?.step ?? undefined) : null;
    },
    raise: (instanceId, event, payload) => client.raiseEvent(instanceId, event, payload),
  };
}

type ControlServices = Pick<Services, 'apps' | 'ledger' | 'runs' | 'identities' | 'controls'>;

/** POST /api/apps/{app}/environments/{env}/freeze. */
export function freezeEnvironment(services: ControlServices) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      const env = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, freezeBody);
      const result = await freeze(services, { app, environment: env, who, reason: body.reason, at: new Date().toISOString() });
      if (!result.done) return refusalResponse(result);
      context.log(`${app}/${env} frozen by ${who.id}${result.already ? ' (already frozen)' : ''}`);
      return { status: result.already ? 200 : 201, jsonBody: { app, environment: env, frozen: true, already: result.already, freeze: result.freeze } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** POST /api/apps/{app}/environments/{env}/unfreeze. */
export function unfreezeEnvironment(services: ControlServices) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      const env = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, unfreezeBody, { allowEmpty: true });
      const result = await unfreeze(services, controlSignals(context), { app, environment: env, who, reason: body.reason ?? '', at: new Date().toISOString(), unfrozenEvent: UNFROZEN_EVENT });
      if (!result.done) return refusalResponse(result);
      context.log(`${app}/${env} unfrozen by ${who.id}${result.woke ? `; woke run ${result.woke}` : ''}`);
      return { status: 200, jsonBody: { app, environment: env, frozen: false, lifted: result.lifted, by: actorOf(who), ...(result.woke ? { woke: result.woke } : {}) } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
