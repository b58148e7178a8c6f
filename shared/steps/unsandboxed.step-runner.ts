/**
 * The unsandboxed local runner: the step runs as a plain child process group of Conveyor (the
 * executor in shared/executor/run-step.ts). It keeps the executor's guarantees (minimal
 * environment, process-group kill on timeout, a step dies with Conveyor, redacted streaming
 * output) but gives no isolation from the files and processes of the machine, so it is only
 * used where the operator allowed unsandboxed steps (CONVEYOR_ALLOW_UNSANDBOXED_STEPS) or in tests of
 * the executor itself.
 */
import { ExternalFailureError } from '../errors.js';
import { runStep } from '../executor/run-step.js';
import { stepRedactor } from './step-secrets.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StepIsolation } from './step-limits.js';
import type { StepOutcome, StepRequest, StepRunner } from './step-runner.js';

/** Options of {@link UnsandboxedStepRunner}. */
export interface UnsandboxedStepRunnerOptions {
  /** Base environment PATH/HOME/LANG/TMPDIR are taken from; default `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Time between SIGTERM and SIGKILL of the step's process group. Default 2000 ms. */
  killGraceMs?: number;
}

/** Runs steps as plain local processes (no sandbox). */
export class UnsandboxedStepRunner implements StepRunner {
  /** Always `unsandboxed`. */
  readonly kind = 'unsandboxed';

  /** Creates the runner. */
  constructor(private readonly options: UnsandboxedStepRunnerOptions = {}) {}

  /** See {@link StepRunner.run}. `network: none` is refused: a plain process cannot be cut off. */
  async run(request: StepRequest): Promise<StepOutcome> {
    if (request.network === 'none') {
      throw new ExternalFailureError(`step ${request.name} asks for network: none, which needs the bubblewrap sandbox (install bubblewrap, and do not allow unsandboxed steps)`);
    }
    // Secret files: no sandbox to keep them in memory, so a private folder (in /dev/shm, memory,
    // where there is one) readable by this user only, removed when the step ends.
    const files = Object.entries(request.secretFiles ?? {});
    const folder = files.length ? mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'conveyor-secrets-')) : undefined;
    const fileEnv: Record<string, string> = {};
    for (const [name, value] of files) {
      fileEnv[name] = join(folder!, name);
      writeFileSync(fileEnv[name], value, { mode: 0o400 });
    }
    try {
      return await this.runPlain(request, fileEnv);
    } finally {
      if (folder) rmSync(folder, { recursive: true, force: true });
    }
  }

  private async runPlain(request: StepRequest, fileEnv: Record<string, string>): Promise<StepOutcome> {
    const result = await runStep({
      command: request.command,
      cwd: request.workspace.dir,
      env: { ...request.env, ...request.secretEnv, ...fileEnv },
      timeoutMs: request.timeoutMs,
      conveyorVars: request.conveyorVars,
      log: request.log,
      secrets: stepRedactor(request),
      signal: request.signal,
      killGraceMs: this.options.killGraceMs,
      baseEnv: this.options.baseEnv,
    });
    const isolation: StepIsolation = {
      runner: this.kind,
      sandbox: false,
      network: 'on',
      enforcement: ['none: no sandbox, no limits (CONVEYOR_ALLOW_UNSANDBOXED_STEPS)'],
    };
    return { ...result, isolation };
  }
}
