/**
 * The dispatcher: which instances and entities have work ready, which activities are queued,
 * and how many of each run at once. It only learns of work from committed transactions
 * (applyEffects) and from the database at start-up, so nothing runs before it is durable.
 *
 * Invariants: episodes of one instance never overlap; entity batches of one entity never overlap.
 */
import type { DurableClock } from './clock.js';
import type { TxEffects } from './commit.js';
import type { EngineSettings } from './engine-context.js';
import type { HostLogger } from '../host/extension.js';
import type { ActivityRow, DurableStore } from './store.js';
import { WakeTimer } from './wake-timer.js';
import type { WorkWriter } from './work-writer.js';

/** The jobs the dispatcher runs. */
export interface WorkRunners {
  /** One episode of an instance; resolves true when more deliverable events remain. */
  runEpisode(instanceId: string): Promise<boolean>;
  /** One batch of an entity's operations; resolves true when more remain. */
  runEntity(entityId: string): Promise<boolean>;
  runActivity(a: ActivityRow): Promise<void>;
}

export class Dispatcher {
  private readonly readyInstances = new Set<string>();
  private readonly runningInstances = new Set<string>();
  private readonly readyEntities = new Set<string>();
  private readonly runningEntities = new Set<string>();
  private activityQueue: (ActivityRow | undefined)[] = [];
  private activityHead = 0;
  private readonly queuedActivityIds = new Set<number>();
  private activitiesRunning = 0;
  private readonly wake: WakeTimer;
  private pumpScheduled = false;
  private started = false;
  private stopped = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly store: DurableStore,
    private readonly clock: DurableClock,
    private readonly logger: HostLogger,
    private readonly settings: EngineSettings,
    private readonly work: WorkWriter,
    private readonly runners: WorkRunners,
  ) {
    this.wake = new WakeTimer(clock, () => this.onWake());
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Is an episode of this instance running now? */
  isRunning(instanceId: string): boolean {
    return this.runningInstances.has(instanceId);
  }

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
    if (next !== null) this.wake.arm(next);
    this.schedulePump();
  }

  /** Stops dispatching; resolves when running work settled or after graceMs. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.wake.stop();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise((r) => (timer = setTimeout(r, Math.max(0, graceMs))));
    await Promise.race([Promise.allSettled([...this.inflight]), deadline]);
    clearTimeout(timer);
  }

  /** Resolves when no work is running or ready. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Test clock: re-evaluate timers after the clock moved. */
  clockMoved(): void {
    this.wake.fire();
  }

  /** What a committed transaction made ready (the GroupCommitter's apply step). */
  applyEffects(fx: TxEffects): void {
    for (const f of fx.after) f();
    for (const id of fx.readyInstances) this.readyInstances.add(id);
    for (const id of fx.readyEntities) this.readyEntities.add(id);
    if (fx.activities.length) {
      // Activity rows inserted by this commit: read back once (cheap, indexed by rowid range).
      for (const a of this.work.takeActivityRows(fx.activities)) this.enqueueActivity(a);
    }
    if (fx.earliestTimer !== Infinity) this.wake.arm(fx.earliestTimer);
    // Dispatch right away (we are already in a fresh turn of the event loop): one hop less
    // per step of a sequential orchestration.
    if (this.started && !this.stopped) this.pump();
  }

  private isIdle(): boolean {
    return (
      this.inflight.size === 0 && this.readyInstances.size === 0 && this.readyEntities.size === 0 &&
      this.activityHead >= this.activityQueue.length
    );
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
        this.runners.runEpisode(id)
          .catch((err) => {
            this.logger.error('durable: episode crashed', { instanceId: id, error: String((err as Error)?.stack ?? err) });
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
        this.runners.runEntity(id)
          .catch((err) => {
            this.logger.error('durable: entity batch crashed', { entityId: id, error: String((err as Error)?.stack ?? err) });
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
      const a = this.activityQueue[this.activityHead]!;
      // A dispatched row is not kept by the queue until the next compaction (up to 1024
      // rows with their inputs): the running activity holds it as long as it needs it.
      this.activityQueue[this.activityHead++] = undefined;
      this.activitiesRunning++;
      void this.track(
        this.runners.runActivity(a)
          .catch((err) => this.logger.error('durable: activity dispatch failed', { error: String(err) }))
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

  /** A wake-up: instances whose timers are due become ready; arm for the next one. */
  private onWake(): void {
    const now = this.clock.now();
    for (const id of this.store.readyInstances(now)) this.readyInstances.add(id);
    const next = this.store.nextVisibleAfter(now);
    if (next !== null) this.wake.arm(next);
    this.schedulePump();
  }
}
