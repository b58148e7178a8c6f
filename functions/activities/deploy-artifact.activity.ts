/**
 * `deployArtifact`: deploys a stored artifact digest to an environment's target as the
 * environment's next revision. The revision number is the ledger's next one: deployments of
 * one environment are serialised by the environment lock, so nobody else takes it meanwhile,
 * and `recordDeployment` stores it under exactly that number.
 */
import { randomUUID } from 'node:crypto';
import { access, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { assertDigest, extractArtifact, type ArtifactDigest } from '../../shared/artifacts/index.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';

/** Verified archives kept on local disk: every environment of a run deploys the same digest. */
const CACHE_KEEP = 20;

/** The archive of `digest` on local disk, downloaded (and digest-verified) once. */
async function cachedArchive(services: Pick<Services, 'settings' | 'artifacts'>, digest: ArtifactDigest): Promise<string> {
  const dir = join(services.settings.dataDir, 'artifact-cache');
  const file = join(dir, `${digest.slice('sha256:'.length)}.tar.gz`);
  if (await access(file).then(() => true, () => false)) {
    const now = new Date();
    await utimes(file, now, now).catch(() => undefined);
    return file;
  }
  await mkdir(dir, { recursive: true });
  const part = `${file}.${randomUUID()}.part`;
  try {
    await services.artifacts.download(digest, part);
    await rename(part, file);
  } finally {
    await rm(part, { force: true });
  }
  await pruneCache(dir);
  return file;
}

async function pruneCache(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.tar.gz'));
  if (names.length <= CACHE_KEEP) return;
  const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => b.t - a.t);
  await Promise.all(aged.slice(CACHE_KEEP).map(({ n }) => rm(join(dir, n), { force: true })));
}

/** The `deployArtifact` activity, given its collaborators. */
export function deployArtifact(s: Pick<Services, 'settings' | 'artifacts' | 'targets' | 'ledger' | 'sealed' | 'secrets'>) {
  return async (input: ActivityInput<'deployArtifact'>): Promise<ActivityOutput<'deployArtifact'>> =>
    reportingVerdicts(async () => {
      const digest = assertDigest(input.digest);
      const target = s.targets.forSpec(input.target);
      const revision = (await s.ledger.latestRevision(input.app, input.environment)) + 1;
      // The service's sealed secrets are opened here only, and masked wherever output is kept.
      const secretEnv = input.target.secrets ? await s.sealed.openAll(input.app, input.target.secrets) : {};
      for (const value of Object.values(secretEnv)) s.secrets.add(value);
      const startedAt = new Date().toISOString();
      const result = await target.deploy({
        app: input.app,
        environment: input.environment,
        revision: String(revision),
        commit: input.commit,
        artifactDigest: digest,
        spec: input.target,
        secretEnv,
        materialize: async (destDir) => {
          await extractArtifact(await cachedArchive(s, digest), destDir);
        },
      });
      if (!result.ok) {
        // The service's own output may hold its secrets; this tail goes into history and records.
        const tail = s.secrets.redact(result.logTail).split('\n').filter((l) => l.length > 0).slice(-20);
        return { ok: false as const, reason: result.reason, details: tail, revision };
      }
      return { ok: true as const, revision, baseUrl: result.baseUrl, startedAt, finishedAt: new Date().toISOString() };
    });
}
