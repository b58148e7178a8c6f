/**
 * Running one pipeline step of a run, for every adapter that runs steps (the build and test
 * activities today): the run's workspace folder, a fresh checkout of the commit, the runner the
 * pipeline chose, sealed secrets opened and registered for redaction, the output streamed to the
 * step's log blob, and the outcome in words.
 */
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import type { ContainerClient } from '@azure/storage-blob';
import type { RunSubject } from '../contracts/activities.js';
import { BlobLogSink } from '../executor/index.js';
import { secretDelivery, type StepOutcome, type StepRunner } from '../steps/index.js';
import type { CommandStep } from '../domain/pipeline.js';
import { logBlobName, workspaceFolderName } from '../domain/ids.js';
import { ValidationError } from '../errors.js';
import type { GitCache } from '../git/index.js';
import type { AppIndex } from '../apps/index.js';
import type { SealedSecrets, SecretRegistry } from '../secrets/index.js';

/** What running a step needs. */
export interface StepPorts {
  /** Folder for per-run workspaces. */
  workspaces: string;
  git: Pick<GitCache, 'checkout'>;
  /** Loaded before a step runs, so every app's webhook secret is masked in its output. */
  appIndex: Pick<AppIndex, 'ensureLoaded'>;
  /** The step logs container. */
  logs: ContainerClient;
  secrets: SecretRegistry;
  sealed: Pick<SealedSecrets, 'openAll'>;
  /** The installation's default step runner. */
  steps: StepRunner;
  /** Every runner a pipeline may choose with `runner:` (kubernetes only when configured). */
  stepRunners?: { local: StepRunner; kubernetes?: StepRunner };
}

/** Folder of a run's workspace. */
export function workspaceDir(ports: Pick<StepPorts, 'workspaces'>, runId: string): string {
  return join(ports.workspaces, workspaceFolderName(runId));
}

/** Fresh checkout of the run's commit into its workspace (anything left from an earlier attempt is removed). */
export async function freshCheckout(ports: Pick<StepPorts, 'workspaces' | 'git'>, subject: RunSubject): Promise<string> {
  const dir = workspaceDir(ports, subject.runId);
  await rm(dir, { recursive: true, force: true });
  await ports.git.checkout(subject.repoUrl, subject.commit, dir);
  return dir;
}

/**
 * Runs a pipeline step in `cwd`, streaming its redacted output to the step's log blob.
 * Untrusted webhook values reach the command only as CONVEYOR_* environment variables.
 */
export async function runLoggedStep(
  s: StepPorts,
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
  // Sealed secrets are opened here, where the step runs, and registered for redaction before
  // the step can print them.
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
