/** The per-run workspace shared by the build and test activities of one run. */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import type { RunSubject } from '../../shared/contracts/activities.js';
import { BlobLogSink } from '../../shared/executor/index.js';
import type { StepOutcome } from '../../shared/steps/index.js';
import type { CommandStep } from '../../shared/domain/pipeline.js';
import { services } from '../services.js';

/** Folder of a run's workspace. Run ids are path-safe by construction (RUN_ID_PATTERN). */
export function workspaceDir(runId: string): string {
  return join(services().workspaces, runId.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/** Fresh checkout of the run's commit into its workspace (anything left from an earlier attempt is removed). */
export async function freshCheckout(subject: RunSubject): Promise<string> {
  const dir = workspaceDir(subject.runId);
  await rm(dir, { recursive: true, force: true });
  await services().git.checkout(subject.repoUrl, subject.commit, dir);
  return dir;
}

/** Blob name of a step's log. */
export function logName(subject: RunSubject, step: string): string {
  return `${subject.app}/${subject.runId}/${step}.log`;
}

/**
 * Runs a pipeline step in `cwd`, streaming its redacted output to the step's log blob.
 * Untrusted webhook values reach the command only as CONVEYOR_* environment variables.
 */
export async function runLoggedStep(subject: RunSubject, stepName: string, step: CommandStep, cwd: string, outputs?: readonly string[]): Promise<StepOutcome & { logName: string }> {
  const s = services();
  await s.appIndex.ensureLoaded();
  const name = logName(subject, stepName);
  const sink = await BlobLogSink.open(s.logs, name);
  try {
    const result = await s.steps.run({
      name: stepName,
      command: step.command,
      workspace: { dir: cwd, outputs },
      env: step.env,
      timeoutMs: step.timeoutMs,
      conveyorVars: {
        app: subject.app,
        commit: subject.commit,
        branch: subject.branch,
        runId: subject.runId,
        pusher: subject.pusher.id,
        step: stepName,
      },
      log: sink,
      redact: s.secrets,
    });
    return { ...result, logName: name };
  } finally {
    await sink.close();
  }
}

/** Why a finished step failed, in words, or undefined when it succeeded. */
export function stepFailure(stepName: string, result: StepOutcome): string | undefined {
  if (result.timedOut) return `${stepName} timed out after ${Math.round(result.durationMs / 1000)} s`;
  if (result.exitCode === 0) return undefined;
  if (result.exitCode === null) return `${stepName} was killed by ${result.signal ?? 'a signal'}`;
  return `${stepName} exited with code ${result.exitCode}`;
}

/** The last lines of a step's output, for the recorded failure. */
export function tailLines(result: StepOutcome, max = 20): string[] {
  return result.outputTail.split('\n').filter((l) => l.length > 0).slice(-max);
}
