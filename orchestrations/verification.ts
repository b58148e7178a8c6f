/**
 * The durable verification loop shared by promotion and rollback: one activity per try,
 * durable timers between tries, the pass/fail decision from the pure policy in shared/domain.
 */
import type * as df from 'durable-functions';
import type { VerifySpec } from '../shared/domain/pipeline.js';
import { decideVerification, type VerifyAttempt } from '../shared/domain/verification.js';
import { call } from './activity-call.js';

/** Outcome of verifying every check of an environment. */
export interface VerificationOutcome {
  passed: boolean;
  reason?: string;
  attempts: VerifyAttempt[];
}

/** Runs every check in order; stops at the first check that fails. */
export function* verifyAll(
  context: df.OrchestrationContext,
  baseUrl: string,
  checks: readonly VerifySpec[],
): Generator<df.Task, VerificationOutcome, unknown> {
  const all: VerifyAttempt[] = [];
  for (let i = 0; i < checks.length; i++) {
    const check = checks[i]!;
    const tries: VerifyAttempt[] = [];
    for (;;) {
      const attempt = yield* call(context, 'verifyEnvironment', { baseUrl, check, checkIndex: i, attempt: tries.length + 1 });
      tries.push(attempt);
      all.push(attempt);
      const decision = decideVerification(check, tries);
      if (decision.done) {
        if (!decision.passed) {
          return { passed: false, reason: `check ${i + 1} (${check.type} ${check.path}) failed: ${decision.reason}`, attempts: all };
        }
        break;
      }
      const wakeAt = new Date(context.df.currentUtcDateTime.getTime() + decision.waitMs);
      yield context.df.createTimer(wakeAt);
    }
  }
  return { passed: true, attempts: all };
}
