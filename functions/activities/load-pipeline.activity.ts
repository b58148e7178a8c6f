/** `loadPipeline`: reads `.conveyor/pipeline.yaml` at the run's commit, validates it, and checks its sealed secrets open. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { parsePipelineSpec } from '../../shared/pipeline/index.js';
import { loadSealedSecrets } from '../../shared/secrets/index.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `loadPipeline` activity, given its collaborators. */
export function loadPipeline({ git, sealed }: Pick<Services, 'git' | 'sealed'>) {
  return async (input: ActivityInput<'loadPipeline'>): Promise<ActivityOutput<'loadPipeline'>> =>
    reportingVerdicts(async () => {
      const text = await git.readFileAtCommit(input.repoUrl, input.commit, input.pipelinePath);
      const parsed = parsePipelineSpec(text, input.pipelinePath);
      // Sealed secrets: ciphertext from the repository into the spec, and every used value
      // opened once now, so one that does not open fails the run before any step runs.
      const spec = await loadSealedSecrets(parsed, input.app, (path) => git.readFileAtCommit(input.repoUrl, input.commit, path), sealed);
      return { ok: true as const, spec };
    });
}
