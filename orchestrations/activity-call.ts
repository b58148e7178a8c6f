/**
 * Typed calls from an orchestrator: an activity, a sub-orchestration or an entity operation is
 * named from its contract (shared/contracts), its input is type-checked and its result comes
 * back with the contract's output type, without importing the implementation and without a cast
 * at the call site:
 *
 * ```ts
 * const deployed = yield* call(context, 'deployArtifact', input);   // ActivityOutput<'deployArtifact'>
 * ```
 *
 * Each helper is a generator that yields exactly one durable task, so `yield*` of it replays
 * exactly like yielding the task itself. Activity calls carry the transient-fault retry policy
 * (expected failures come back as data and are not retried).
 */
import * as df from 'durable-functions';
import type { ActivityInput, ActivityName, ActivityOutput } from '../shared/contracts/activities.js';
import { ACTIVITY_RETRY_WINDOW_MS } from '../shared/contracts/host-limits.js';
import { upgradeStoredNames } from '../shared/domain/deployment.js';
import type { LockOperationName, LockOperations, OrchestrationInput, OrchestrationName, OrchestrationOutput } from '../shared/contracts/orchestrations.js';

/** Retry policy for activities: transient faults only (activities report expected failures as data). */
export const TRANSIENT_RETRY: df.RetryOptions = Object.assign(new df.RetryOptions(2000, 4), {
  backoffCoefficient: 2,
  maxRetryIntervalInMilliseconds: 30000,
  // An attempt the host killed at functionTimeout is past this window: not retried into the
  // same timeout (shared/contracts/host-limits.ts).
  retryTimeoutInMilliseconds: ACTIVITY_RETRY_WINDOW_MS,
});

/** A typed call: yields one task and returns its result. */
export type Call<T> = Generator<df.Task, T, unknown>;

// The one place a durable result is given its contract's type: the durable runtime hands back
// what the activity (or orchestration, or entity) returned, serialised as JSON, and the
// contract module is what both sides were compiled against.
function* resultOf<T>(task: df.Task): Call<T> {
  const result: unknown = yield task;
  return result as T;
}

/** Calls activity `name` with `input` (retried on throw) and returns its output. */
export function* call<K extends ActivityName>(context: df.OrchestrationContext, name: K, input: ActivityInput<K>): Call<ActivityOutput<K>> {
  const result = yield* resultOf<ActivityOutput<K>>(context.df.callActivityWithRetry(name, TRANSIENT_RETRY, input));
  // A result recorded in a durable history before the vocabulary was unified (an orchestration
  // in flight across the upgrade) may carry the older names: read under the current ones.
  return upgradeStoredNames(result) as ActivityOutput<K>;
}

/** Runs orchestration `name` as a sub-orchestration with a chosen instance id and returns its output. */
export function callOrchestration<K extends OrchestrationName>(context: df.OrchestrationContext, name: K, input: OrchestrationInput<K>, instanceId: string): Call<OrchestrationOutput<K>> {
  return resultOf(context.df.callSubOrchestrator(name, input, instanceId));
}

/** Calls operation `operation` of the environment lock entity `entity` and returns its answer. */
export function callLock<K extends LockOperationName>(context: df.OrchestrationContext, entity: df.EntityId, operation: K, input: LockOperations[K]['input']): Call<LockOperations[K]['output']> {
  return resultOf(context.df.callEntity(entity, operation, input));
}

/** The orchestration's own clock as an ISO string (replay-safe). */
export function nowIso(context: df.OrchestrationContext): string {
  return context.df.currentUtcDateTime.toISOString();
}

/** Message of a thrown value, for recording as data. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
