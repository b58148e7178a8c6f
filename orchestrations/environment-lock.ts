/**
 * Acquiring and releasing the per-environment lock from an orchestrator: ask the
 * `environmentLock` entity, and while waiting ask again after a durable timer (no sleeping in
 * an activity, no lost wake-ups after a crash). The rules live in shared/domain/environment-lock.
 */
import * as df from 'durable-functions';
import type { LockHolder, LockParty } from '../shared/domain/environment-lock.js';
import { LOCK_ENTITY_NAME, lockEntityKey } from '../shared/domain/ids.js';
import { call, callLock, nowIso, type Call } from './activity-call.js';

/** How often a waiting party asks again. */
export const LOCK_POLL_MS = 1000;

/** The entity id of an environment's lock (name and key from shared/domain/ids.ts). */
export function lockEntityId(app: string, environment: string): df.EntityId {
  return new df.EntityId(LOCK_ENTITY_NAME, lockEntityKey(app, environment));
}

/** Custom status shown while a party waits. */
export interface LockWait {
  state: 'waiting';
  holder?: string;
  position: number;
}

/**
 * Waits until the party holds the lock or is superseded. `onWait` is told each answer while
 * waiting (to show it in the custom status).
 */
export function* acquireLock(
  context: df.OrchestrationContext,
  app: string,
  environment: string,
  party: LockParty,
  onWait: (wait: LockWait) => void,
): Generator<df.Task, { acquired: true } | { acquired: false; supersededBy: string }, unknown> {
  const entity = lockEntityId(app, environment);
  for (;;) {
    const answer = yield* callLock(context, entity, 'request', { party, now: nowIso(context) });
    if (answer.state === 'acquired') return { acquired: true };
    if (answer.state === 'superseded') return { acquired: false, supersededBy: answer.by };
    if (answer.supersedeHolder) {
      // The holder is waiting for an approval that a newer run made moot: tell it.
      yield* call(context, 'notifySuperseded', { instanceId: answer.supersedeHolder, by: party.runId });
    }
    onWait({ state: 'waiting', holder: answer.holder, position: answer.position });
    yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + LOCK_POLL_MS));
  }
}

/** Reports the holder's phase (so a newer run knows it may supersede an approval wait). */
export function lockPhase(context: df.OrchestrationContext, app: string, environment: string, instanceId: string, phase: LockHolder['phase']): Call<null> {
  return callLock(context, lockEntityId(app, environment), 'phase', { instanceId, phase });
}

/** Releases the lock (a no-op when not held). */
export function releaseLock(context: df.OrchestrationContext, app: string, environment: string, instanceId: string): Call<null> {
  return callLock(context, lockEntityId(app, environment), 'release', { instanceId });
}
