/**
 * The per-environment lock from an orchestrator, event-driven (rules in
 * shared/domain/environment-lock.ts):
 *
 * - a party asks the `environmentLock` entity once; if it must wait, a waiter sub-orchestration
 *   (`environmentLockWaiter`) waits on its behalf for an external event (`LockGranted`, or
 *   `Superseded`) with a long safety timer (the first after a day, then doubling up to 4 days;
 *   the reconcile sweep repairs locks every minute, so the timer is a last resort), continuing as
 *   new after each, so neither history grows while it waits;
 * - whoever releases hands the turn or slot on inside the entity and wakes the next party
 *   through the `wakeLockParty` activity (which also finds parties that have gone, so the
 *   releaser releases on their behalf and wakes the one after);
 * - a woken party confirms by asking again: a duplicate or stale event never grants anything;
 * - on a safety tick the waiter checks that the party and the holder still exist (one terminated
 *   from outside is released on its behalf) and asks again in its next generation.
 */
import * as df from 'durable-functions';
import { LOCK_GRANTED_EVENT, SUPERSEDED_EVENT, type LockWaiterInput } from '../shared/contracts/orchestrations.js';
import type { LockAnswer, LockParty, LockPhase, Wake } from '../shared/domain/environment-lock.js';
import { LOCK_ENTITY_NAME, lockEntityKey } from '../shared/domain/ids.js';
import { call, callLock, callOrchestration, nowIso, type Call } from './activity-call.js';

/**
 * First safety timer of a waiting party. The reconcile sweep repairs locks every tick (a holder
 * that went away is released, a lost wake-up raised again: shared/use-cases/repair-lock.use-case.ts),
 * so the party's own look is the last resort (the sweep turned off, an environment not deployed
 * yet), and rare: each look adds a few history events.
 */
export const LOCK_SAFETY_FIRST_MS = 24 * 3_600_000;
/** Longest safety timer: they double from the first up to this (JS durable timers are capped near six days). */
export const LOCK_SAFETY_MAX_MS = 4 * 24 * 3_600_000;
/** Most hand-overs to parties that have gone, handled in one release. */
const MAX_HANDOVERS = 50;

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

/** The outcome of waiting for the turn or the slot. */
export type LockOutcome = { acquired: true } | { acquired: false; supersededBy: string };

/**
 * Delivers wake-ups: raises the event on each party (on the instance waiting on its behalf, if
 * any); a party that has gone is released on its behalf, which may hand the lock to the next
 * one, who is woken in turn. `self` is the party delivering: told by the answer, not an event.
 */
function* deliver(context: df.OrchestrationContext, entity: df.EntityId, wakes: readonly Wake[], self: string): Call<{ supersededBy?: string }> {
  const queue = [...wakes];
  let supersededBy: string | undefined;
  for (let n = 0; queue.length > 0 && n < MAX_HANDOVERS; n++) {
    const w = queue.shift()!;
    if (w.instanceId === self) {
      if (w.event === 'superseded') supersededBy = w.by ?? 'a newer run';
      continue;
    }
    const result = yield* call(context, 'wakeLockParty', { instanceId: w.instanceId, event: w.event, what: w.what, ...(w.by ? { by: w.by } : {}), ...(w.raiseOn ? { raiseOn: w.raiseOn } : {}) });
    if (result.gone && w.event === 'granted') {
      const released = yield* callLock(context, entity, 'release', { instanceId: w.instanceId, now: nowIso(context) });
      queue.push(...released.wake);
    }
  }
  return supersededBy === undefined ? {} : { supersededBy };
}

/**
 * Asks once; if the answer is "waiting", the wait runs in a waiter sub-orchestration
 * (`environmentLockWaiter`), so this party's history gains the same few events however long
 * it waits.
 */
function* waitFor(
  context: df.OrchestrationContext,
  app: string,
  environment: string,
  operation: LockWaiterInput['operation'],
  party: LockParty,
  onWait: (wait: LockWait) => void,
): Call<LockOutcome> {
  const entity = lockEntityId(app, environment);
  const answer: LockAnswer = yield* callLock(context, entity, operation, { party, now: nowIso(context) });
  if (answer.wake.length > 0) yield* deliver(context, entity, answer.wake, party.instanceId);
  if (answer.state === 'acquired') return { acquired: true };
  if (answer.state === 'superseded') return { acquired: false, supersededBy: answer.by };
  onWait({ state: 'waiting', holder: answer.holder, position: answer.position });
  const waiterId = `${context.df.instanceId}:lock-${operation}-${context.df.currentUtcDateTime.getTime()}`;
  return yield* callOrchestration(context, 'environmentLockWaiter', { app, environment, operation, party, safetyMs: LOCK_SAFETY_FIRST_MS }, waiterId);
}

/**
 * `environmentLockWaiter`: waits for the lock on a party's behalf, one generation per look.
 * Each generation asks the entity (naming itself as the instance to wake), waits for
 * `LockGranted` / `Superseded` or its safety timer, and continues as new — so the history of the
 * generation that waits is always the same few events. When the safety timer fires, the
 * generation first looks whether the party and the holder still exist (one that went away is
 * released on its behalf), then continues as new with a longer timer. A stale or duplicate
 * event grants nothing: the generation it reaches asks the entity.
 */
export function* lockWaiterOrchestrator(context: df.OrchestrationContext): Generator<df.Task, LockOutcome, unknown> {
  const input = context.df.getInput<LockWaiterInput>();
  const entity = lockEntityId(input.app, input.environment);
  const self = input.party.instanceId;
  const party: LockParty = { ...input.party, waiter: context.df.instanceId };
  const answer: LockAnswer = yield* callLock(context, entity, input.operation, { party, now: nowIso(context) });
  if (answer.wake.length > 0) yield* deliver(context, entity, answer.wake, self);
  if (answer.state === 'acquired') return { acquired: true };
  if (answer.state === 'superseded') return { acquired: false, supersededBy: answer.by };
  context.df.setCustomStatus({ state: 'waiting', holder: answer.holder, position: answer.position } satisfies LockWait);
  const granted = context.df.waitForExternalEvent(LOCK_GRANTED_EVENT);
  const superseded = context.df.waitForExternalEvent(SUPERSEDED_EVENT);
  const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + input.safetyMs));
  const winner = yield context.df.Task.any([granted, superseded, timer]);
  if (winner !== timer) {
    timer.cancel();
    context.df.continueAsNew(input);
    return { acquired: false, supersededBy: 'continued as new' };
  }
  // The safety look, in this generation (the next one starts with a plain ask): has the party
  // gone (terminated while it waited), or the holder (it never released)?
  const me = yield* call(context, 'wakeLockParty', { instanceId: self });
  if (me.gone) {
    const released = yield* callLock(context, entity, 'release', { instanceId: self, now: nowIso(context) });
    yield* deliver(context, entity, released.wake, self);
    return { acquired: false, supersededBy: 'the waiting party has gone' };
  }
  if (answer.holderInstance) {
    const holder = yield* call(context, 'wakeLockParty', { instanceId: answer.holderInstance });
    if (holder.gone) {
      const released = yield* callLock(context, entity, 'release', { instanceId: answer.holderInstance, now: nowIso(context), what: input.operation === 'acquire' ? 'slot' : 'all' });
      yield* deliver(context, entity, released.wake, self);
    }
  }
  context.df.continueAsNew({ ...input, safetyMs: Math.min(input.safetyMs * 2, LOCK_SAFETY_MAX_MS) } satisfies LockWaiterInput);
  return { acquired: false, supersededBy: 'continued as new' };
}

/** Waits for the environment's turn (promotions). `onWait` is told the holder and our place in line. */
export function acquireTurn(context: df.OrchestrationContext, app: string, environment: string, party: LockParty, onWait: (wait: LockWait) => void): Call<LockOutcome> {
  return waitFor(context, app, environment, 'request', party, onWait);
}

/** Waits for the deploy slot (a promotion holding the turn, a rollback, a heal). */
export function acquireSlot(context: df.OrchestrationContext, app: string, environment: string, party: LockParty, onWait: (wait: LockWait) => void): Call<LockOutcome> {
  return waitFor(context, app, environment, 'acquire', party, onWait);
}

/**
 * Reports the turn holder's phase (a newer run may supersede an approval or gate wait; an
 * unfreeze wakes a frozen one). `supersededBy` is set when a newer run already waits, so the
 * wait about to start is moot.
 */
export function* lockPhase(context: df.OrchestrationContext, app: string, environment: string, instanceId: string, phase: LockPhase): Call<{ supersededBy?: string }> {
  const entity = lockEntityId(app, environment);
  // Histories recorded before `phase` answered anything hold null for it.
  const answer: { wake: Wake[] } | null = yield* callLock(context, entity, 'phase', { instanceId, phase });
  const wake = answer === null ? [] : answer.wake;
  return wake.length > 0 ? yield* deliver(context, entity, wake, instanceId) : {};
}

/**
 * Releases the slot (`slot`) or everything (`all`) and wakes whoever it was handed to.
 * `supersededBy` is set when the caller, a turn holder giving the slot back to wait at a closed
 * gate, is made moot by a newer run in line.
 */
export function* releaseLock(context: df.OrchestrationContext, app: string, environment: string, instanceId: string, what: 'all' | 'slot' = 'all'): Call<{ supersededBy?: string }> {
  const entity = lockEntityId(app, environment);
  const released = yield* callLock(context, entity, 'release', { instanceId, now: nowIso(context), what });
  return released.wake.length > 0 ? yield* deliver(context, entity, released.wake, instanceId) : {};
}
