/**
 * `buildArtifact`: checks out the commit, runs the build command, packs the declared paths and
 * stores the archive by digest (once: an existing digest is not uploaded again).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';
import { freshCheckout, runLoggedStep, stepFailure, tailLines, type WorkspaceServices } from './workspace.js';

/** The `buildArtifact` activity, given its collaborators. */
export function buildArtifact(services: WorkspaceServices & Pick<Services, 'artifacts'>) {
  return async (input: ActivityInput<'buildArtifact'>): Promise<ActivityOutput<'buildArtifact'>> => {
    const { subject, build } = input;
    return reportingVerdicts(async () => {
      const dir = await freshCheckout(services, subject);
      // The digest of the image the registry built for this commit: the command may read it,
      // and it is packed with the artifact (every environment pins it from there).
      if (input.imageDigest && build.image) {
        const file = join(dir, build.image.digestFile);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, `${input.imageDigest}\n`);
      }
      // A fresh checkout: a Kubernetes Job may fetch the commit itself (unless the image build wrote its digest file here).
      const result = await runLoggedStep(services, subject, 'build', build, dir, input.keepWorkspace ? undefined : build.artifact, !(input.imageDigest && build.image));
      const failed = stepFailure('build', result);
      if (failed) {
        await rm(dir, { recursive: true, force: true });
        return { ok: false as const, reason: failed, details: tailLines(result), isolation: result.isolation };
      }
      const stored = await services.artifacts.publish(dir, { app: subject.app, commit: subject.commit, paths: build.artifact });
      if (!input.keepWorkspace) await rm(dir, { recursive: true, force: true });
      return {
        ok: true as const,
        digest: stored.digest,
        sizeBytes: stored.size,
        durationMs: result.durationMs,
        logName: result.logName,
        reused: !stored.uploaded,
        isolation: result.isolation,
      };
    });
  };
}
