/**
 * The plan of one episode: from the library's cumulative action list and the delivered events,
 * the new history events and the work they create (activities, timers, sub-orchestrations,
 * entity messages), with sequence ids allocated in the order the library allocates them
 * (docs/durable.md, "How an episode runs"). Nothing is written here; the episode runner emits
 * the work inside the episode's transaction.
 */
import { randomUUID } from 'node:crypto';
import type { TxEffects } from './commit.js';
import { decodeInput, describeAction, leavesOf, retryDelayMs, schedulerId, signatureOf, toJsonText } from './replay.js';
import type { InstanceRow } from './store.js';
import { ActionType, EventType, type Action, type HistoryEvent, type OrchestratorResult, type ReplayState, type RetryChain } from './types.js';
import type { EntityOpMessage, WorkWriter } from './work-writer.js';

/** Thrown inside an episode when the code no longer matches the stored history. */
export class NonDeterminismError extends Error {}

/**
 * Does processing this event make the library allocate chain ids (a failed attempt of a retried
 * call, or a retry timer with attempts left)? Such an event goes alone in its episode.
 */
export function advancesChain(state: ReplayState, e: HistoryEvent): boolean {
  if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed) {
    return state.chains[String(e.TaskScheduledId)]?.state === 'attempt';
  }
  if (e.EventType === EventType.TimerFired) {
    const c = state.chains[String(e.TimerId)];
    return c?.state === 'timer' && c.attempts < c.retry.maxNumberOfAttempts;
  }
  return false;
}

type Work =
  | { kind: 'activity'; id: number; name: string; input: string | null }
  | { kind: 'timer'; id: number; fireAt: number }
  | { kind: 'cancel'; id: number }
  | { kind: 'child'; id: number; name: string; childId: string; input: string | null; version: string | null }
  | { kind: 'fail'; id: number; sub: boolean; failure: Record<string, unknown> }
  | { kind: 'entity'; op: Omit<EntityOpMessage, 'createdAt'>; fireAndForget: boolean };

/**
 * The new history events and work of one episode, computed from the library's actions before
 * anything is written. Work items are emitted inside the episode's transaction.
 */
export class EpisodePlan {
  readonly events: HistoryEvent[] = [];
  readonly work: Work[] = [];
  continueAsNew: string | null | undefined;

  constructor(readonly state: ReplayState) {}

  private ts(now: number): string {
    return new Date(now).toISOString();
  }

  /** Retry bookkeeping driven by a delivered event; allocates chain ids like the library. */
  chainStep(e: HistoryEvent, now: number, row: InstanceRow): void {
    const chains = this.state.chains;
    if (e.EventType === EventType.TaskCompleted || e.EventType === EventType.SubOrchestrationInstanceCompleted) {
      delete chains[String(e.TaskScheduledId)];
      return;
    }
    if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed) {
      const key = String(e.TaskScheduledId);
      const c = chains[key];
      if (!c || c.state !== 'attempt') return;
      delete chains[key];
      const timerId = this.state.nextSeq++;
      let delay = retryDelayMs(c.retry, c.attempts);
      // The library always waits for a retry timer after a failure (even the last one), so one
      // is created in every case. Past retryTimeoutInMilliseconds (which the library does not
      // know) it fires at once and the remaining attempts fail without running (DTFx behaviour).
      const timeout = c.retry.retryTimeoutInMilliseconds;
      const expired = !!c.expired || (!!timeout && timeout > 0 && now + delay - (c.firstAt ?? now) > timeout);
      if (expired) delay = 0;
      const fireAt = now + delay;
      const { EventType: _t, EventId: _i, IsPlayed: _p, Timestamp: _ts, TaskScheduledId: _id, ...failure } = e;
      this.events.push({ EventType: EventType.TimerCreated, EventId: timerId, IsPlayed: false, Timestamp: this.ts(now), FireAt: this.ts(fireAt) });
      this.work.push({ kind: 'timer', id: timerId, fireAt });
      chains[String(timerId)] = { ...c, state: 'timer', expired, lastFailure: failure };
      return;
    }
    if (e.EventType === EventType.TimerFired) {
      const key = String(e.TimerId);
      const c = chains[key];
      if (!c || c.state !== 'timer') return;
      delete chains[key];
      if (c.attempts >= c.retry.maxNumberOfAttempts) return;
      const attemptId = this.state.nextSeq++;
      const next: RetryChain = { ...c, attempts: c.attempts + 1, state: 'attempt' };
      chains[String(attemptId)] = next;
      if (c.expired) {
        // Keep the library's ids aligned: the attempt exists but fails immediately.
        this.events.push({ EventType: c.kind === 'activity' ? EventType.TaskScheduled : EventType.SubOrchestrationInstanceCreated, EventId: attemptId, IsPlayed: false, Timestamp: this.ts(now), Name: c.name, Version: '' });
        this.work.push({ kind: 'fail', id: attemptId, sub: c.kind === 'sub', failure: c.lastFailure ?? { Reason: 'retry timeout expired', Details: '' } });
        return;
      }
      if (c.kind === 'activity') this.scheduleActivity(attemptId, c.name, c.input, now);
      else this.scheduleChild(attemptId, c.name, c.childId ?? `${row.execution_id}:${attemptId}`, c.input, c.version ?? null, now);
    }
  }

  private scheduleActivity(id: number, name: string, input: string | null, now: number): void {
    const ev: HistoryEvent = { EventType: EventType.TaskScheduled, EventId: id, IsPlayed: false, Timestamp: this.ts(now), Name: name, Version: '' };
    if (input !== null) ev.Input = input;
    this.events.push(ev);
    this.work.push({ kind: 'activity', id, name, input });
  }

  private scheduleChild(id: number, name: string, childId: string, input: string | null, version: string | null, now: number): void {
    this.events.push({ EventType: EventType.SubOrchestrationInstanceCreated, EventId: id, IsPlayed: false, Timestamp: this.ts(now), Name: name, Version: version ?? '', InstanceId: childId, Input: input });
    this.work.push({ kind: 'child', id, name, childId, input, version });
  }

  /**
   * Walks the cumulative action list: re-binds already handled entries to their ids (and checks
   * they are still the same actions), then allocates ids for new leaves in library order.
   */
  walk(result: OrchestratorResult, success: boolean, row: InstanceRow, now: number): void {
    const actions: Action[] = Array.isArray(result.actions[0]) ? result.actions[0] : [];
    const st = this.state;
    const known = new Map<Action, number>();
    const upto = Math.min(st.knownTop, actions.length);
    for (let i = 0; i < upto; i++) {
      const a = actions[i]!;
      if (success && signatureOf(a) !== st.sigs[i]) {
        throw new NonDeterminismError(
          `Non-deterministic workflow detected: action #${i} in the history was ${st.sigs[i]} but the code now produced ${describeAction(a)} (signature ${signatureOf(a)}). ` +
          'The orchestrator code changed while this instance was in flight.',
        );
      }
      const ids = st.leaves[i] ?? [];
      leavesOf(a).forEach((leaf, j) => {
        const leafId = ids[j] ?? -1;
        if (leafId >= 0) known.set(leaf, leafId);
        if (leaf.actionType === ActionType.CreateTimer && leaf.isCanceled && leafId >= 0) this.work.push({ kind: 'cancel', id: leafId });
      });
    }
    if (success && actions.length < st.knownTop) {
      throw new NonDeterminismError(
        `Non-deterministic workflow detected: the history has ${st.knownTop} scheduled actions but the code now produced only ${actions.length}. ` +
        'The orchestrator code changed while this instance was in flight.',
      );
    }
    for (let i = st.knownTop; i < actions.length; i++) {
      const a = actions[i]!;
      const ids: number[] = [];
      for (const leaf of leavesOf(a)) ids.push(this.newLeaf(leaf, known, row, now, success));
      st.leaves[i] = ids;
      st.sigs[i] = signatureOf(a);
    }
    st.knownTop = Math.max(st.knownTop, actions.length);
  }

  /** Allocates the id(s) of one new leaf and plans its work; returns the (first) id or -1. */
  private newLeaf(leaf: Action, known: Map<Action, number>, row: InstanceRow, now: number, success: boolean): number {
    const reused = known.get(leaf);
    if (reused !== undefined) return reused; // re-yielded task (e.g. in a later Task.any): same id, nothing new
    const st = this.state;
    const ts = this.ts(now);
    switch (leaf.actionType) {
      case ActionType.WaitForExternalEvent:
      case ActionType.ContinueAsNew: {
        if (leaf.actionType === ActionType.ContinueAsNew) {
          const input = decodeInput(leaf.actionType, leaf.input);
          this.continueAsNew = toJsonText(input);
        }
        return -1;
      }
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry: {
        const id = st.nextSeq++;
        known.set(leaf, id);
        const input = toJsonText(decodeInput(leaf.actionType, leaf.input));
        this.scheduleActivity(id, leaf.functionName!, input, now);
        if (leaf.actionType === ActionType.CallActivityWithRetry && leaf.retryOptions) {
          st.chains[String(id)] = { kind: 'activity', name: leaf.functionName!, input, retry: leaf.retryOptions, attempts: 1, state: 'attempt', firstAt: now };
        }
        return id;
      }
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = st.nextSeq++;
        known.set(leaf, id);
        const input = toJsonText(leaf.input);
        const childId = leaf.instanceId || `${row.execution_id}:${id}`;
        this.scheduleChild(id, leaf.functionName!, childId, input, leaf.version ?? null, now);
        if (leaf.actionType === ActionType.CallSubOrchestratorWithRetry && leaf.retryOptions) {
          st.chains[String(id)] = {
            kind: 'sub', name: leaf.functionName!, input, retry: leaf.retryOptions, attempts: 1, state: 'attempt', firstAt: now,
            ...(leaf.instanceId ? { childId: leaf.instanceId } : {}), ...(leaf.version ? { version: leaf.version } : {}),
          };
        }
        return id;
      }
      case ActionType.CreateTimer: {
        const id = st.nextSeq++;
        known.set(leaf, id);
        const fireAt = new Date(leaf.fireAt as string | Date).getTime();
        this.events.push({ EventType: EventType.TimerCreated, EventId: id, IsPlayed: false, Timestamp: ts, FireAt: new Date(fireAt).toISOString() });
        if (!leaf.isCanceled) this.work.push({ kind: 'timer', id, fireAt });
        return id;
      }
      case ActionType.CallEntity:
      case ActionType.SignalEntity: {
        const id = st.nextSeq++;
        known.set(leaf, id);
        const signal = leaf.actionType === ActionType.SignalEntity;
        const requestId = randomUUID();
        const inputText = toJsonText(leaf.input);
        const message: Record<string, unknown> = { op: leaf.operation, id: requestId, parent: row.instance_id, parentExecution: row.execution_id };
        if (signal) message.signal = true;
        if (inputText !== null) message.input = inputText;
        this.events.push({ EventType: EventType.EventSent, EventId: id, IsPlayed: false, Timestamp: ts, InstanceId: leaf.instanceId, Name: 'op', Input: JSON.stringify(message) });
        this.work.push({
          kind: 'entity', fireAndForget: signal,
          op: { entityId: leaf.instanceId!, kind: 'op', op: leaf.operation!, input: inputText, isSignal: signal, requestId, parentInstanceId: row.instance_id, parentExecutionId: row.execution_id },
        });
        return id;
      }
      case ActionType.LockEntities: {
        const id = st.nextSeq++;
        known.set(leaf, id);
        const lockSet = leaf.lockSet ?? [];
        const requestId = leaf.lockRequestId!;
        st.lock = { requestId, lockSet };
        const first = lockSet[0];
        if (!first) throw new NonDeterminismError('lock() was called with an empty lock set');
        const target = schedulerId(first.name, first.key);
        this.events.push({
          EventType: EventType.EventSent, EventId: id, IsPlayed: false, Timestamp: ts, InstanceId: target, Name: 'op',
          Input: JSON.stringify({ id: requestId, parent: row.instance_id, lockset: lockSet, pos: 0 }),
        });
        this.work.push({ kind: 'entity', fireAndForget: false, op: { entityId: target, kind: 'lock', requestId, parentInstanceId: row.instance_id, parentExecutionId: row.execution_id, lockSet, pos: 0 } });
        return id;
      }
      case ActionType.ReleaseEntities: {
        const lock = st.lock;
        const set = lock?.lockSet ?? [];
        const first = st.nextSeq;
        for (const e of set) {
          const id = st.nextSeq++;
          const target = schedulerId(e.name, e.key);
          this.events.push({ EventType: EventType.EventSent, EventId: id, IsPlayed: false, Timestamp: ts, InstanceId: target, Name: 'release', Input: JSON.stringify({ parent: row.instance_id, lockRequestId: lock?.requestId }) });
          this.work.push({ kind: 'entity', fireAndForget: true, op: { entityId: target, kind: 'release', requestId: lock?.requestId ?? null, parentInstanceId: row.instance_id, parentExecutionId: row.execution_id } });
        }
        delete st.lock;
        return set.length ? first : -1;
      }
      case ActionType.CallHttp:
        if (!success) return -1;
        throw new NonDeterminismError('context.df.callHttp is not supported by the local durable backend (call an activity that makes the request instead).');
      default:
        if (!success) return -1;
        throw new NonDeterminismError(`unsupported action type ${leaf.actionType} (${describeAction(leaf)})`);
    }
  }

  /** Drops planned work (the episode fails instead), keeping fire-and-forget signals. */
  discardWork(): void {
    this.events.length = 0;
    const keep = this.work.filter((w) => w.kind === 'entity' && w.fireAndForget);
    this.work.length = 0;
    this.work.push(...keep);
  }

  /** Writes the planned work (inside the episode's transaction). */
  emitWork(out: WorkWriter, fx: TxEffects, row: InstanceRow, now: number): void {
    for (const w of this.work) {
      switch (w.kind) {
        case 'activity':
          out.activity(fx, row, w.id, w.name, w.input);
          break;
        case 'timer':
          out.timer(fx, row, w.id, w.fireAt);
          break;
        case 'cancel':
          out.cancelTimer(row, w.id);
          break;
        case 'child':
          out.startChild(fx, row, w.id, w.name, w.childId, w.input, w.version);
          break;
        case 'entity':
          out.entityOp(fx, { ...w.op, createdAt: now });
          break;
        case 'fail':
          out.failAttempt(fx, row, w.id, w.sub, w.failure);
          break;
      }
    }
  }

  /** On completion/failure only fire-and-forget entity signals still go out. */
  emitFireAndForget(out: WorkWriter, fx: TxEffects, now: number): void {
    for (const w of this.work) if (w.kind === 'entity' && w.fireAndForget && w.op.kind === 'op') out.entityOp(fx, { ...w.op, createdAt: now });
  }
}
