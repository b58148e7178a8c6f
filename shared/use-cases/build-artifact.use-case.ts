/**
 * Building a run's artifact: a fresh checkout of the commit, the image digest written where the
 * pipeline reads it, the build command run, the declared paths packed and stored by digest
 * (once: an existing digest is not uploaded again). The workspace is kept for the tests when asked.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ActivityInput, ActivityOutput } from '../contracts/activities.js';
import type { ArtifactStore } from '../artifacts/index.js';
import { freshCheckout, runLoggedStep, stepFailure, tailLines, type StepPorts } from './run-step.use-case.js';

/** What building needs: the step ports and the artifact store. */
export type BuildPorts = StepPorts & { artifacts: Pick<ArtifactStore, 'publish'> };

/** Builds and stores the run's artifact; a failed build is an `ok: false` outcome, a transient fault throws. */
export async function buildArtifact(ports: BuildPorts, input: ActivityInput<'buildArtifact'>): Promise<ActivityOutput<'buildArtifact'>> {
  const { subject, build } = input;
  const dir = await freshCheckout(ports, subject);
  // The digest of the image the registry built for this commit: the command may read it,
  // and it is packed with the artifact (every environment pins it from there).
  if (input.imageDigest && build.image) {
    const file = join(dir, build.image.digestFile);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${input.imageDigest}\n`);
  }
  // A fresh checkout: a Kubernetes Job may fetch the commit itself (unless the image build wrote its digest file here).
  const result = await runLoggedStep(ports, subject, 'build', build, dir, input.keepWorkspace ? undefined : build.artifact, !(input.imageDigest && build.image));
  const failed = stepFailure('build', result);
  if (failed) {
    await rm(dir, { recursive: true, force: true });
    return { ok: false as const, reason: failed, details: tailLines(result), isolation: result.isolation };
  }
  const stored = await ports.artifacts.publish(dir, { app: subject.app, commit: subject.commit, paths: build.artifact });
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
}
