/** Step runners: the `StepRunner` port and its local implementations. */
export type { StepRunner, StepRequest, StepOutcome, StepVars, StepNetwork, StepWorkspace } from './step-runner.js';
export { UnsandboxedStepRunner, type UnsandboxedStepRunnerOptions } from './unsandboxed.step-runner.js';
export { stepRedactor } from './step-secrets.js';
