/** `checkEnvironmentGate` and `freezeAfterRollback`: the durable adapters of shared/use-cases/environment-gate.use-case.ts. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { checkEnvironmentGate as check, freezeAfterRollback as freeze, type GatePorts, type RollbackControlPorts } from '../../shared/use-cases/environment-gate.use-case.js';

/** The `checkEnvironmentGate` activity, given its collaborators. */
export function checkEnvironmentGate(ports: GatePorts) {
  return (input: ActivityInput<'checkEnvironmentGate'>): Promise<ActivityOutput<'checkEnvironmentGate'>> => check(ports, input);
}

/** The `freezeAfterRollback` activity, given its collaborators. */
export function freezeAfterRollback(ports: RollbackControlPorts) {
  return (input: ActivityInput<'freezeAfterRollback'>): Promise<null> => freeze(ports, input);
}
