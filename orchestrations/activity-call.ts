/**
 * Typed activity calls: orchestrators name an activity from the contract module and get its
 * input type checked, without importing the implementation. Every call carries a retry policy
 * for transient faults (expected failures come back as data and are not retried).
 */
import type * as df from 'durable-functions';
import type { ActivityInput, ActivityName } from '../shared/contracts/activities.js';

/** Retry policy for activities: transient faults only (activities report expected failures as data). */
export const TRANSIENT_RETRY = {
  firstRetryIntervalInMilliseconds: 2000,
  maxNumberOfAttempts: 4,
  backoffCoefficient: 2,
  maxRetryIntervalInMilliseconds: 30000,
} as unknown as df.RetryOptions;

/** Schedules activity `name` with `input` (retried on throw). Yield the returned task. */
export function activity<K extends ActivityName>(context: df.OrchestrationContext, name: K, input: ActivityInput<K>): df.Task {
  return context.df.callActivityWithRetry(name, TRANSIENT_RETRY, input);
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
