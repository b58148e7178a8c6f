/**
 * Activities report expected failures as data and throw only transient faults (docs/architecture.md
 * principle 3). Validation and not-found errors are verdicts about the input or the commit, so
 * retrying cannot help; everything else is thrown for the orchestrator's retry policy.
 */
import { NotFoundError, ValidationError } from '../../shared/errors.js';

/** The failure as data when it is a verdict; undefined when it should be thrown (transient). */
export function asExpectedFailure(err: unknown): { ok: false; reason: string; details?: string[] } | undefined {
  if (err instanceof ValidationError) {
    return {
      ok: false,
      reason: err.message,
      details: err.issues.map((i) => `${i.line !== undefined ? `line ${i.line}, column ${i.column ?? 1}: ` : ''}${i.path}: ${i.message}`),
    };
  }
  if (err instanceof NotFoundError) return { ok: false, reason: err.message };
  return undefined;
}

/** Calls `fn`; verdict errors become `ok: false` data, other errors propagate. */
export async function reportingVerdicts<T>(fn: () => Promise<T>): Promise<T | { ok: false; reason: string; details?: string[] }> {
  try {
    return await fn();
  } catch (err) {
    const failure = asExpectedFailure(err);
    if (failure) return failure;
    throw err;
  }
}
