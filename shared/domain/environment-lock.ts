/**
 * The per-environment lock, as pure state transitions; the durable entity `environmentLock`
 * (one per app + environment) applies them one operation at a time. It has two parts:
 *
 * - **The turn** (promotions only): which run's promotion of this environment is in progress,
 *   from its approval wait to its recorded deployment. `latest` (the default): a newer run's
 *   request supersedes older waiting promotions and a turn holder still waiting for its
 *   approval; `queue`: first come, first served. The turn is what orders runs.
 * - **The deploy slot** (promotions holding the turn, rollbacks, heals): who may change what
 *   runs right now. Held only while deploying, verifying and recording — never during an
 *   approval wait — so a rollback requested during an incident gets it at once.
 *
 * Waiting is event-driven: a party that must wait is queued and waits for an external event;
 * `release` hands the turn and/or the slot to the next party and answers whom to wake (the
 * releasing orchestrator raises the event through an activity). The entity never grants twice:
 * a grant is a state change of the entity, and a woken party confirms it by asking again.
 * Parties that went away are released on their behalf by whoever finds them gone.
 */

/** Who asks for the turn or the slot. */
export interface LockParty {
  /** The orchestration instance that will hold it. */
  instanceId: string;
  runId: string;
  /** When the run was requested (ISO); orders "newer". */
  requestedAt: string;
  kind: 'promotion' | 'rollback' | 'heal';
  policy: 'latest' | 'queue';
  /**
   * The instance that actually waits for the wake-up, when it is not `instanceId` itself (a
   * waiter sub-orchestration, so the party's own history stays constant while it waits).
   */
  waiter?: string;
}

/** What the turn holder is doing (`frozen`: looking at or waiting at a closed gate, a freeze or a deploy window). */
export type LockPhase = 'waiting' | 'approval' | 'frozen' | 'deploying';

/** The turn holder, with what it is doing. */
export interface LockHolder extends LockParty {
  since: string;
  phase: LockPhase;
  /** False while a hand-over is not yet confirmed by the party (its wake-up may have been lost). */
  confirmed?: boolean;
}

/** A party in a line. */
export type LockWaiter = LockParty & { since: string; lastSeen: string };

/** Entity state. */
export interface LockState {
  /** The promotion whose turn it is. */
  holder?: LockHolder;
  /** Promotions waiting for their turn, in order. */
  waiters: LockWaiter[];
  /** Instances told to stop, with the run that superseded them. */
  superseded: Record<string, string>;
  /** Who holds the deploy slot (`confirmed` as for the holder). */
  slot?: LockParty & { since: string; confirmed?: boolean };
  /** Waiting for the deploy slot, in order. */
  slotWaiters: LockWaiter[];
  /** Party instance -> the instance waiting on its behalf now (wake-ups are raised there). */
  waiterOf?: Record<string, string>;
}

/** Someone to wake: the releaser raises `LockGranted` (what) or `Superseded` on it. */
export interface Wake {
  instanceId: string;
  event: 'granted' | 'superseded';
  what: 'turn' | 'slot';
  /** For `superseded`: the run that superseded it. */
  by?: string;
  /** The instance to raise the event on, when the party waits through a waiter sub-orchestration. */
  raiseOn?: string;
}

/** Answer to `request` (the turn) and `acquire` (the slot). */
export type LockAnswer =
  | { state: 'acquired'; wake: Wake[] }
  | { state: 'waiting'; holder?: string; holderInstance?: string; position: number; wake: Wake[] }
  | { state: 'superseded'; by: string; wake: Wake[] };

/** A waiter not heard from for this long is dropped (waiters re-ask on their own safety timer, at most every 4 days). */
export const STALE_WAITER_MS = 10 * 24 * 3_600_000;

/** The empty lock. */
export function emptyLock(): LockState {
  return { waiters: [], superseded: {}, slotWaiters: [] };
}

/** Fills fields added after a state was stored (entity state outlives code versions). */
export function normaliseLock(state: Partial<LockState> | undefined): LockState {
  return {
    waiters: state?.waiters ?? [], superseded: state?.superseded ?? {}, slotWaiters: state?.slotWaiters ?? [],
    ...(state?.holder ? { holder: state.holder } : {}), ...(state?.slot ? { slot: state.slot } : {}),
    ...(state?.waiterOf && Object.keys(state.waiterOf).length > 0 ? { waiterOf: state.waiterOf } : {}),
  };
}

/**
 * Notes who waits on `party`'s behalf (its answer is `waiting`), or forgets it (any other
 * answer: the waiter ends with it), and addresses the wake-ups to the instances that wait.
 */
function addressed(s: LockState, party: LockParty, answer: LockAnswer): LockAnswer {
  const map = { ...(s.waiterOf ?? {}) };
  if (answer.state === 'waiting' && party.waiter) map[party.instanceId] = party.waiter;
  else delete map[party.instanceId];
  if (Object.keys(map).length > 0) s.waiterOf = map;
  else delete s.waiterOf;
  return { ...answer, wake: address(s, answer.wake) };
}

/** Sets `raiseOn` on each wake-up whose party waits through a waiter instance. */
function address(s: LockState, wake: Wake[]): Wake[] {
  return wake.map((w) => {
    const on = s.waiterOf?.[w.instanceId];
    return on ? { ...w, raiseOn: on } : w;
  });
}

const newer = (a: LockParty, b: LockParty) => a.requestedAt > b.requestedAt || (a.requestedAt === b.requestedAt && a.runId > b.runId);
const supersedable = (p: LockParty) => p.kind === 'promotion' && p.policy === 'latest';

function dropStale(list: LockWaiter[], keep: string, now: string): LockWaiter[] {
  const nowMs = Date.parse(now);
  return list.filter((w) => w.instanceId === keep || nowMs - Date.parse(w.lastSeen) <= STALE_WAITER_MS);
}

/**
 * A turn holder that waits — for its approval, or at a closed gate (a freeze or a deploy window)
 * without the deploy slot — is made moot by a newer run in line under `latest`: it is marked
 * superseded by the newest such run and named to be woken. A holder holding the slot (deploying,
 * or looking at the gate under it) is never superseded.
 */
function supersedeWaitingHolder(s: LockState): Wake[] {
  const h = s.holder;
  if (!h || !supersedable(h) || (h.phase !== 'approval' && h.phase !== 'frozen')) return [];
  if (s.slot?.instanceId === h.instanceId || s.superseded[h.instanceId] !== undefined) return [];
  let newest: LockWaiter | undefined;
  for (const w of s.waiters) if (supersedable(w) && newer(w, h) && (!newest || newer(w, newest))) newest = w;
  if (!newest) return [];
  s.superseded[h.instanceId] = newest.runId;
  return [{ instanceId: h.instanceId, event: 'superseded', what: 'turn', by: newest.runId }];
}

/** Gives the free turn to the first waiter, if any; returns whom to wake. */
function passTurn(s: LockState, now: string): Wake[] {
  if (s.holder) return [];
  const next = s.waiters.shift();
  if (!next) return [];
  const { since: _since, lastSeen: _seen, ...party } = next;
  s.holder = { ...party, since: now, phase: 'waiting', confirmed: false };
  return [{ instanceId: next.instanceId, event: 'granted', what: 'turn' }];
}

/** Gives the free slot to the first slot waiter, if any. */
function passSlot(s: LockState, now: string): Wake[] {
  if (s.slot) return [];
  const next = s.slotWaiters.shift();
  if (!next) return [];
  const { since: _since, lastSeen: _seen, ...party } = next;
  s.slot = { ...party, since: now, confirmed: false };
  return [{ instanceId: next.instanceId, event: 'granted', what: 'slot' }];
}

/** `request`: a promotion asks for the turn (first time, after a wake-up, or on its safety timer). */
export function requestTurn(state: LockState, party: LockParty, now: string): { state: LockState; answer: LockAnswer } {
  const s: LockState = structuredClone(normaliseLock(state));
  const wake: Wake[] = [];
  const by = s.superseded[party.instanceId];
  if (by !== undefined) {
    delete s.superseded[party.instanceId];
    s.waiters = s.waiters.filter((w) => w.instanceId !== party.instanceId);
    return { state: s, answer: addressed(s, party, { state: 'superseded', by, wake }) };
  }
  if (s.holder?.instanceId === party.instanceId) {
    // The woken party confirms: the hand-over is complete.
    if (s.holder.confirmed === false) s.holder = { ...s.holder, confirmed: true };
    return { state: s, answer: addressed(s, party, { state: 'acquired', wake }) };
  }

  if (supersedable(party)) {
    const newest = s.waiters.find((w) => w.instanceId !== party.instanceId && supersedable(w) && newer(w, party));
    if (newest) {
      s.waiters = s.waiters.filter((w) => w.instanceId !== party.instanceId);
      return { state: s, answer: addressed(s, party, { state: 'superseded', by: newest.runId, wake }) };
    }
    for (const w of s.waiters) {
      if (w.instanceId !== party.instanceId && supersedable(w) && newer(party, w)) {
        s.superseded[w.instanceId] = party.runId;
        wake.push({ instanceId: w.instanceId, event: 'superseded', what: 'turn', by: party.runId });
      }
    }
    s.waiters = s.waiters.filter((w) => s.superseded[w.instanceId] === undefined);
  }
  s.waiters = dropStale(s.waiters, party.instanceId, now);

  const queued = s.waiters.findIndex((w) => w.instanceId === party.instanceId);
  if (!s.holder && (queued === 0 || (queued === -1 && s.waiters.length === 0))) {
    s.waiters = s.waiters.filter((w) => w.instanceId !== party.instanceId);
    s.holder = { ...party, since: now, phase: 'waiting' };
    return { state: s, answer: addressed(s, party, { state: 'acquired', wake }) };
  }
  if (queued === -1) s.waiters.push({ ...party, since: now, lastSeen: now });
  else s.waiters[queued]!.lastSeen = now;
  wake.push(...supersedeWaitingHolder(s));
  const position = s.waiters.findIndex((w) => w.instanceId === party.instanceId) + 1;
  return { state: s, answer: addressed(s, party, { state: 'waiting', holder: s.holder?.runId, holderInstance: s.holder?.instanceId, position, wake }) };
}

/**
 * `acquire`: asks for the deploy slot. A promotion must hold the turn (or it is told it was
 * superseded); rollbacks and heals only need the slot. First come, first served.
 */
export function acquireSlot(state: LockState, party: LockParty, now: string): { state: LockState; answer: LockAnswer } {
  const s: LockState = structuredClone(normaliseLock(state));
  if (s.slot?.instanceId === party.instanceId) {
    if (s.slot.confirmed === false) s.slot = { ...s.slot, confirmed: true };
    return { state: s, answer: addressed(s, party, { state: 'acquired', wake: [] }) };
  }
  // A promotion without the turn, or one superseded while it waited with it (its event may
  // have been lost), learns it here.
  if (party.kind === 'promotion' && (s.holder?.instanceId !== party.instanceId || s.superseded[party.instanceId] !== undefined)) {
    const by = s.superseded[party.instanceId] ?? 'a newer run';
    delete s.superseded[party.instanceId];
    return { state: s, answer: addressed(s, party, { state: 'superseded', by, wake: [] }) };
  }
  s.slotWaiters = dropStale(s.slotWaiters, party.instanceId, now);
  const queued = s.slotWaiters.findIndex((w) => w.instanceId === party.instanceId);
  if (!s.slot && (queued === 0 || (queued === -1 && s.slotWaiters.length === 0))) {
    s.slotWaiters = s.slotWaiters.filter((w) => w.instanceId !== party.instanceId);
    s.slot = { ...party, since: now };
    return { state: s, answer: addressed(s, party, { state: 'acquired', wake: [] }) };
  }
  if (queued === -1) s.slotWaiters.push({ ...party, since: now, lastSeen: now });
  else s.slotWaiters[queued]!.lastSeen = now;
  const position = s.slotWaiters.findIndex((w) => w.instanceId === party.instanceId) + 1;
  return { state: s, answer: addressed(s, party, { state: 'waiting', holder: s.slot?.runId, holderInstance: s.slot?.instanceId, position, wake: [] }) };
}

/**
 * The turn holder reports what it is doing (`approval` and `frozen` waits may be superseded by a
 * newer run; an unfreeze wakes a `frozen` one). Answers whom to wake: the holder itself when a
 * newer run is already in line and the wait it starts is therefore moot.
 */
export function setLockPhase(state: LockState, instanceId: string, phase: LockPhase): { state: LockState; wake: Wake[] } {
  const s: LockState = structuredClone(normaliseLock(state));
  if (s.holder?.instanceId !== instanceId) return { state: s, wake: [] };
  s.holder = { ...s.holder, phase };
  return { state: s, wake: address(s, supersedeWaitingHolder(s)) };
}

/**
 * `release`: gives up whatever `instanceId` holds or waits for (`what`: only the slot, or
 * everything) and hands it on. Answers whom to wake.
 */
export function releaseLock(state: LockState, instanceId: string, now: string, what: 'all' | 'slot' = 'all'): { state: LockState; wake: Wake[] } {
  const s: LockState = structuredClone(normaliseLock(state));
  if (s.slot?.instanceId === instanceId) delete s.slot;
  s.slotWaiters = s.slotWaiters.filter((w) => w.instanceId !== instanceId);
  if (what === 'all') {
    if (s.holder?.instanceId === instanceId) delete s.holder;
    s.waiters = s.waiters.filter((w) => w.instanceId !== instanceId);
    delete s.superseded[instanceId];
    if (s.waiterOf?.[instanceId] !== undefined) {
      const { [instanceId]: _gone, ...rest } = s.waiterOf;
      if (Object.keys(rest).length > 0) s.waiterOf = rest;
      else delete s.waiterOf;
    }
  }
  // A turn holder that gives the slot back to wait at a closed gate is moot if a newer run waits.
  return { state: s, wake: address(s, [...passSlot(s, now), ...passTurn(s, now), ...supersedeWaitingHolder(s)]) };
}

/** What a repair pass (the reconcile sweep) should do about one lock. */
export interface LockRepair {
  /** Instances holding the turn or the slot: released on their behalf if they have gone. */
  holders: string[];
  /** Hand-overs not confirmed after `staleMs`: their wake-up may have been lost, so it is raised again. */
  rewake: Wake[];
}

/**
 * The repairs a lock may need, so a waiting party need not look for itself: a holder that went
 * away (terminated from outside) is found by its instance, and a hand-over whose wake-up was
 * lost is woken again (a duplicate wake-up is harmless: the party confirms with the entity).
 */
export function lockRepairs(state: LockState | undefined, now: string, staleMs: number): LockRepair {
  const s = normaliseLock(state);
  const holders = [...new Set([s.holder?.instanceId, s.slot?.instanceId].filter((x): x is string => x !== undefined))];
  const old = (since: string) => Date.parse(now) - Date.parse(since) >= staleMs;
  const rewake: Wake[] = [];
  if (s.holder && s.holder.confirmed === false && old(s.holder.since)) rewake.push({ instanceId: s.holder.instanceId, event: 'granted', what: 'turn' });
  if (s.slot && s.slot.confirmed === false && old(s.slot.since)) rewake.push({ instanceId: s.slot.instanceId, event: 'granted', what: 'slot' });
  return { holders, rewake: address(s, rewake) };
}
