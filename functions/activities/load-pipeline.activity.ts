/** `loadPipeline`: reads `.conveyor/pipeline.yaml` at the run's commit and validates it. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { parsePipelineSpec } from '../../shared/pipeline/index.js';
import { services } from '../services.js';
import { reportingVerdicts } from './expected-failure.js';

export async function loadPipeline(input: ActivityInput<'loadPipeline'>): Promise<ActivityOutput<'loadPipeline'>> {
  return reportingVerdicts(async () => {
    const text = await services().git.readFileAtCommit(input.repoUrl, input.commit, input.pipelinePath);
    return { ok: true as const, spec: parsePipelineSpec(text, input.pipelinePath) };
  });
}
