/** `deployArtifact`: the durable adapter of shared/use-cases/deploy-artifact.use-case.ts. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { deployArtifact as deploy, type DeployPorts } from '../../shared/use-cases/deploy-artifact.use-case.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `deployArtifact` activity, given its collaborators. */
export function deployArtifact(ports: DeployPorts) {
  return async (input: ActivityInput<'deployArtifact'>): Promise<ActivityOutput<'deployArtifact'>> => reportingVerdicts(() => deploy(ports, input));
}
