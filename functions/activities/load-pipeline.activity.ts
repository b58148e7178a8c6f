/** `loadPipeline`: reads `.conveyor/pipeline.yaml` at the run's commit and validates it. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { parsePipelineSpec } from '../../shared/pipeline/index.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `loadPipeline` activity, given its collaborators. */
export function loadPipeline({ git }: Pick<Services, 'git'>) {
  return async (input: ActivityInput<'loadPipeline'>): Promise<ActivityOutput<'loadPipeline'>> =>
    reportingVerdicts(async () => {
      const text = await git.readFileAtCommit(input.repoUrl, input.commit, input.pipelinePath);
      return { ok: true as const, spec: parsePipelineSpec(text, input.pipelinePath) };
    });
}
