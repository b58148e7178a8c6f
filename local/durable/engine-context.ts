/**
 * What the parts of the durable engine share: the limits, and the context object (store, host,
 * clock, group committer, work writer) each part is built with. The host port and the helpers
 * the work writer needs too are in ./engine-host.ts, so the work writer and this context do not
 * import each other.
 */
import { cpus } from 'node:os';
import type { DurableClock } from './clock.js';
import type { GroupCommitter } from './commit.js';
import type { EngineHost } from './engine-host.js';
import type { DurableStore } from './store.js';
import type { WorkWriter } from './work-writer.js';

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

/** Shared by the episode runner, the entity and activity executors. */
export interface EngineContext {
  readonly store: DurableStore;
  readonly host: EngineHost;
  readonly clock: DurableClock;
  readonly settings: EngineSettings;
  readonly committer: GroupCommitter;
  readonly work: WorkWriter;
  /** True once the engine is stopping: results of work still running are then dropped. */
  isStopped(): boolean;
}
