/** The per-run workspace shared by the build and test activities of one run. */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import type { RunSubject } from '../../shared/contracts/activities.js';
import { BlobLogSink } from '../../shared/executor/index.js';
import { secretDelivery, type StepOutcome } from '../../shared/steps/index.js';
import type { CommandStep } from '../../shared/domain/pipeline.js';
import { logBlobName, workspaceFolderName } from '../../shared/domain/ids.js';
import { ValidationError } from '../../shared/errors.js';
import type { Services } from '../composition-root.js';

/** What the workspace helpers need. */
export type WorkspaceServices = Pick<Services, 'workspaces' | 'git' | 'appIndex' | 'logs' | 'secrets' | 'steps' | 'sealed'> & Partial<Pick<Services, 'stepRunners'>>;

/** Folder of a run's workspace. */
export function workspaceDir(services: Pick<Services, 'workspaces'>, runId: string): string {
  return join(services.workspaces, workspaceFolderName(runId));
}

/** Fresh checkout of the run's commit into its workspace (anything left from an earlier attempt is removed). */
export async function freshCheckout(services: Pick<Services, 'workspaces' | 'git'>, subject: RunSubject): Promise<string> {
  const dir = workspaceDir(services, subject.runId);
  await rm(dir, { recursive: true, force: true });
  await services.git.checkout(subject.repoUrl, subject.commit, dir);
  return dir;
}

/**
 * Runs a pipeline step in `cwd`, streaming its redacted output to the step's log blob.
 * Untrusted webhook values reach the command only as CONVEYOR_* environment variables.
 */
export async function runLoggedStep(
  s: WorkspaceServices,
  subject: RunSubject,
  stepName: string,
  step: CommandStep,
  cwd: string,
  outputs?: readonly string[],
  /** True when `cwd` is a fresh checkout of the commit: a remote runner may fetch the commit itself. */
  freshCheckout = false,
): Promise<StepOutcome & { logName: string }> {
  // The pipeline may choose where its steps run; the installation decides what is available.
  const runner = step.runner === undefined ? s.steps : step.runner === 'kubernetes' ? s.stepRunners?.kubernetes : (s.stepRunners?.local ?? s.steps);
  if (!runner) {
    throw new ValidationError(`the pipeline asks for ${stepName} to run as a Kubernetes Job, and this installation has no Kubernetes step runner`, [
      { path: `${stepName}.runner`, message: 'set CONVEYOR_STEP_IMAGE (and CONVEYOR_KUBECONFIG_STEPS) to offer it, or choose runner: local' },
    ]);
  }
  await s.appIndex.ensureLoaded();
  const name = logBlobName(subject.app, subject.runId, stepName);
  // Sealed secrets are opened here, in the activity that runs the step, and registered for
  // redaction before the step can print them.
  const opened = step.secrets ? await s.sealed.openAll(subject.app, step.secrets) : {};
  for (const value of Object.values(opened)) s.secrets.add(value);
  const { secretEnv, secretFiles } = secretDelivery(step.secrets, opened);
  const sink = await BlobLogSink.open(s.logs, name);
  try {
    const result = await runner.run({
      name: stepName,
      command: step.command,
      workspace: { dir: cwd, outputs },
      env: step.env,
      secretEnv,
      secretFiles,
      ...(step.resources ? { resources: step.resources } : {}),
      timeoutMs: step.timeoutMs,
      network: step.network ?? 'on',
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
      ...(step.jobImage ? { image: step.jobImage } : {}),
      ...(freshCheckout ? { source: { repoUrl: subject.repoUrl, commit: subject.commit } } : {}),
    });
    return { ...result, logName: name };
  } finally {
    await sink.close();
  }
}

/** Why a finished step failed, in words, or undefined when it succeeded. */
export function stepFailure(stepName: string, result: StepOutcome): string | undefined {
  if (result.timedOut) return `${stepName} timed out after ${Math.round(result.durationMs / 1000)} s`;
  if (result.limitHit) {
    const how = result.exitCode === 0 ? 'exited with code 0' : result.exitCode === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited with code ${result.exitCode}`;
    return `${stepName} hit its ${result.limitHit.limit} limit: ${result.limitHit.why} (${how})`;
  }
  if (result.exitCode === 0) return undefined;
  if (result.exitCode === null) return `${stepName} was killed by ${result.signal ?? 'a signal'}`;
  return `${stepName} exited with code ${result.exitCode}`;
}

/** The last lines of a step's output, for the recorded failure. */
export function tailLines(result: StepOutcome, max = 20): string[] {
  return result.outputTail.split('\n').filter((l) => l.length > 0).slice(-max);
}
