/**
 * `runTests`: runs the test command in the run's workspace (left by the build). If the
 * workspace is gone (a crash between the two, or another machine), it is checked out and the
 * build command re-run first; the artifact is not touched.
 */
import { access, rm } from 'node:fs/promises';
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { reportingVerdicts } from './expected-failure.js';
import { freshCheckout, runLoggedStep, stepFailure, tailLines, workspaceDir, type WorkspaceServices } from './workspace.js';

/** The `runTests` activity, given its collaborators. */
export function runTests(services: WorkspaceServices) {
  return async (input: ActivityInput<'runTests'>): Promise<ActivityOutput<'runTests'>> => {
    const { subject, build, test } = input;
    return reportingVerdicts(async () => {
      let dir = workspaceDir(services, subject.runId);
      const present = await access(dir).then(() => true, () => false);
      try {
        if (!present) {
          dir = await freshCheckout(services, subject);
          const rebuilt = await runLoggedStep(services, subject, 'build-for-test', build, dir);
          const failed = stepFailure('build (for tests)', rebuilt);
          if (failed) return { ok: false as const, reason: failed, details: tailLines(rebuilt), isolation: rebuilt.isolation };
        }
        const result = await runLoggedStep(services, subject, 'test', test, dir, []);
        const failed = stepFailure('tests', result);
        if (failed) return { ok: false as const, reason: failed, details: tailLines(result), isolation: result.isolation };
        return { ok: true as const, durationMs: result.durationMs, logName: result.logName, isolation: result.isolation };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  };
}
