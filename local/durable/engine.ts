/**
 * The durable engine: runs orchestrator episodes through the durable-functions library's own
 * replay executor, turns the actions it returns into history and work items (atomically, see
 * GroupCommitter), and dispatches activities, entity batches and timers.
 *
 * Invariants:
 * - Episodes of one instance never overlap; entity batches of one entity never overlap.
 * - Nothing is dispatched before the change that created it is committed.
 * - An episode's outcome (history, work items, status) commits in one transaction, and only if
 *   the instance still runs the same execution (it may have been purged or restarted).
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import type { FunctionRegistration, HostLogger } from '../host/extension.js';
import { GroupCommitter, TxEffects } from './commit.js';
import type { DurableClock } from './clock.js';
import {
  decodeInput, describeAction, fromJsonText, leavesOf, parseSchedulerId, retryDelayMs, schedulerId, signatureOf, toJsonText,
} from './replay.js';
import { parseState, type ActivityRow, type DurableStore, type EntityOpRow, type EntityRow, type InboxRow, type InstanceRow, type ListFilter } from './store.js';
import {
  ActionType, EventType, TERMINAL, emptyReplayState, type Action, type HistoryEvent, type OrchestratorResult, type ReplayState,
  type RetryChain, type RuntimeStatus,
} from './types.js';

/** The part of the host the engine uses (the project's own port, so tests may fake it). */
export interface EngineHost {
  findFunction(name: string): FunctionRegistration | undefined;
  invoke(fn: FunctionRegistration, triggerValue: unknown, options?: { triggerMetadata?: Record<string, unknown> }): Promise<unknown>;
  readonly logger: HostLogger;
}

export interface EngineSettings {
  maxConcurrentActivities: number;
  maxConcurrentOrchestrations: number;
  maxConcurrentEntities: number;
  /** Upper bound of events delivered in one episode. */
  maxEventsPerEpisode: number;
}

export function defaultSettings(): EngineSettings {
  const n = Math.max(1, cpus().length);
  return { maxConcurrentActivities: 10 * n, maxConcurrentOrchestrations: 10 * n, maxConcurrentEntities: 10 * n, maxEventsPerEpisode: 5000 };
}

const OOP_MARKER = '\n\n$OutOfProcData$:';
/** Node's setTimeout fires at once beyond 2^31-1 ms; re-arm instead. */
const MAX_TIMER_DELAY = 2 ** 31 - 1 - 1000;
const CONTROL_KINDS = new Set(['terminate', 'suspend', 'resume']);
/** Parsed histories kept in memory; beyond this, least recently loaded ones are re-read on demand. */
const MAX_CACHED_INSTANCES = 5000;

interface CachedInstance {
  row: InstanceRow;
  /** Number of stored history events of the current execution. */
  length: number;
  /**
   * The events the library actually reads during replay (see REPLAYED), already parsed. Reused
   * across episodes instead of re-parsing the whole history each time: the library's only
   * mutation (Timestamp string → Date) is idempotent, and it never reads the dropped types.
   */
  replay: HistoryEvent[];
}

/** Event types the library's replay reads (§2.2); the rest only matter to status/history output. */
const REPLAYED = new Set<number>([
  EventType.OrchestratorStarted, EventType.ExecutionStarted, EventType.TaskCompleted, EventType.TaskFailed,
  EventType.SubOrchestrationInstanceCompleted, EventType.SubOrchestrationInstanceFailed, EventType.TimerFired,
  EventType.EventRaised, EventType.EventSent, EventType.ContinueAsNew,
]);

export type StartResult = { ok: true; instanceId: string } | { ok: false; code: 'exists' | 'unknown' | 'invalid'; message: string };

/** Thrown inside an episode when the code no longer matches the stored history. */
class NonDeterminismError extends Error {}

export class DurableEngine {
  readonly committer: GroupCommitter;
  private readonly cache = new Map<string, CachedInstance>();
  private readonly readyInstances = new Set<string>();
  private readonly runningInstances = new Set<string>();
  private readonly readyEntities = new Set<string>();
  private readonly runningEntities = new Set<string>();
  private activityQueue: ActivityRow[] = [];
  private activityHead = 0;
  private readonly queuedActivityIds = new Set<number>();
  private activitiesRunning = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pumpScheduled = false;
  private started = false;
  private stopped = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly finishedListeners = new Set<(row: InstanceRow) => void>();

  constructor(
    private readonly store: DurableStore,
    private readonly host: EngineHost,
    readonly clock: DurableClock,
    readonly settings: EngineSettings = defaultSettings(),
  ) {
    this.committer = new GroupCommitter(store, (fx) => this.applyEffects(fx), () => this.cache.clear());
  }

  // ------------------------------------------------------------------ lifecycle

  /** Recovers persisted work (after a crash too) and starts dispatching. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const now = this.clock.now();
    for (const id of this.store.readyInstances(now)) this.readyInstances.add(id);
    for (const id of this.store.readyEntities()) this.readyEntities.add(id);
    // Activities found here were scheduled but their result never committed: run them again
    // (at-least-once, as in Azure).
    for (const a of this.store.allActivities()) this.enqueueActivity(a);
    const next = this.store.nextVisibleAfter(now);
    if (next !== null) this.armTimer(next);
    this.schedulePump();
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise((r) => (timer = setTimeout(r, Math.max(0, graceMs))));
    await Promise.race([Promise.allSettled([...this.inflight]), deadline]);
    clearTimeout(timer);
    this.committer.flush();
  }

  /** Resolves when no work is running or ready (tests and benches). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private isIdle(): boolean {
    return (
      this.inflight.size === 0 && this.readyInstances.size === 0 && this.readyEntities.size === 0 &&
      this.activityHead >= this.activityQueue.length
    );
  }

  /** Observes instances reaching a terminal status (after the commit). Returns an unsubscribe. */
  onFinished(listener: (row: InstanceRow) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** Runs a registered function through the host without the durable machinery (bench floor). */
  invokeDirect(name: string, input: unknown): Promise<unknown> {
    const fn = this.host.findFunction(name);
    if (!fn) throw new Error(`no function ${name}`);
    return this.host.invoke(fn, input);
  }

  /** Test clock: re-evaluate timers after the clock moved. */
  clockMoved(): void {
    this.onTimer();
  }

  // ------------------------------------------------------------------ effects & dispatch

  private applyEffects(fx: TxEffects): void {
    for (const f of fx.after) f();
    for (const id of fx.readyInstances) this.readyInstances.add(id);
    for (const id of fx.readyEntities) this.readyEntities.add(id);
    if (fx.activities.length) {
      // Activity rows inserted by this commit: read back once (cheap, indexed by rowid range).
      for (const a of this.pendingActivityRows(fx.activities)) this.enqueueActivity(a);
    }
    if (fx.earliestTimer !== Infinity) this.armTimer(fx.earliestTimer);
    // Dispatch right away (we are already in a fresh turn of the event loop): one hop less
    // per step of a sequential orchestration.
    if (this.started && !this.stopped) this.pump();
  }

  private readonly activityBuffer = new Map<number, ActivityRow>();

  private pendingActivityRows(ids: number[]): ActivityRow[] {
    const out: ActivityRow[] = [];
    for (const id of ids) {
      const row = this.activityBuffer.get(id);
      if (row) {
        this.activityBuffer.delete(id);
        out.push(row);
      }
    }
    return out;
  }

  private enqueueActivity(a: ActivityRow): void {
    if (this.queuedActivityIds.has(a.id)) return;
    this.queuedActivityIds.add(a.id);
    this.activityQueue.push(a);
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.started || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => {
      this.inflight.delete(p);
      if (this.idleWaiters.length && this.isIdle()) {
        // Re-check on the next turn: a commit may still be queued.
        setImmediate(() => {
          if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
        });
      }
    };
    p.then(done, done);
    return p;
  }

  private pump(): void {
    if (this.stopped) return;
    for (const id of this.readyInstances) {
      if (this.runningInstances.size >= this.settings.maxConcurrentOrchestrations) break;
      if (this.runningInstances.has(id)) continue;
      this.readyInstances.delete(id);
      this.runningInstances.add(id);
      void this.track(
        this.runEpisode(id)
          .catch((err) => {
            this.host.logger.error('durable: episode crashed', { instanceId: id, error: String((err as Error)?.stack ?? err) });
            return false;
          })
          .then((more) => {
            this.runningInstances.delete(id);
            if (more) this.readyInstances.add(id);
            this.schedulePump();
          }),
      );
    }
    for (const id of this.readyEntities) {
      if (this.runningEntities.size >= this.settings.maxConcurrentEntities) break;
      if (this.runningEntities.has(id)) continue;
      this.readyEntities.delete(id);
      this.runningEntities.add(id);
      void this.track(
        this.runEntity(id)
          .catch((err) => {
            this.host.logger.error('durable: entity batch crashed', { entityId: id, error: String((err as Error)?.stack ?? err) });
            return false;
          })
          .then((more) => {
            this.runningEntities.delete(id);
            if (more) this.readyEntities.add(id);
            this.schedulePump();
          }),
      );
    }
    while (this.activitiesRunning < this.settings.maxConcurrentActivities && this.activityHead < this.activityQueue.length) {
      const a = this.activityQueue[this.activityHead++]!;
      this.activitiesRunning++;
      void this.track(
        this.runActivity(a)
          .catch((err) => this.host.logger.error('durable: activity dispatch failed', { error: String(err) }))
          .then(() => {
            this.activitiesRunning--;
            this.queuedActivityIds.delete(a.id);
            this.schedulePump();
          }),
      );
    }
    if (this.activityHead > 1024 && this.activityHead * 2 > this.activityQueue.length) {
      this.activityQueue = this.activityQueue.slice(this.activityHead);
      this.activityHead = 0;
    }
    if (this.idleWaiters.length && this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  private armTimer(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_DELAY);
    this.timer = setTimeout(() => this.onTimer(), delay);
    // A far-away timer alone must not keep the process alive.
    this.timer.unref();
  }

  private onTimer(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    for (const id of this.store.readyInstances(now)) this.readyInstances.add(id);
    const next = this.store.nextVisibleAfter(now);
    if (next !== null) this.armTimer(next);
    this.schedulePump();
  }

  // ------------------------------------------------------------------ instance access

  private load(id: string): CachedInstance | undefined {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const row = this.store.getInstance(id);
    if (!row) return undefined;
    const texts = this.store.historyTexts(id);
    const replay: HistoryEvent[] = [];
    for (const t of texts) {
      const e = JSON.parse(t) as HistoryEvent;
      if (REPLAYED.has(e.EventType)) replay.push(e);
    }
    const entry: CachedInstance = { row, length: texts.length, replay };
    if (!TERMINAL.has(row.status)) {
      this.cache.set(id, entry);
      if (this.cache.size > MAX_CACHED_INSTANCES) {
        // Oldest first (Map order); an instance mid-episode keeps its entry.
        for (const key of this.cache.keys()) {
          if (this.cache.size <= MAX_CACHED_INSTANCES * 0.9) break;
          if (!this.runningInstances.has(key) && key !== id) this.cache.delete(key);
        }
      }
    }
    return entry;
  }

  /** Current row (fresh from the database: management calls must see committed state). */
  getInstance(id: string): InstanceRow | undefined {
    return this.store.getInstance(id);
  }

  listInstances(filter: ListFilter, limit: number, after?: { created: number; id: string }): InstanceRow[] {
    return this.store.listInstances(filter, limit, after);
  }

  listEntities(name: string): EntityRow[] {
    return this.store.listEntities(name.toLowerCase());
  }

  historyOf(id: string): HistoryEvent[] {
    return this.store.historyTexts(id).map((t) => JSON.parse(t) as HistoryEvent);
  }

  private findOrchestrator(name: string): FunctionRegistration | undefined {
    const fn = this.host.findFunction(name);
    return fn && fn.trigger.type === 'orchestrationTrigger' ? fn : undefined;
  }

  // ------------------------------------------------------------------ client operations

  /**
   * Creates an instance (status Pending) and queues its ExecutionStarted, atomically. A live
   * id (Pending/Running/Suspended) is refused; a finished one starts a fresh execution.
   */
  startNew(name: string, inputText: string | null, instanceId?: string, version?: string): Promise<StartResult> {
    const fn = this.findOrchestrator(name);
    if (!fn) return Promise.resolve({ ok: false, code: 'unknown', message: `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.` });
    const id = instanceId ?? randomUUID().replace(/-/g, '');
    if (id.startsWith('@')) return Promise.resolve({ ok: false, code: 'invalid', message: "Orchestration instance ids must not start with '@'." });
    return this.committer.run((fx) => this.createInstanceTx(fx, fn.name, id, inputText, version ?? null, null));
  }

  private createInstanceTx(
    fx: TxEffects, name: string, id: string, inputText: string | null, version: string | null,
    parent: { instanceId: string; executionId: string; taskId: number; name: string } | null,
  ): StartResult {
    const existing = this.store.getInstance(id);
    if (existing && !TERMINAL.has(existing.status)) {
      return { ok: false, code: 'exists', message: `An orchestration with instance ID '${id}' already exists and is ${existing.status}; it can only be reused once it has finished.` };
    }
    const now = this.clock.now();
    const executionId = randomUUID().replace(/-/g, '');
    if (existing) this.store.purge(id);
    const row: InstanceRow = {
      instance_id: id, name, execution_id: executionId, status: 'Pending', input: inputText, output: null, custom_status: null,
      created_at: now, updated_at: now, parent_instance_id: parent?.instanceId ?? null, parent_execution_id: parent?.executionId ?? null,
      parent_task_id: parent?.taskId ?? null, version, state: JSON.stringify(emptyReplayState()),
    };
    this.store.putInstance(row);
    const started: HistoryEvent = {
      EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(),
      Name: name, Version: version ?? '', Input: inputText,
      OrchestrationInstance: { InstanceId: id, ExecutionId: executionId },
      ...(parent ? { ParentInstance: { Name: parent.name, TaskScheduleId: parent.taskId, OrchestrationInstance: { InstanceId: parent.instanceId, ExecutionId: parent.executionId } } } : {}),
    };
    this.inbox(fx, { instanceId: id, executionId, kind: 'start', visibleAt: now, event: started });
    fx.after.push(() => this.cache.delete(id));
    return { ok: true, instanceId: id };
  }

  /** Queues an external event. 'gone' when the instance has finished. */
  raiseEvent(id: string, name: string, inputText: string | null): Promise<'ok' | 'notfound' | 'gone'> {
    return this.committer.run((fx) => {
      const row = this.store.getInstance(id);
      if (!row) return 'notfound';
      if (TERMINAL.has(row.status)) return 'gone';
      const now = this.clock.now();
      const ev: HistoryEvent = { EventType: EventType.EventRaised, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), Name: name };
      if (inputText !== null) ev.Input = inputText;
      this.inbox(fx, { instanceId: id, executionId: null, kind: 'event', visibleAt: now, event: ev });
      return 'ok';
    });
  }

  /** Queues terminate / suspend / resume (applied in order with the instance's other events). */
  control(id: string, kind: 'terminate' | 'suspend' | 'resume', reason: string | null): Promise<'ok' | 'notfound' | 'gone'> {
    return this.committer.run((fx) => {
      const row = this.store.getInstance(id);
      if (!row) return 'notfound';
      if (TERMINAL.has(row.status)) return 'gone';
      this.inbox(fx, { instanceId: id, executionId: null, kind, visibleAt: this.clock.now(), event: { reason } });
      return 'ok';
    });
  }

  /** Deletes finished (or any, when forced) instances; returns how many were deleted. */
  purge(ids: string[]): Promise<number> {
    return this.committer.run((fx) => {
      let n = 0;
      for (const id of ids) {
        const row = this.store.getInstance(id);
        if (!row) continue;
        if (!TERMINAL.has(row.status)) continue;
        this.store.purge(id);
        n++;
      }
      fx.after.push(() => ids.forEach((id) => this.cache.delete(id)));
      return n;
    });
  }

  signalEntity(name: string, key: string, op: string, inputText: string | null): Promise<void> {
    return this.committer.run((fx) => {
      this.entityOp(fx, { entityId: schedulerId(name, key), kind: 'op', op, input: inputText, isSignal: true, requestId: randomUUID(), createdAt: this.clock.now() });
    });
  }

  readEntity(name: string, key: string): EntityRow | undefined {
    return this.store.getEntity(schedulerId(name, key));
  }

  // ------------------------------------------------------------------ tx helpers

  private inbox(fx: TxEffects, m: Parameters<DurableStore['insertInbox']>[0]): void {
    this.store.insertInbox(m);
    if (m.visibleAt <= this.clock.now()) fx.readyInstances.add(m.instanceId);
    else fx.earliestTimer = Math.min(fx.earliestTimer, m.visibleAt);
  }

  private entityOp(fx: TxEffects, o: Parameters<DurableStore['insertEntityOp']>[0]): void {
    this.store.insertEntityOp(o);
    fx.readyEntities.add(o.entityId);
  }

  private activity(fx: TxEffects, instanceId: string, executionId: string, taskId: number, name: string, input: string | null): void {
    const rowId = this.store.insertActivity(instanceId, executionId, taskId, name, input);
    fx.activities.push(rowId);
    this.activityBuffer.set(rowId, { id: rowId, instance_id: instanceId, execution_id: executionId, task_id: taskId, name, input });
  }

  // ------------------------------------------------------------------ activities

  private async runActivity(a: ActivityRow): Promise<void> {
    const fn = this.host.findFunction(a.name);
    const ts = () => new Date(this.clock.now()).toISOString();
    let event: HistoryEvent;
    if (!fn || fn.trigger.type !== 'activityTrigger') {
      event = {
        EventType: EventType.TaskFailed, EventId: -1, IsPlayed: false, Timestamp: ts(), TaskScheduledId: a.task_id,
        Reason: `Activity function '${a.name}' failed: The function '${a.name}' doesn't exist, is disabled, or is not an activity function.`,
        Details: '',
      };
    } else {
      try {
        const value = await this.host.invoke(fn, fromJsonText(a.input) ?? undefined, { triggerMetadata: { instanceId: a.instance_id } });
        event = { EventType: EventType.TaskCompleted, EventId: -1, IsPlayed: false, Timestamp: ts(), TaskScheduledId: a.task_id, Result: JSON.stringify(value ?? null) };
      } catch (err) {
        event = { EventType: EventType.TaskFailed, EventId: -1, IsPlayed: false, Timestamp: ts(), TaskScheduledId: a.task_id, ...activityFailure(a.name, err) };
      }
    }
    if (this.stopped && !this.store.db.open) return;
    await this.committer.run((fx) => {
      this.store.deleteActivity(a.id);
      this.inbox(fx, { instanceId: a.instance_id, executionId: a.execution_id, kind: 'event', visibleAt: this.clock.now(), event });
    });
  }

  // ------------------------------------------------------------------ orchestrator episodes

  /** Runs one episode of an instance. Resolves true when more deliverable events remain. */
  private async runEpisode(id: string): Promise<boolean> {
    const cached = this.load(id);
    const now = this.clock.now();
    const rows = this.store.visibleInbox(id, now);
    if (rows.length === 0) return false;
    if (!cached) {
      // Instance purged: its leftover messages are garbage.
      await this.committer.run(() => rows.forEach((r) => this.store.deleteInbox(r.id)));
      return false;
    }
    const row = cached.row;
    const executionId = row.execution_id;
    const stale = rows.filter((r) => r.execution_id !== null && r.execution_id !== executionId);
    const live = rows.filter((r) => r.execution_id === null || r.execution_id === executionId);
    // An execution's ExecutionStarted goes first even when external events were queued before it
    // (continueAsNew: events raised meanwhile wait for the new execution).
    const startAt = live.findIndex((r) => r.kind === 'start');
    if (startAt > 0) live.unshift(...live.splice(startAt, 1));
    if (TERMINAL.has(row.status)) {
      await this.committer.run(() => rows.forEach((r) => this.store.deleteInbox(r.id)));
      return false;
    }
    if (stale.length) await this.committer.run(() => stale.forEach((r) => this.store.deleteInbox(r.id)));
    if (live.length === 0) return false;

    // Control messages apply in arrival order; while suspended only control messages pass.
    const suspended = row.status === 'Suspended';
    const firstControl = live.findIndex((r) => CONTROL_KINDS.has(r.kind));
    if (suspended) {
      if (firstControl < 0) return false;
      await this.applyControl(cached, live[firstControl]!);
      return true;
    }
    if (firstControl === 0) {
      await this.applyControl(cached, live[0]!);
      return live.length > 1;
    }

    const state = parseState(row.state);
    const batch: InboxRow[] = [];
    for (const r of live) {
      if (CONTROL_KINDS.has(r.kind)) break;
      if (batch.length >= this.settings.maxEventsPerEpisode) break;
      if (advancesChain(state, JSON.parse(r.event) as HistoryEvent)) {
        // A chain-advancing event makes the library allocate ids while it is processed; it
        // goes alone so those ids come before any id of newly scheduled work (docs/durable.md).
        if (batch.length === 0) batch.push(r);
        break;
      }
      batch.push(r);
    }
    await this.orchestratorEpisode(cached, state, batch, now);
    return batch.length < live.length;
  }

  private async applyControl(cached: CachedInstance, msg: InboxRow): Promise<void> {
    const row = cached.row;
    const id = row.instance_id;
    const { reason } = JSON.parse(msg.event) as { reason: string | null };
    const now = this.clock.now();
    const ts = new Date(now).toISOString();
    const seq = cached.length;
    if (msg.kind === 'terminate') {
      const ev = { EventType: EventType.ExecutionTerminated, EventId: -1, IsPlayed: true, Timestamp: ts, Input: reason ?? '' };
      const updated: InstanceRow = { ...row, status: 'Terminated', output: JSON.stringify(reason ?? ''), updated_at: now };
      await this.committer.run((fx) => {
        this.store.deleteInbox(msg.id);
        if (!this.store.updateInstance(updated, row.execution_id)) return;
        this.store.appendHistory(id, seq, [ev]);
        this.store.deleteFutureInbox(id, -1);
        this.finishTx(fx, updated, { failed: `Orchestration '${id}' was terminated: ${reason ?? ''}` });
        fx.after.push(() => this.cache.delete(id));
      });
      return;
    }
    const suspend = msg.kind === 'suspend';
    if (suspend === (row.status === 'Suspended')) {
      await this.committer.run(() => this.store.deleteInbox(msg.id));
      return;
    }
    const ev = { EventType: suspend ? EventType.ExecutionSuspended : EventType.ExecutionResumed, EventId: -1, IsPlayed: true, Timestamp: ts, Reason: reason ?? '' };
    const status: RuntimeStatus = suspend ? 'Suspended' : cached.length === 0 ? 'Pending' : 'Running';
    const updated: InstanceRow = { ...row, status, updated_at: now };
    await this.committer.run((fx) => {
      this.store.deleteInbox(msg.id);
      if (!this.store.updateInstance(updated, row.execution_id)) return;
      this.store.appendHistory(id, seq, [ev]);
      fx.after.push(() => {
        cached.row = updated;
        cached.length++;
      });
      // Buffered events become deliverable again on resume.
      if (!suspend) fx.readyInstances.add(id);
    });
  }

  private async orchestratorEpisode(cached: CachedInstance, state: ReplayState, batch: InboxRow[], now: number): Promise<void> {
    const row = cached.row;
    const id = row.instance_id;
    const executionId = row.execution_id;
    const ts = new Date(now).toISOString();
    const started: HistoryEvent = { EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: false, Timestamp: ts };
    const newEvents: HistoryEvent[] = batch.map((r) => ({ ...(JSON.parse(r.event) as HistoryEvent), IsPlayed: false }));
    // Stored events are marked played; this episode's OrchestratorStarted and events are new.
    const callHistory = cached.replay.concat([{ ...started }], newEvents.map((e) => ({ ...e })));
    const fn = this.findOrchestrator(row.name);

    const plan = new EpisodePlan(state);
    let failure: string | undefined;
    let result: OrchestratorResult | undefined;
    if (!fn) {
      failure = `The function '${row.name}' doesn't exist, is disabled, or is not an orchestrator function.`;
    } else {
      const trigger = {
        history: callHistory,
        input: fromJsonText(row.input),
        instanceId: id,
        isReplaying: cached.length > 0,
        parentInstanceId: row.parent_instance_id,
        upperSchemaVersion: 3,
        // V4: context.df.lock() is implemented (LockEntities / ReleaseEntities).
        upperSchemaVersionNew: 3,
        // Huge: every timer is a single TimerCreated/TimerFired pair (no long-timer chain).
        // Milliseconds rather than TimeSpan text: the library hands both to moment.duration(),
        // which takes numbers as ms and parses them much faster than "3650.00:00:00".
        maximumShortTimerDuration: 3650 * 86_400_000,
        longRunningTimerIntervalDuration: 3 * 86_400_000,
        defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
      };
      try {
        result = (await this.host.invoke(fn, trigger, { triggerMetadata: { instanceId: id } })) as OrchestratorResult;
        if (!result || !Array.isArray(result.actions)) throw new Error('the orchestrator returned no OrchestratorState (is it registered with df.app.orchestration?)');
      } catch (err) {
        const message = String((err as Error)?.message ?? err);
        const at = message.indexOf(OOP_MARKER);
        if (at >= 0) {
          try {
            const oop = JSON.parse(message.slice(at + OOP_MARKER.length)) as OrchestratorResult;
            failure = oop.error ?? message.slice(0, at);
            result = oop;
          } catch {
            failure = message;
          }
        } else {
          failure = message;
        }
        if (!failure) failure = 'unknown error';
      }
    }
    // The orchestrator may have been terminated/purged while the user code ran.
    if (this.stopped && !this.store.db.open) return;

    try {
      for (const e of newEvents) plan.chainStep(e, now, row);
      if (result) plan.walk(result, failure === undefined, row, now);
    } catch (err) {
      if (!(err instanceof NonDeterminismError)) throw err;
      failure = err.message;
      plan.discardWork();
    }

    // Work planned by a failing episode never runs; keep its history free of phantom tasks.
    if (failure !== undefined) plan.discardWork();

    // ---- decide the end state of this episode
    const history: HistoryEvent[] = [started, ...newEvents, ...plan.events];
    let updated: InstanceRow = { ...row, updated_at: now };
    let finished: { failed?: string; output?: string | null } | undefined;
    let continueAsNewInput: string | null | undefined;
    // The library re-runs setCustomStatus during replay, so each result carries the current value
    // (absent when unset or falsy, which the extension also stores as null).
    if (result) updated.custom_status = toJsonText(result.customStatus);
    if (failure !== undefined) {
      const message = `Orchestrator function '${row.name}' failed: ${failure}`;
      history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: ts });
      history.push({ EventType: EventType.ExecutionCompleted, EventId: -1, IsPlayed: false, Timestamp: ts, OrchestrationStatus: 3, Result: JSON.stringify(message), FailureDetails: { ErrorType: 'OrchestrationFailure', ErrorMessage: message } });
      updated = { ...updated, status: 'Failed', output: JSON.stringify(message) };
      finished = { failed: message };
    } else if (result!.isDone) {
      history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: ts });
      if (plan.continueAsNew !== undefined) {
        continueAsNewInput = plan.continueAsNew;
        history.push({ EventType: EventType.ContinueAsNew, EventId: -1, IsPlayed: false, Timestamp: ts, Result: continueAsNewInput });
      } else {
        const output = JSON.stringify(result!.output ?? null);
        history.push({ EventType: EventType.ExecutionCompleted, EventId: -1, IsPlayed: false, Timestamp: ts, OrchestrationStatus: 1, Result: output });
        updated = { ...updated, status: 'Completed', output };
        finished = { output };
      }
    } else {
      history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: ts });
      updated.status = 'Running';
    }
    updated.state = JSON.stringify(plan.state);
    const stored = history.map((e) => JSON.stringify({ ...e, IsPlayed: true }));

    await this.committer.run((fx) => {
      for (const r of batch) this.store.deleteInbox(r.id);
      if (continueAsNewInput !== undefined) {
        // New execution of the same instance: history, ids and timers start over.
        const newExecution = randomUUID().replace(/-/g, '');
        const restarted: InstanceRow = {
          ...updated, status: 'Running', input: continueAsNewInput, output: null, execution_id: newExecution,
          state: JSON.stringify(emptyReplayState()),
        };
        if (!this.store.updateInstance(restarted, executionId)) return;
        this.store.resetHistory(id);
        // Timers and results of the old execution go; external events wait for the new one.
        this.store.deleteExecutionInbox(id, executionId);
        this.releaseLocksTx(fx, id, now);
        plan.emitFireAndForget(this, fx, row, now);
        this.inbox(fx, {
          instanceId: id, executionId: newExecution, kind: 'start', visibleAt: now,
          event: {
            EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: false, Timestamp: ts, Name: row.name, Version: row.version ?? '',
            Input: continueAsNewInput, OrchestrationInstance: { InstanceId: id, ExecutionId: newExecution },
          },
        });
        fx.after.push(() => {
          cached.row = restarted;
          cached.length = 0;
          cached.replay = [];
        });
        return;
      }
      if (!this.store.updateInstance(updated, executionId)) return;
      this.store.appendHistoryTexts(id, cached.length, stored);
      if (finished) {
        plan.emitFireAndForget(this, fx, row, now);
        this.store.deleteFutureInbox(id, -1);
        this.finishTx(fx, updated, finished);
        fx.after.push(() => this.cache.delete(id));
      } else {
        plan.emitWork(this, fx, row, now);
        fx.after.push(() => {
          cached.row = updated;
          cached.length += stored.length;
          for (const e of history) if (REPLAYED.has(e.EventType)) cached.replay.push({ ...e, IsPlayed: true });
        });
      }
    });
  }

  /** Completion bookkeeping inside the finishing transaction: tell the parent, free locks. */
  private finishTx(fx: TxEffects, row: InstanceRow, result: { failed?: string; output?: string | null }): void {
    const now = this.clock.now();
    fx.after.push(() => {
      if (result.failed !== undefined) this.host.logger.warn(`durable: '${row.name}' (${row.instance_id}) ended ${row.status}`, { instanceId: row.instance_id, reason: result.failed });
      else this.host.logger.debug(`durable: '${row.name}' (${row.instance_id}) completed`, { instanceId: row.instance_id });
      this.finishedListeners.forEach((l) => l(row));
    });
    this.releaseLocksTx(fx, row.instance_id, now);
    if (row.parent_instance_id && row.parent_execution_id && row.parent_task_id !== null) {
      const ts = new Date(now).toISOString();
      const event: HistoryEvent = result.failed !== undefined
        ? { EventType: EventType.SubOrchestrationInstanceFailed, EventId: -1, IsPlayed: false, Timestamp: ts, TaskScheduledId: row.parent_task_id, Reason: result.failed, Details: '' }
        : { EventType: EventType.SubOrchestrationInstanceCompleted, EventId: -1, IsPlayed: false, Timestamp: ts, TaskScheduledId: row.parent_task_id, Result: result.output ?? 'null' };
      this.inbox(fx, { instanceId: row.parent_instance_id, executionId: row.parent_execution_id, kind: 'event', visibleAt: now, event });
    }
  }

  private releaseLocksTx(fx: TxEffects, instanceId: string, now: number): void {
    for (const e of this.store.entitiesLockedBy(instanceId)) {
      this.store.putEntity({ ...e, locked_by: null, lock_request_id: null, updated_at: now });
      fx.readyEntities.add(e.entity_id);
    }
  }

  // Used by EpisodePlan while emitting work.
  /** @internal */ scheduleActivity(fx: TxEffects, row: InstanceRow, taskId: number, name: string, input: string | null): void {
    this.activity(fx, row.instance_id, row.execution_id, taskId, name, input);
  }

  /** @internal */ scheduleTimer(fx: TxEffects, row: InstanceRow, timerId: number, fireAt: number): void {
    this.inbox(fx, {
      instanceId: row.instance_id, executionId: row.execution_id, kind: 'timer', timerId, visibleAt: fireAt,
      event: { EventType: EventType.TimerFired, EventId: -1, IsPlayed: false, Timestamp: new Date(fireAt).toISOString(), TimerId: timerId, FireAt: new Date(fireAt).toISOString() },
    });
  }

  /** @internal */ failAttempt(fx: TxEffects, row: InstanceRow, taskId: number, sub: boolean, failure: Record<string, unknown>): void {
    const now = this.clock.now();
    this.inbox(fx, {
      instanceId: row.instance_id, executionId: row.execution_id, kind: 'event', visibleAt: now,
      event: { ...failure, EventType: sub ? EventType.SubOrchestrationInstanceFailed : EventType.TaskFailed, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), TaskScheduledId: taskId },
    });
  }

  /** @internal */ cancelTimer(row: InstanceRow, timerId: number): void {
    this.store.cancelTimer(row.instance_id, row.execution_id, timerId);
  }

  /** @internal */ scheduleEntityOp(fx: TxEffects, o: Parameters<DurableStore['insertEntityOp']>[0]): void {
    this.entityOp(fx, o);
  }

  /** @internal */ startChild(fx: TxEffects, row: InstanceRow, taskId: number, name: string, childId: string, input: string | null, version: string | null): void {
    const fn = this.findOrchestrator(name);
    const now = this.clock.now();
    const fail = (message: string) =>
      this.inbox(fx, {
        instanceId: row.instance_id, executionId: row.execution_id, kind: 'event', visibleAt: now,
        event: { EventType: EventType.SubOrchestrationInstanceFailed, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), TaskScheduledId: taskId, Reason: message, Details: '' },
      });
    if (!fn) return fail(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
    if (childId.startsWith('@') || childId === row.instance_id) return fail(`Invalid sub-orchestration instance id '${childId}'.`);
    const res = this.createInstanceTx(fx, fn.name, childId, input, version, { instanceId: row.instance_id, executionId: row.execution_id, taskId, name: row.name });
    if (!res.ok) fail(res.message);
  }

  // ------------------------------------------------------------------ entities

  private async runEntity(entityId: string): Promise<boolean> {
    const ops = this.store.entityOps(entityId);
    if (ops.length === 0) return false;
    const { name, key } = parseSchedulerId(entityId);
    const now = this.clock.now();
    const entity: EntityRow = this.store.getEntity(entityId) ?? { entity_id: entityId, name, key, state: null, locked_by: null, lock_request_id: null, updated_at: now };
    const batch: EntityOpRow[] = [];
    for (const o of ops) {
      // While locked, only the lock owner's messages are processed; the rest wait in order.
      if (entity.locked_by && o.parent_instance_id !== entity.locked_by) continue;
      if (o.kind === 'op') {
        batch.push(o);
        if (batch.length >= 1000) break;
        continue;
      }
      if (batch.length > 0) break;
      await this.committer.run((fx) => this.lockMessageTx(fx, entity, o, now));
      return true;
    }
    if (batch.length === 0) return false;

    const fn = this.host.findFunction(name);
    let out: EntityResult | undefined;
    let error: string | undefined;
    if (!fn || fn.trigger.type !== 'entityTrigger') {
      error = `The entity function '${name}' doesn't exist.`;
    } else {
      try {
        out = (await this.host.invoke(fn, {
          self: { name, key },
          exists: entity.state !== null,
          state: entity.state,
          batch: batch.map((o) => ({ name: o.op, input: o.input ?? undefined, isSignal: o.is_signal === 1, id: o.request_id })),
        })) as EntityResult;
        if (!out || !Array.isArray(out.results)) throw new Error('the entity function returned no entity state');
      } catch (err) {
        error = String((err as Error)?.message ?? err);
        out = undefined;
      }
    }
    if (error) this.host.logger.warn('durable: entity batch failed', { entityId, error });
    await this.committer.run((fx) => {
      const at = this.clock.now();
      for (const o of batch) this.store.deleteEntityOp(o.id);
      if (out) {
        const state = out.entityExists ? (out.entityState ?? null) : null;
        this.store.putEntity({ ...entity, state, updated_at: at });
        for (const s of out.signals ?? []) {
          this.entityOp(fx, { entityId: schedulerId(s.target.name, s.target.key), kind: 'op', op: s.name, input: s.input === '' ? null : s.input, isSignal: true, requestId: randomUUID(), createdAt: at });
        }
      }
      batch.forEach((o, i) => {
        if (o.is_signal === 1 || !o.parent_instance_id || !o.request_id) return;
        const r = out?.results[i];
        const response: { result?: string; exceptionType?: string } = {};
        if (!r) {
          response.exceptionType = 'Error';
          response.result = JSON.stringify(error ?? 'entity operation produced no result');
        } else {
          if (r.result !== undefined) response.result = r.result;
          if (r.isError) response.exceptionType = 'Error';
        }
        this.inbox(fx, {
          instanceId: o.parent_instance_id, executionId: o.parent_execution_id, kind: 'event', visibleAt: at,
          event: { EventType: EventType.EventRaised, EventId: -1, IsPlayed: false, Timestamp: new Date(at).toISOString(), Name: o.request_id, Input: JSON.stringify(response) },
        });
      });
    });
    return ops.length > batch.length;
  }

  /** Lock acquisition / release messages (schema V4 critical sections). */
  private lockMessageTx(fx: TxEffects, entity: EntityRow, o: EntityOpRow, now: number): void {
    this.store.deleteEntityOp(o.id);
    fx.readyEntities.add(entity.entity_id);
    if (o.kind === 'release') {
      if (entity.locked_by === o.parent_instance_id) this.store.putEntity({ ...entity, locked_by: null, lock_request_id: null, updated_at: now });
      return;
    }
    // Acquire: skip requests of instances that ended meanwhile (they would hold it forever).
    const owner = o.parent_instance_id ? this.store.getInstance(o.parent_instance_id) : undefined;
    if (!owner || TERMINAL.has(owner.status) || owner.execution_id !== o.parent_execution_id) return;
    this.store.putEntity({ ...entity, locked_by: o.parent_instance_id, lock_request_id: o.request_id, updated_at: now });
    const lockSet = JSON.parse(o.lock_set ?? '[]') as { name: string; key: string }[];
    const next = lockSet[o.pos + 1];
    if (next) {
      this.entityOp(fx, {
        entityId: schedulerId(next.name, next.key), kind: 'lock', requestId: o.request_id, parentInstanceId: o.parent_instance_id,
        parentExecutionId: o.parent_execution_id, lockSet, pos: o.pos + 1, createdAt: now,
      });
    } else {
      this.inbox(fx, {
        instanceId: o.parent_instance_id!, executionId: o.parent_execution_id, kind: 'event', visibleAt: now,
        event: { EventType: EventType.EventRaised, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), Name: o.request_id, Input: JSON.stringify({ result: 'Lock Acquisition Completed' }) },
      });
    }
  }
}

interface EntityResult {
  entityExists: boolean;
  entityState?: string;
  results: { isError: boolean; result?: string }[];
  signals?: { target: { name: string; key: string }; name: string; input: string }[];
}

/** Does processing this event make the library allocate chain ids (§3.4-3)? */
function advancesChain(state: ReplayState, e: HistoryEvent): boolean {
  if (e.EventType === EventType.TaskFailed || e.EventType === EventType.SubOrchestrationInstanceFailed) {
    return state.chains[String(e.TaskScheduledId)]?.state === 'attempt';
  }
  if (e.EventType === EventType.TimerFired) {
    const c = state.chains[String(e.TimerId)];
    return c?.state === 'timer' && c.attempts < c.retry.maxNumberOfAttempts;
  }
  return false;
}

/** Activity failure → TaskFailed fields (FailureDetails when the app registered an ExceptionPropertiesProvider). */
function activityFailure(name: string, err: unknown): Record<string, unknown> {
  const e = err instanceof Error ? err : new Error(String(err));
  try {
    const parsed = JSON.parse(e.message) as { errorType?: string; errorMessage?: string; stackTrace?: string; isNonRetriable?: boolean; properties?: unknown };
    if (parsed && typeof parsed === 'object' && typeof parsed.errorType === 'string' && typeof parsed.errorMessage === 'string') {
      return {
        Reason: `Activity function '${name}' failed: ${parsed.errorMessage}`,
        Details: JSON.stringify({ message: parsed.errorMessage }),
        FailureDetails: { ErrorType: parsed.errorType, ErrorMessage: parsed.errorMessage, StackTrace: parsed.stackTrace ?? null, IsNonRetriable: !!parsed.isNonRetriable, Properties: parsed.properties ?? null },
      };
    }
  } catch {
    // not the provider's JSON: a plain error
  }
  return { Reason: `Activity function '${name}' failed: ${e.message}`, Details: JSON.stringify({ name: e.name, message: e.message, stack: e.stack }) };
}

type Work =
  | { kind: 'activity'; id: number; name: string; input: string | null }
  | { kind: 'timer'; id: number; fireAt: number }
  | { kind: 'cancel'; id: number }
  | { kind: 'child'; id: number; name: string; childId: string; input: string | null; version: string | null }
  | { kind: 'fail'; id: number; sub: boolean; failure: Record<string, unknown> }
  | { kind: 'entity'; op: Omit<Parameters<DurableStore['insertEntityOp']>[0], 'createdAt'>; fireAndForget: boolean };

/**
 * The new history events and work of one episode, computed from the library's actions before
 * anything is written. Work items are emitted inside the episode's transaction.
 */
class EpisodePlan {
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
    if (reused !== undefined) return reused; // re-yielded task: same id, nothing new (§3.4-4)
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

  emitWork(engine: DurableEngine, fx: TxEffects, row: InstanceRow, now: number): void {
    for (const w of this.work) {
      switch (w.kind) {
        case 'activity':
          engine.scheduleActivity(fx, row, w.id, w.name, w.input);
          break;
        case 'timer':
          engine.scheduleTimer(fx, row, w.id, w.fireAt);
          break;
        case 'cancel':
          engine.cancelTimer(row, w.id);
          break;
        case 'child':
          engine.startChild(fx, row, w.id, w.name, w.childId, w.input, w.version);
          break;
        case 'entity':
          engine.scheduleEntityOp(fx, { ...w.op, createdAt: now });
          break;
        case 'fail':
          engine.failAttempt(fx, row, w.id, w.sub, w.failure);
          break;
      }
    }
  }

  /** On completion/failure only signals and releases still go out (§3.5-6). */
  emitFireAndForget(engine: DurableEngine, fx: TxEffects, _row: InstanceRow, now: number): void {
    for (const w of this.work) if (w.kind === 'entity' && w.fireAndForget && w.op.kind === 'op') engine.scheduleEntityOp(fx, { ...w.op, createdAt: now });
  }
}
