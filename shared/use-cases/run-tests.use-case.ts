/**
 * Running a run's tests in its workspace (left by the build). If the workspace is gone (a crash
 * between the two, or another machine), the commit is checked out and the build command re-run
 * first; the artifact is not touched. The workspace is removed afterwards either way.
 */
import { access, rm } from 'node:fs/promises';
import type { ActivityInput, ActivityOutput } from '../contracts/activities.js';
import { freshCheckout, runLoggedStep, stepFailure, tailLines, workspaceDir, type StepPorts } from './run-step.use-case.js';

/** Runs the tests; a failure is an `ok: false` outcome, a transient fault throws. */
export async function runTests(ports: StepPorts, input: ActivityInput<'runTests'>): Promise<ActivityOutput<'runTests'>> {
  const { subject, build, test } = input;
  let dir = workspaceDir(ports, subject.runId);
  const present = await access(dir).then(() => true, () => false);
  try {
    if (!present) {
      dir = await freshCheckout(ports, subject);
      const rebuilt = await runLoggedStep(ports, subject, 'build-for-test', build, dir);
      const failed = stepFailure('build (for tests)', rebuilt);
      if (failed) return { ok: false as const, reason: failed, details: tailLines(rebuilt), isolation: rebuilt.isolation };
    }
    const result = await runLoggedStep(ports, subject, 'test', test, dir, []);
    const failed = stepFailure('tests', result);
    if (failed) return { ok: false as const, reason: failed, details: tailLines(result), isolation: result.isolation };
    return { ok: true as const, durationMs: result.durationMs, logName: result.logName, isolation: result.isolation };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
