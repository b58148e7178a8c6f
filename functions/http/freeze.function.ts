/**
 * `POST /api/apps/{app}/environments/{env}/freeze` with `{ reason }` and
 * `POST .../unfreeze` with optional `{ reason }`: set or lift a freeze by hand. Who may: anyone
 * allowed to roll back the environment (today every identified caller, as for the rollback
 * API). Both are recorded with who, when and why; an unfreeze wakes the promotion waiting for it.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { freezeBody, unfreezeBody } from '../../shared/contracts/http.js';
import { UNFROZEN_EVENT } from '../../shared/contracts/orchestrations.js';
import type { LockState } from '../../shared/domain/environment-lock.js';
import { LOCK_ENTITY_NAME, lockEntityKey } from '../../shared/domain/ids.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, problem } from './problem.js';


async function knownEnvironment(services: Pick<Services, 'apps' | 'ledger'>, app: string, env: string): Promise<HttpResponseInit | undefined> {
  await services.apps.get(app);
  const envs = await services.ledger.environments(app);
  if (!envs.includes(env)) return problem(404, `${app} has no deployed environment ${JSON.stringify(env.slice(0, 60))}`);
  return undefined;
}

/** POST /api/apps/{app}/environments/{env}/freeze. */
export function freezeEnvironment(services: Pick<Services, 'apps' | 'ledger' | 'identities' | 'controls'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      const env = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, freezeBody);
      const missing = await knownEnvironment(services, app, env);
      if (missing) return missing;
      const result = await services.controls.setFreeze(app, env, { kind: 'manual', by: who.id, at: new Date().toISOString(), reason: body.reason });
      context.log(`${app}/${env} frozen by ${who.id}${result.already ? ' (already frozen)' : ''}`);
      return { status: result.already ? 200 : 201, jsonBody: { app, environment: env, frozen: true, already: result.already, freeze: result.freeze } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** POST /api/apps/{app}/environments/{env}/unfreeze. */
export function unfreezeEnvironment(services: Pick<Services, 'apps' | 'ledger' | 'identities' | 'controls'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      const env = request.params.env ?? '';
      const who = services.identities.require(request);
      const body = await readJsonBody(request, unfreezeBody, { allowEmpty: true });
      const missing = await knownEnvironment(services, app, env);
      if (missing) return missing;
      const lifted = await services.controls.unfreeze(app, env, who.id, body.reason ?? '', new Date().toISOString());
      if (!lifted) return problem(409, `${app}/${env} is not frozen`);
      // The freeze is gone from storage first; then whoever registered as waiting is woken.
      // A promotion registers before it looks, so it either saw no freeze or is found here.
      const client = df.getClient(context);
      const lock = await client.readEntityState<LockState>(new df.EntityId(LOCK_ENTITY_NAME, lockEntityKey(app, env))).catch(() => undefined);
      const holder = lock?.entityExists ? lock.entityState?.holder : undefined;
      let woke: string | undefined;
      if (holder?.phase === 'frozen') {
        await client.raiseEvent(holder.instanceId, UNFROZEN_EVENT, { by: who.id }).catch(() => undefined);
        woke = holder.runId;
      }
      context.log(`${app}/${env} unfrozen by ${who.id}${woke ? `; woke run ${woke}` : ''}`);
      return { status: 200, jsonBody: { app, environment: env, frozen: false, lifted, by: who.id, ...(woke ? { woke } : {}) } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
