/**
 * The local runner Conveyor uses on one machine: bubblewrap when it works here; without it,
 * either a refusal naming the fix (the default) or, only when the operator allowed unsandboxed
 * steps, the plain executor with a warning printed once.
 */
import { resolveLocalSandbox, type LocalSandboxSettings } from './bubblewrap-sandbox.js';
import { BubblewrapStepRunner, type BubblewrapStepRunnerOptions } from './bubblewrap.step-runner.js';
import type { StepOutcome, StepRequest, StepRunner } from './step-runner.js';
import { UnsandboxedStepRunner } from './unsandboxed.step-runner.js';

/** Options of {@link LocalStepRunner}. */
export type LocalStepRunnerOptions = LocalSandboxSettings & Omit<BubblewrapStepRunnerOptions, 'bwrap'>;

/** Chooses per machine between the sandboxed and (if allowed) the unsandboxed local runner. */
export class LocalStepRunner implements StepRunner {
  /** `local`; each outcome's `isolation` says which runner ran it. */
  readonly kind = 'local';
  private readonly sandboxed: BubblewrapStepRunner;
  private readonly plain: UnsandboxedStepRunner;

  /** Creates the runner; bubblewrap is probed on first use. */
  constructor(private readonly options: LocalStepRunnerOptions) {
    this.sandboxed = new BubblewrapStepRunner({ ...options });
    this.plain = new UnsandboxedStepRunner({ killGraceMs: options.killGraceMs });
  }

  /** See {@link StepRunner.run}. */
  async run(request: StepRequest): Promise<StepOutcome> {
    const sandbox = await resolveLocalSandbox(this.options);
    return sandbox.kind === 'bubblewrap' ? this.sandboxed.run(request) : this.plain.run(request);
  }
}
