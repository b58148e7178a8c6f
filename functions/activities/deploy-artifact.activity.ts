/**
 * `deployArtifact`: deploys a stored artifact digest to an environment's target as the
 * environment's next revision. The revision number is the ledger's next one: deployments of
 * one environment are serialised by the environment lock, so nobody else takes it meanwhile,
 * and `recordDeployment` stores it under exactly that number.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { assertDigest, extractArtifact } from '../../shared/artifacts/index.js';
import { services } from '../services.js';
import { reportingVerdicts } from './expected-failure.js';

export async function deployArtifact(input: ActivityInput<'deployArtifact'>): Promise<ActivityOutput<'deployArtifact'>> {
  const s = services();
  return reportingVerdicts(async () => {
    const digest = assertDigest(input.digest);
    const target = s.targets.forSpec(input.target);
    const revision = (await s.ledger.latestRevision(input.app, input.environment)) + 1;
    const startedAt = new Date().toISOString();
    const result = await target.deploy({
      app: input.app,
      environment: input.environment,
      revision: String(revision),
      commit: input.commit,
      artifactDigest: digest,
      spec: input.target,
      materialize: async (destDir) => {
        const dir = await mkdtemp(join(tmpdir(), 'conveyor-deploy-'));
        try {
          const archive = join(dir, 'artifact.tar.gz');
          await s.artifacts.download(digest, archive);
          await extractArtifact(archive, destDir);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    });
    if (!result.ok) {
      const tail = result.logTail.split('\n').filter((l) => l.length > 0).slice(-20);
      return { ok: false as const, reason: result.reason, details: tail, revision };
    }
    return { ok: true as const, revision, baseUrl: result.baseUrl, startedAt, finishedAt: new Date().toISOString() };
  });
}
