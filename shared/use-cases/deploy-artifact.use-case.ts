/**
 * Deploying a stored artifact digest to an environment's target as the environment's next
 * revision. The revision number is the ledger's next one: deployments of one environment are
 * serialised by the environment lock, so nobody else takes it meanwhile, and `recordDeployment`
 * stores it under exactly that number. The service's sealed secrets are opened here only; a
 * rollback or heal re-applies what was recorded for the revision it returns to.
 */
import type { ActivityInput, ActivityOutput } from '../contracts/activities.js';
import { assertDigest, extractArtifact, type ArtifactCache } from '../artifacts/index.js';
import { secretDelivery } from '../steps/index.js';
import type { TargetRegistry } from '../targets/index.js';
import type { DeploymentLedger } from '../ledger/index.js';
import type { SealedSecrets, SecretRegistry } from '../secrets/index.js';
import type { AppRegistry } from '../apps/index.js';
import type { GitCache } from '../git/index.js';

/** What deploying uses of each collaborator (narrow, so a test can pass fakes of the ports). */
export interface DeployPorts {
  artifactCache: Pick<ArtifactCache, 'archive'>;
  targets: Pick<TargetRegistry, 'forSpec'>;
  ledger: Pick<DeploymentLedger, 'latestRevision' | 'get'>;
  sealed: Pick<SealedSecrets, 'openAll'>;
  secrets: Pick<SecretRegistry, 'add' | 'redact'>;
  /** The app's repository at the commit (targets whose configuration is code there: kubernetes). */
  apps?: Pick<AppRegistry, 'get'>;
  git?: Pick<GitCache, 'readFolderAtCommit'>;
}

/** Deploys the artifact; a refused deployment is an `ok: false` outcome (with its revision), a transient fault throws. */
export async function deployArtifact(s: DeployPorts, input: ActivityInput<'deployArtifact'>): Promise<ActivityOutput<'deployArtifact'>> {
  const digest = assertDigest(input.digest);
  const target = s.targets.forSpec(input.target);
  const revision = (await s.ledger.latestRevision(input.app, input.environment)) + 1;
  // The service's sealed secrets are opened here only, and masked wherever output is kept.
  const opened = input.target.secrets ? await s.sealed.openAll(input.app, input.target.secrets) : {};
  for (const value of Object.values(opened)) s.secrets.add(value);
  const { secretEnv, secretFiles } = secretDelivery(input.target.secrets, opened);
  const startedAt = new Date().toISOString();
  // A rollback or heal re-applies what was recorded for that revision, not a fresh render.
  const recorded = input.rolledBackTo !== undefined && input.target.type !== 'process' ? (await s.ledger.get(input.app, input.environment, input.rolledBackTo)).target : undefined;
  const { apps, git } = s;
  const result = await target.deploy({
    app: input.app,
    environment: input.environment,
    revision,
    commit: input.commit,
    runId: input.runId,
    digest,
    spec: input.target,
    secretEnv,
    secretFiles,
    materialize: async (destDir) => {
      await extractArtifact(await s.artifactCache.archive(digest), destDir);
    },
    ...(recorded ? { recorded } : {}),
    ...(input.kind === 'heal' ? { heal: true } : {}),
    ...(apps && git
      ? {
          readRepository: async (folder: string, include: RegExp) => {
            const app = (await apps.get(input.app)).value;
            return git.readFolderAtCommit(app.repoUrl, input.commit, folder, include);
          },
        }
      : {}),
  });
  if (!result.ok) {
    // The service's own output may hold its secrets; this tail goes into history and records.
    const tail = s.secrets.redact(result.logTail).split('\n').filter((l) => l.length > 0).slice(-20);
    return { ok: false as const, reason: result.reason, details: tail, revision };
  }
  // Only targets with facts worth keeping (kubernetes: digest, manifests) report them for the ledger.
  const targetDetails = input.target.type === 'process' ? undefined : result.details;
  return {
    ok: true as const,
    revision,
    baseUrl: result.baseUrl,
    startedAt,
    finishedAt: new Date().toISOString(),
    ...(targetDetails ? { targetDetails } : {}),
    ...(result.isolation ? { isolation: result.isolation } : {}),
  };
}
