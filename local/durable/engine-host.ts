/**
 * The durable engine's view of the host (the project's own port, so tests may fake it), the
 * answer to a start request, and the small helpers both the work writer and the episode runner
 * use. A module of its own so that ./engine-context.ts (which holds a WorkWriter) and
 * ./work-writer.ts (which needs these) do not import each other.
 */
import { randomUUID } from 'node:crypto';
import type { FunctionRegistration, HostLogger } from '../host/extension.js';

/** The part of the host the engine uses (the project's own port, so tests may fake it). */
export interface EngineHost {
  findFunction(name: string): FunctionRegistration | undefined;
  invoke(fn: FunctionRegistration, triggerValue: unknown, options?: { triggerMetadata?: Record<string, unknown> }): Promise<unknown>;
  readonly logger: HostLogger;
}

/** What a start request got: the instance id, or why not. */
export type StartResult = { ok: true; instanceId: string } | { ok: false; code: 'exists' | 'unknown' | 'invalid'; message: string };

/** The registered orchestrator of that name, if any. */
export function findOrchestrator(host: EngineHost, name: string): FunctionRegistration | undefined {
  const fn = host.findFunction(name);
  return fn && fn.trigger.type === 'orchestrationTrigger' ? fn : undefined;
}

/** A fresh execution / instance id (32 hex digits, as the extension makes them). */
export function newId(): string {
  return randomUUID().replace(/-/g, '');
}
