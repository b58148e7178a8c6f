/** `runTests`: the durable adapter of shared/use-cases/run-tests.use-case.ts. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import type { StepPorts } from '../../shared/use-cases/run-step.use-case.js';
import { runTests as run } from '../../shared/use-cases/run-tests.use-case.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `runTests` activity, given its collaborators. */
export function runTests(ports: StepPorts) {
  return async (input: ActivityInput<'runTests'>): Promise<ActivityOutput<'runTests'>> => reportingVerdicts(() => run(ports, input));
}
