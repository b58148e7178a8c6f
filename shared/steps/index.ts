/** Step runners: the `StepRunner` port and its local implementations. */
export type { StepRunner, StepRequest, StepOutcome, StepVars, StepNetwork, StepWorkspace } from './step-runner.js';
export { UnsandboxedStepRunner, type UnsandboxedStepRunnerOptions } from './unsandboxed.step-runner.js';
export { BubblewrapStepRunner, type BubblewrapStepRunnerOptions } from './bubblewrap.step-runner.js';
export { LocalStepRunner, type LocalStepRunnerOptions } from './local.step-runner.js';
export {
  bubblewrapArgs,
  probeBubblewrap,
  resolveLocalSandbox,
  sandboxPath,
  SandboxUnavailableError,
  BUBBLEWRAP_FIX,
  SANDBOX_ENTRY,
  SANDBOX_HOME,
  type SandboxOptions,
  type LocalSandbox,
  type LocalSandboxSettings,
  type BubblewrapProbe,
} from './bubblewrap-sandbox.js';
export { stepRedactor, secretDelivery } from './step-secrets.js';
export { SECRET_FILES_DIR } from './step-runner.js';
export { DEFAULT_STEP_LIMITS, effectiveLimits, formatBytes, limitHit, parseBytes, type StepLimits, type StepIsolation, type LimitHit } from './step-limits.js';
