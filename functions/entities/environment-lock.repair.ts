/**
 * The durable-client side of repairing environment locks (shared/use-cases/repair-lock.use-case.ts):
 * read the entity, ask whether a holder's instance still runs, signal a release on its behalf,
 * and raise a lost wake-up again. Used by the reconcile timer.
 */
import * as df from 'durable-functions';
import { LOCK_GRANTED_EVENT, type LockGrantedEvent } from '../../shared/contracts/orchestrations.js';
import type { LockState } from '../../shared/domain/environment-lock.js';
import { LOCK_ENTITY_NAME, lockEntityKey } from '../../shared/domain/ids.js';
import type { LockRepairPorts } from '../../shared/use-cases/repair-lock.use-case.js';

const LIVE = new Set(['Pending', 'Running', 'Suspended', 'ContinuedAsNew']);

/** The repair's ports over a durable client. */
export function lockRepairPorts(client: df.DurableClient): LockRepairPorts {
  const entity = (app: string, env: string) => new df.EntityId(LOCK_ENTITY_NAME, lockEntityKey(app, env));
  return {
    async read(app, env) {
      const r = await client.readEntityState<LockState>(entity(app, env));
      return r.entityExists ? r.entityState : undefined;
    },
    async liveness(instanceId) {
      try {
        const status = await client.getStatus(instanceId);
        return LIVE.has(String(status.runtimeStatus)) ? 'live' : 'gone';
      } catch (err) {
        // The client reports an unknown instance as an HTTP 404 error; anything else is unknown.
        return err instanceof Error && /HTTP 404/.test(err.message) ? 'gone' : 'unknown';
      }
    },
    releaseOnBehalf: (app, env, instanceId) => client.signalEntity(entity(app, env), 'release', { instanceId, now: new Date().toISOString(), what: 'all' }),
    // On the instance waiting on the party's behalf (a waiter sub-orchestration), or on the party;
    // a waiter that has just ended cannot take it, so the party gets it (a stale event is harmless).
    wake: async (w) => {
      const raise = (id: string) => client.raiseEvent(id, LOCK_GRANTED_EVENT, { what: w.what } satisfies LockGrantedEvent);
      if (w.raiseOn === undefined) return raise(w.instanceId);
      return raise(w.raiseOn).catch(() => raise(w.instanceId));
    },
  };
}
