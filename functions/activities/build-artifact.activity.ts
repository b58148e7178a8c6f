/** `buildArtifact`: the durable adapter of shared/use-cases/build-artifact.use-case.ts. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { buildArtifact as build, type BuildPorts } from '../../shared/use-cases/build-artifact.use-case.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `buildArtifact` activity, given its collaborators. */
export function buildArtifact(ports: BuildPorts) {
  return async (input: ActivityInput<'buildArtifact'>): Promise<ActivityOutput<'buildArtifact'>> => reportingVerdicts(() => build(ports, input));
}
