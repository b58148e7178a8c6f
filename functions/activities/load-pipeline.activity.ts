/** `loadPipeline`: reads `.conveyor/pipeline.yaml` at the run's commit, validates it, and checks its sealed secrets open. */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { parsePipelineSpec } from '../../shared/pipeline/index.js';
import { loadSealedSecrets } from '../../shared/secrets/index.js';
import { applyEnvironmentPolicy } from '../../shared/domain/policy.js';
import { currentApprovers } from '../../shared/use-cases/current-approvers.use-case.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `loadPipeline` activity, given its collaborators. */
export function loadPipeline({ git, sealed, apps, ledger, runs }: Pick<Services, 'git' | 'sealed' | 'apps' | 'ledger' | 'runs'>) {
  return async (input: ActivityInput<'loadPipeline'>): Promise<ActivityOutput<'loadPipeline'>> =>
    reportingVerdicts(async () => {
      const text = await git.readFileAtCommit(input.repoUrl, input.commit, input.pipelinePath);
      const parsed = parsePipelineSpec(text, input.pipelinePath);
      // Sealed secrets: ciphertext from the repository into the spec, and every used value
      // opened once now, so one that does not open fails the run before any step runs.
      const withSecrets = await loadSealedSecrets(parsed, input.app, (path) => git.readFileAtCommit(input.repoUrl, input.commit, path), sealed);
      // Environment policy from the registration: the file may tighten it, never loosen it.
      const { value: app } = await apps.get(input.app);
      const previousApprovers: Record<string, string[]> = {};
      for (const env of withSecrets.environments) {
        if (!env.approval || app.policy?.environments[env.name]?.approval) continue;
        const approvers = await currentApprovers({ ledger, runs }, input.app, env.name);
        if (approvers) previousApprovers[env.name] = approvers;
      }
      const spec = applyEnvironmentPolicy(withSecrets, { policy: app.policy, branch: input.branch, previousApprovers });
      return { ok: true as const, spec };
    });
}
