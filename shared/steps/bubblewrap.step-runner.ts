/**
 * The local sandboxed runner: each step runs in a bubblewrap sandbox (see bubblewrap-sandbox.ts
 * for what it may see). The executor's guarantees hold unchanged: output is streamed, redacted,
 * to the log sink; a timeout or an abort kills the whole sandbox; whatever the step leaves
 * running ends with it (the sandbox's PID namespace ends when the step's shell does, daemons
 * that called `setsid` included); and the sandbox dies with Conveyor (`--die-with-parent`), so a
 * step resumed after a crash never shares its workspace with a leftover copy.
 */
import { existsSync } from 'node:fs';
import { ExternalFailureError } from '../errors.js';
import { runStep, stepEnvironment } from '../executor/run-step.js';
import { BUBBLEWRAP_FIX, bubblewrapArgs, probeBubblewrap, SANDBOX_ENTRY, SANDBOX_HOME, sandboxPath, SandboxUnavailableError } from './bubblewrap-sandbox.js';
import { stepRedactor } from './step-secrets.js';
import type { StepOutcome, StepRequest, StepRunner } from './step-runner.js';
import { hostEnvironment } from '../config/settings.js';

/** Options of {@link BubblewrapStepRunner}. */
export interface BubblewrapStepRunnerOptions {
  /** The bwrap binary. Default `bwrap` (found on PATH). */
  bwrap?: string;
  /** Host folders that must never be visible to a step (Conveyor's working, state and data folders). */
  hidden?: readonly string[];
  /** Further host paths bound read-only into every sandbox. */
  readOnly?: readonly string[];
  /** Time between SIGTERM and SIGKILL of the sandbox on timeout. Default 2000 ms. */
  killGraceMs?: number;
}

/** Runs steps in bubblewrap sandboxes. */
export class BubblewrapStepRunner implements StepRunner {
  /** Always `bubblewrap`. */
  readonly kind = 'bubblewrap';
  private readonly bwrap: string;

  /** Creates the runner; bubblewrap is probed on first use. */
  constructor(private readonly options: BubblewrapStepRunnerOptions = {}) {
    this.bwrap = options.bwrap ?? 'bwrap';
  }

  /** Resolves when bubblewrap works here; rejects with {@link SandboxUnavailableError} naming the fix otherwise. */
  async ensureAvailable(): Promise<{ disableUserns: boolean }> {
    const probe = await probeBubblewrap(this.bwrap);
    if (!probe.ok) throw new SandboxUnavailableError(`steps cannot be sandboxed: ${probe.reason}; ${BUBBLEWRAP_FIX}`);
    return probe;
  }

  /** See {@link StepRunner.run}. */
  async run(request: StepRequest): Promise<StepOutcome> {
    const { disableUserns } = await this.ensureAvailable();
    const dir = request.workspace.dir;
    if (!existsSync(dir)) throw new ExternalFailureError(`workspace folder ${dir} does not exist`);
    const env = stepEnvironment({
      env: { ...request.env, ...request.secretEnv },
      conveyorVars: request.conveyorVars,
      baseEnv: { PATH: sandboxPath(), HOME: SANDBOX_HOME, LANG: hostEnvironment().LANG ?? 'C.UTF-8', TMPDIR: '/tmp' },
    });
    const args = bubblewrapArgs({
      writable: dir,
      network: request.network !== 'none',
      dieWithParent: true,
      hidden: this.options.hidden,
      readOnly: this.options.readOnly,
      hostname: 'conveyor-step',
      disableUserns,
    });
    const result = await runStep({
      command: request.command,
      cwd: dir,
      timeoutMs: request.timeoutMs,
      conveyorVars: request.conveyorVars,
      log: request.log,
      secrets: stepRedactor(request),
      signal: request.signal,
      killGraceMs: this.options.killGraceMs,
      launch: { file: this.bwrap, args: [...args, '--', 'bash', '-c', SANDBOX_ENTRY, 'conveyor-step', request.command], env },
    });
    return { ...result, isolation: this.kind };
  }
}
