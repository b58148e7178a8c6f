/**
 * The verification policy: given a check's settings and the tries made so far, decide whether
 * verification is over (passed or failed) or how long to wait before the next try.
 *
 * Pure on purpose: no I/O, no clock, no randomness. The promotion orchestration imports it and
 * drives the loop itself (one activity per try, a durable timer for each wait), so the
 * decision must replay identically from the recorded tries alone.
 */
import type { HttpCheckSpec } from './pipeline.js';

/** The outcome of one try of a check, as recorded with the deployment. */
export interface CheckTry {
  /** Whether this try met every expectation of the check. */
  ok: boolean;
  /** HTTP status received, when a response arrived at all. */
  status?: number;
  /** Why the try failed (absent when it passed). */
  reason?: string;
  /** Wall time of the try in milliseconds. */
  durationMs: number;
  /** When the try started (ISO 8601). */
  at: string;
}

/** One recorded try of one check of an environment: which check, which try, and its outcome. */
export interface VerifyAttempt extends CheckTry {
  /** Index of the check in the environment's `verify` list. */
  check: number;
  /** 1 for the first try of that check, 2 for the first retry, ... */
  attempt: number;
}

/** The retry settings the policy reads; a subset of {@link HttpCheckSpec} so later check types fit. */
export type RetrySettings = Pick<HttpCheckSpec, 'retries' | 'intervalMs' | 'successes'>;

/** What to do after the tries so far: stop with a verdict, or wait and try again. */
export type VerificationDecision =
  | { done: true; passed: boolean; reason: string }
  | { done: false; waitMs: number };

/**
 * Decides the next step of one check.
 *
 * Semantics (the same as the pipeline file's schema, which rejects `successes > retries + 1`):
 * - `retries`: tries after the first one, so a check gets at most `retries + 1` tries in total.
 * - `successes`: the check passes once its last `successes` tries all passed (in a row).
 * - It fails as soon as the tries left cannot complete the streak any more (no pointless
 *   waiting), or when the tries are used up.
 * - `intervalMs`: wait between tries; the first try runs at once.
 *
 * Settings out of range are clamped rather than rejected (the schema validates them; this
 * keeps the function total): `successes` at least 1, `retries` and `intervalMs` at least 0,
 * and the total at least `successes`.
 */
export function decideVerification(settings: RetrySettings, tries: readonly Pick<CheckTry, 'ok' | 'reason'>[]): VerificationDecision {
  const successes = Math.max(1, Math.floor(settings.successes));
  const total = maxVerificationTries(settings);
  const intervalMs = Math.max(0, settings.intervalMs);

  if (tries.length === 0) return { done: false, waitMs: 0 };

  let streak = 0;
  for (let i = tries.length - 1; i >= 0 && tries[i]!.ok; i--) streak++;
  const failures = tries.filter((t) => !t.ok).length;

  if (streak >= successes) {
    const inARow = successes === 1 ? 'passed' : `passed ${successes} times in a row`;
    const after = failures === 0 ? '' : ` after ${failures} failed ${plural(failures, 'try', 'tries')}`;
    return { done: true, passed: true, reason: `${inARow}${after}` };
  }
  const left = total - tries.length;
  if (successes - streak > left) {
    const last = [...tries].reverse().find((t) => !t.ok);
    const goal = successes === 1 ? 'did not pass' : `could not pass ${successes} times in a row`;
    return {
      done: true,
      passed: false,
      reason: `${goal} within ${total} ${plural(total, 'try', 'tries')} (${failures} failed); last failure: ${last?.reason ?? 'unknown'}`,
    };
  }
  return { done: false, waitMs: intervalMs };
}

/**
 * The most tries a check with these settings can take (`retries + 1`, at least `successes`);
 * useful for sizing deadlines without running the loop.
 */
export function maxVerificationTries(settings: RetrySettings): number {
  return Math.max(Math.max(0, Math.floor(settings.retries)) + 1, Math.max(1, Math.floor(settings.successes)));
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}
