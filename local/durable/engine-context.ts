/**
 * What the parts of the durable engine share: the host port, the limits, and the context object
 * (store, clock, group committer, work writer) each part is built with.
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import type { FunctionRegistration, HostLogger } from '../host/extension.js';
import type { DurableClock } from './clock.js';
import type { GroupCommitter } from './commit.js';
import type { DurableStore } from './store.js';
import type { WorkWriter } from './work-writer.js';

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

export type StartResult = { ok: true; instanceId: string } | { ok: false; code: 'exists' | 'unknown' | 'invalid'; message: string };

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

/** The registered orchestrator of that name, if any. */
export function findOrchestrator(host: EngineHost, name: string): FunctionRegistration | undefined {
  const fn = host.findFunction(name);
  return fn && fn.trigger.type === 'orchestrationTrigger' ? fn : undefined;
}

/** A fresh execution / instance id (32 hex digits, as the extension makes them). */
export function newId(): string {
  return randomUUID().replace(/-/g, '');
}
