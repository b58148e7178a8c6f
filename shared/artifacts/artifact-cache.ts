/**
 * Verified archives kept on local disk, by digest: every environment of a run deploys the same
 * digest, so it is downloaded (and digest-verified by the store) once. Least recently used
 * archives beyond the limit are pruned after each download. A download lands in a unique
 * `.part` file and is renamed into place, so concurrent deployments never read a partial file.
 */
import { randomUUID } from 'node:crypto';
import { access, mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactStore } from './artifact-store.js';
import type { ArtifactDigest } from './pack.js';

/** How many archives the cache keeps by default. */
export const ARTIFACT_CACHE_KEEP = 20;

/** A local cache of artifact archives over a store. */
export class ArtifactCache {
  /** A cache in `dir`, downloading from `store`, keeping at most `keep` archives. */
  constructor(
    private readonly dir: string,
    private readonly store: Pick<ArtifactStore, 'download'>,
    private readonly keep = ARTIFACT_CACHE_KEEP,
  ) {}

  /** The local archive of `digest`, downloaded once. Touching it marks it recently used. */
  async archive(digest: ArtifactDigest): Promise<string> {
    const file = join(this.dir, `${digest.slice('sha256:'.length)}.tar.gz`);
    if (await access(file).then(() => true, () => false)) {
      const now = new Date();
      await utimes(file, now, now).catch(() => undefined);
      return file;
    }
    await mkdir(this.dir, { recursive: true });
    const part = `${file}.${randomUUID()}.part`;
    try {
      await this.store.download(digest, part);
      await rename(part, file);
    } finally {
      await rm(part, { force: true });
    }
    await this.prune();
    return file;
  }

  /** Removes the least recently used archives beyond the limit. */
  async prune(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.tar.gz'));
    if (names.length <= this.keep) return;
    const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(this.dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
    aged.sort((a, b) => b.t - a.t);
    await Promise.all(aged.slice(this.keep).map(({ n }) => rm(join(this.dir, n), { force: true })));
  }
}
