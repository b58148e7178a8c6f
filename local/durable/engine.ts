/**
 * The durable engine: the face the HTTP API, the host extension, tests and benches use. It
 * wires the parts, each with one job, and holds the client operations (start, raise, control,
 * purge, signal):
 *
 * - `dispatcher.ts` (+ `wake-timer.ts`): what is ready, what runs, concurrency limits, timers;
 * - `episode-runner.ts` (+ `episode-plan.ts`): orchestrator episodes through the library's replay;
 * - `entity-executor.ts`: entity operation batches and lock messages;
 * - `activity-executor.ts`: activity work items;
 * - `work-writer.ts`: new work written inside a transaction; `commit.ts`: group commit;
 * - `instance-cache.ts`: parsed histories of running instances.
 *
 * Invariants:
 * - Episodes of one instance never overlap; entity batches of one entity never overlap.
 * - Nothing is dispatched before the change that created it is committed.
 * - An episode's outcome (history, work items, status) commits in one transaction, and only if
 *   the instance still runs the same execution (it may have been purged or restarted).
 */
import { randomUUID } from 'node:crypto';
import { ActivityExecutor } from './activity-executor.js';
import type { DurableClock } from './clock.js';
import { GroupCommitter } from './commit.js';
import { Dispatcher } from './dispatcher.js';
import { defaultSettings, type EngineContext, type EngineSettings } from './engine-context.js';
import { findOrchestrator, newId, type EngineHost, type StartResult } from './engine-host.js';
import { EntityExecutor } from './entity-executor.js';
import { EpisodeRunner } from './episode-runner.js';
import { InstanceCache } from './instance-cache.js';
import { schedulerId } from './replay.js';
import type { DurableStore, EntityRow, InstanceRow, ListFilter } from './store.js';
import { EventType, TERMINAL, type HistoryEvent } from './types.js';
import { WorkWriter } from './work-writer.js';

export { defaultSettings, type EngineSettings } from './engine-context.js';
export type { EngineHost, StartResult } from './engine-host.js';

export class DurableEngine {
  readonly committer: GroupCommitter;
  private readonly cache: InstanceCache;
  private readonly work: WorkWriter;
  private readonly dispatcher: Dispatcher;
  private readonly finishedListeners = new Set<(row: InstanceRow) => void>();

  constructor(
    private readonly store: DurableStore,
    private readonly host: EngineHost,
    readonly clock: DurableClock,
    readonly settings: EngineSettings = defaultSettings(),
  ) {
    this.cache = new InstanceCache(store, (id) => this.dispatcher.isRunning(id));
    this.committer = new GroupCommitter(store, (fx) => this.dispatcher.applyEffects(fx), () => this.cache.clear());
    this.work = new WorkWriter(store, clock, host, this.cache);
    const ctx: EngineContext = {
      store, host, clock, settings, committer: this.committer, work: this.work,
      isStopped: () => this.dispatcher.isStopped,
    };
    const episodes = new EpisodeRunner(ctx, this.cache, (row) => this.finishedListeners.forEach((l) => l(row)));
    const entities = new EntityExecutor(ctx);
    const activities = new ActivityExecutor(ctx);
    this.dispatcher = new Dispatcher(store, clock, host.logger, settings, this.work, {
      runEpisode: (id) => episodes.run(id),
      runEntity: (id) => entities.run(id),
      runActivity: (a) => activities.run(a),
    });
  }

  // ------------------------------------------------------------------ lifecycle

  /** Recovers persisted work (after a crash too) and starts dispatching. */
  start(): void {
    this.dispatcher.start();
  }

  async stop(graceMs: number): Promise<void> {
    await this.dispatcher.stop(graceMs);
    this.committer.flush();
  }

  /** Resolves when no work is running or ready (tests and benches). */
  whenIdle(): Promise<void> {
    return this.dispatcher.whenIdle();
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
    this.dispatcher.clockMoved();
  }

  // ------------------------------------------------------------------ instance access

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

  // ------------------------------------------------------------------ client operations

  /**
   * Creates an instance (status Pending) and queues its ExecutionStarted, atomically. A live
   * id (Pending/Running/Suspended) is refused; a finished one starts a fresh execution.
   */
  startNew(name: string, inputText: string | null, instanceId?: string, version?: string): Promise<StartResult> {
    const fn = findOrchestrator(this.host, name);
    if (!fn) return Promise.resolve({ ok: false, code: 'unknown', message: `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.` });
    const id = instanceId ?? newId();
    if (id.startsWith('@')) return Promise.resolve({ ok: false, code: 'invalid', message: "Orchestration instance ids must not start with '@'." });
    return this.committer.run((fx) => this.work.createInstance(fx, fn.name, id, inputText, version ?? null, null));
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
      this.work.inbox(fx, { instanceId: id, executionId: null, kind: 'event', visibleAt: now, event: ev });
      return 'ok';
    });
  }

  /** Queues terminate / suspend / resume (applied in order with the instance's other events). */
  control(id: string, kind: 'terminate' | 'suspend' | 'resume', reason: string | null): Promise<'ok' | 'notfound' | 'gone'> {
    return this.committer.run((fx) => {
      const row = this.store.getInstance(id);
      if (!row) return 'notfound';
      if (TERMINAL.has(row.status)) return 'gone';
      this.work.inbox(fx, { instanceId: id, executionId: null, kind, visibleAt: this.clock.now(), event: { reason } });
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
      this.work.entityOp(fx, { entityId: schedulerId(name, key), kind: 'op', op, input: inputText, isSignal: true, requestId: randomUUID(), createdAt: this.clock.now() });
    });
  }

  readEntity(name: string, key: string): EntityRow | undefined {
    return this.store.getEntity(schedulerId(name, key));
  }
}
