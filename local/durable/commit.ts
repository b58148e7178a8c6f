/**
 * Group commit: many small state changes (an activity result, an episode outcome, a client
 * call) queued during one turn of the event loop are written in ONE SQLite transaction.
 * Each change is still atomic on its own: if the shared transaction fails, the changes are
 * retried one transaction each, so only the faulty one is rejected.
 *
 * Side effects on in-memory dispatch state (which instance is ready, which activity to run)
 * are collected in a TxEffects and applied only after the commit, so nothing is dispatched
 * that is not durable yet.
 */
import type { DurableStore } from './store.js';

/** What a committed change asks the dispatcher to do next. */
export class TxEffects {
  readonly readyInstances = new Set<string>();
  readonly readyEntities = new Set<string>();
  readonly activities: number[] = [];
  earliestTimer = Infinity;
  readonly after: (() => void)[] = [];
}

type Job = { fn: (fx: TxEffects) => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void };

export class GroupCommitter {
  private queue: Job[] = [];
  private scheduled = false;

  constructor(
    private readonly store: DurableStore,
    private readonly apply: (fx: TxEffects) => void,
    /** Called when a shared transaction rolled back (caches must be dropped). */
    private readonly onRollback: () => void,
  ) {}

  run<T>(fn: (fx: TxEffects) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs everything queued now (also used on shutdown). */
  flush(): void {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length === 0) return;
    const fx = new TxEffects();
    const results: unknown[] = [];
    try {
      this.store.transaction(() => {
        for (const j of jobs) results.push(j.fn(fx));
      });
    } catch {
      this.onRollback();
      for (const j of jobs) this.runAlone(j);
      return;
    }
    this.apply(fx);
    jobs.forEach((j, i) => j.resolve(results[i]));
  }

  private runAlone(j: Job): void {
    const fx = new TxEffects();
    let result: unknown;
    try {
      result = this.store.transaction(() => j.fn(fx));
    } catch (err) {
      this.onRollback();
      j.reject(err);
      return;
    }
    this.apply(fx);
    j.resolve(result);
  }
}
