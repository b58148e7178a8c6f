/**
 * The per-environment lock: at most one deployment or rollback per app and environment, and
 * "newer commits win". Pure state transitions; the durable entity `environmentLock` (one per
 * app + environment) applies them one operation at a time.
 *
 * Rules:
 * - A party asks with `request`; it gets the lock when nobody holds it and (for `queue`) it is
 *   first in line, else it waits (and asks again after a durable timer).
 * - `latest` (the default): when a promotion asks, waiting promotions of older runs are
 *   superseded by it, and so is a holder still waiting for its approval (the holder is told by
 *   an event and releases). A waiter newer than the asker supersedes the asker.
 * - `queue`: first come, first served; nobody is superseded.
 * - Rollbacks are never superseded and supersede nobody; they queue.
 */

/** Who asks for the lock. */
export interface LockParty {
  /** The orchestration instance that will hold the lock. */
  instanceId: string;
  runId: string;
  /** When the run was requested (ISO); orders "newer". */
  requestedAt: string;
  kind: 'promotion' | 'rollback';
  policy: 'latest' | 'queue';
}

/** The holder, with what it is doing. */
export interface LockHolder extends LockParty {
  since: string;
  phase: 'approval' | 'deploying';
}

/** Entity state. */
export interface LockState {
  holder?: LockHolder;
  waiters: (LockParty & { since: string; lastSeen: string })[];
  /** Instances told to stop, with the run that superseded them. */
  superseded: Record<string, string>;
}

/** Answer to `request`. */
export type LockAnswer =
  | { state: 'acquired' }
  | { state: 'waiting'; holder?: string; position: number; supersedeHolder?: string }
  | { state: 'superseded'; by: string };

/** A waiter not heard from for this long is dropped (waiters ask again every few seconds). */
export const STALE_WAITER_MS = 5 * 60_000;

/** The empty lock. */
export function emptyLock(): LockState {
  return { waiters: [], superseded: {} };
}

const newer = (a: LockParty, b: LockParty) => a.requestedAt > b.requestedAt || (a.requestedAt === b.requestedAt && a.runId > b.runId);
const supersedable = (p: LockParty) => p.kind === 'promotion' && p.policy === 'latest';

/** Applies `request` from `party` at time `now`. */
export function requestLock(state: LockState, party: LockParty, now: string): { state: LockState; answer: LockAnswer } {
  const s: LockState = structuredClone(state);
  const by = s.superseded[party.instanceId];
  if (by !== undefined) {
    delete s.superseded[party.instanceId];
    s.waiters = s.waiters.filter((w) => w.instanceId !== party.instanceId);
    return { state: s, answer: { state: 'superseded', by } };
  }
  if (s.holder?.instanceId === party.instanceId) return { state: s, answer: { state: 'acquired' } };

  if (supersedable(party)) {
    const newest = s.waiters.find((w) => w.instanceId !== party.instanceId && supersedable(w) && newer(w, party));
    if (newest) {
      s.waiters = s.waiters.filter((w) => w.instanceId !== party.instanceId);
      return { state: s, answer: { state: 'superseded', by: newest.runId } };
    }
    for (const w of s.waiters) {
      if (w.instanceId !== party.instanceId && supersedable(w) && newer(party, w)) s.superseded[w.instanceId] = party.runId;
    }
    s.waiters = s.waiters.filter((w) => s.superseded[w.instanceId] === undefined);
  }

  // A waiter that stopped asking (its orchestration ended without releasing) must not block the line.
  const nowMs = Date.parse(now);
  s.waiters = s.waiters.filter((w) => w.instanceId === party.instanceId || nowMs - Date.parse(w.lastSeen) <= STALE_WAITER_MS);

  const queued = s.waiters.findIndex((w) => w.instanceId === party.instanceId);
  if (!s.holder && (queued === 0 || (queued === -1 && s.waiters.length === 0))) {
    s.waiters = s.waiters.filter((w) => w.instanceId !== party.instanceId);
    s.holder = { ...party, since: now, phase: 'deploying' };
    return { state: s, answer: { state: 'acquired' } };
  }
  if (queued === -1) s.waiters.push({ ...party, since: now, lastSeen: now });
  else s.waiters[queued]!.lastSeen = now;
  let supersedeHolder: string | undefined;
  if (s.holder && supersedable(party) && supersedable(s.holder) && s.holder.phase === 'approval' && newer(party, s.holder)) {
    if (s.superseded[s.holder.instanceId] === undefined) {
      s.superseded[s.holder.instanceId] = party.runId;
      supersedeHolder = s.holder.instanceId;
    }
  }
  const position = s.waiters.findIndex((w) => w.instanceId === party.instanceId) + 1;
  return { state: s, answer: { state: 'waiting', holder: s.holder?.runId, position, ...(supersedeHolder ? { supersedeHolder } : {}) } };
}

/** The holder reports what it is doing (waiting for approval, or deploying). */
export function setLockPhase(state: LockState, instanceId: string, phase: LockHolder['phase']): LockState {
  if (state.holder?.instanceId !== instanceId) return state;
  return { ...state, holder: { ...state.holder, phase } };
}

/** Releases the lock if `instanceId` holds it, and forgets it as a waiter. */
export function releaseLock(state: LockState, instanceId: string): LockState {
  const s: LockState = structuredClone(state);
  if (s.holder?.instanceId === instanceId) delete s.holder;
  s.waiters = s.waiters.filter((w) => w.instanceId !== instanceId);
  delete s.superseded[instanceId];
  return s;
}
