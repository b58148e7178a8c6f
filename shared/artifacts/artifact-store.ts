/**
 * Content-addressed artifact store in blob storage.
 *
 * `artifacts/sha256/<hex>.tar.gz` holds the bytes, `artifacts/sha256/<hex>.json` the metadata of
 * the first upload (app, commit, size, paths, createdAt). Both are created with
 * If-None-Match: * so an existing digest is never uploaded (or overwritten) again, and a
 * download is verified against the digest in its name before anyone extracts it.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import { ConflictError, CorruptDataError, NotFoundError } from '../errors.js';
import { createJson, ensureContainer, mapStorageError, readJson, storageStatus } from '../storage/blob-store.js';
import { assertDigest, packArtifact, writeHashed, type ArtifactDigest, type PackOptions } from './pack.js';

/** Metadata recorded beside each artifact. */
export const artifactMetadataSchema = z.object({
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  app: z.string(),
  commit: z.string(),
  /** Compressed size in bytes. */
  size: z.number().int().nonnegative(),
  /** Declared artifact paths from the pipeline file. */
  paths: z.array(z.string()),
  createdAt: z.string(),
});

/** Metadata recorded beside each artifact. */
export type ArtifactMetadata = z.infer<typeof artifactMetadataSchema>;

/** A stored artifact, as returned by {@link ArtifactStore.publish}. */
export interface StoredArtifact {
  digest: ArtifactDigest;
  size: number;
  /** Blob path of the tar.gz inside the artifacts container. */
  blobPath: string;
  /** False when the digest already existed and nothing was uploaded. */
  uploaded: boolean;
  metadata: ArtifactMetadata;
}

/** Who produced an artifact. */
export interface ArtifactOrigin {
  app: string;
  commit: string;
  paths: readonly string[];
}

/** Blob path of an artifact's archive. */
export function artifactBlobPath(digest: ArtifactDigest): string {
  return `artifacts/sha256/${assertDigest(digest).slice('sha256:'.length)}.tar.gz`;
}

/** Blob path of an artifact's metadata record. */
export function artifactMetadataPath(digest: ArtifactDigest): string {
  return `artifacts/sha256/${assertDigest(digest).slice('sha256:'.length)}.json`;
}

/** Options of {@link ArtifactStore}. */
export interface ArtifactStoreOptions {
  /** Upload block size, bytes. Default 8 MiB. */
  blockSize?: number;
  /** Parallel block uploads. Default 4. */
  concurrency?: number;
  /** Clock for `createdAt` (tests). */
  now?: () => Date;
}

/** Stores and fetches artifacts by digest. */
export class ArtifactStore {
  /** Creates a store over `container` (normally `conveyor-artifacts`). */
  constructor(
    private readonly container: ContainerClient,
    private readonly options: ArtifactStoreOptions = {},
  ) {}

  /** True when the archive for `digest` is stored. */
  async exists(digest: ArtifactDigest): Promise<boolean> {
    try {
      return await this.container.getBlobClient(artifactBlobPath(digest)).exists();
    } catch (err) {
      throw mapStorageError(err, `artifact ${digest}`);
    }
  }

  /**
   * Uploads `file` (whose digest the caller computed) unless that digest is already stored,
   * then records metadata (first writer wins). Resolves whether bytes were uploaded.
   */
  async upload(file: string, digest: ArtifactDigest, origin: ArtifactOrigin): Promise<StoredArtifact> {
    await ensureContainer(this.container);
    const blobPath = artifactBlobPath(digest);
    const size = (await stat(file)).size;
    let uploaded = false;
    if (!(await this.exists(digest))) {
      try {
        await this.container.getBlockBlobClient(blobPath).uploadFile(file, {
          conditions: { ifNoneMatch: '*' },
          blockSize: this.options.blockSize ?? 8 * 1024 * 1024,
          concurrency: this.options.concurrency ?? 4,
          blobHTTPHeaders: { blobContentType: 'application/gzip' },
          metadata: { digest: digest.replace(':', '_') },
        });
        uploaded = true;
      } catch (err) {
        // A concurrent build of the same content won the race: same digest, same bytes.
        const status = storageStatus(err);
        if (status !== 409 && status !== 412) throw mapStorageError(err, `artifact ${digest}`);
      }
    }
    const metadata: ArtifactMetadata = {
      digest,
      app: origin.app,
      commit: origin.commit,
      size,
      paths: [...origin.paths],
      createdAt: (this.options.now?.() ?? new Date()).toISOString(),
    };
    try {
      await createJson(this.container, artifactMetadataPath(digest), metadata);
      return { digest, size, blobPath, uploaded, metadata };
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return { digest, size, blobPath, uploaded, metadata: await this.metadata(digest) };
    }
  }

  /**
   * Packs `paths` of `workspace` deterministically and uploads the result once. The temp
   * archive is removed afterwards.
   */
  async publish(workspace: string, origin: ArtifactOrigin, packOptions: PackOptions = {}): Promise<StoredArtifact & { entries: number; contentBytes: number }> {
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-pack-'));
    try {
      const packed = await packArtifact(workspace, origin.paths, join(dir, 'artifact.tar.gz'), packOptions);
      const stored = await this.upload(packed.file, packed.digest, origin);
      return { ...stored, entries: packed.entries.length, contentBytes: packed.contentBytes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The metadata of a stored artifact. Missing -> NotFoundError; unreadable -> CorruptDataError. */
  async metadata(digest: ArtifactDigest): Promise<ArtifactMetadata> {
    return (await readJson(this.container, artifactMetadataPath(digest), artifactMetadataSchema)).value;
  }

  /**
   * Downloads the archive of `digest` to `destFile`, hashing as it streams; a blob whose bytes
   * do not match its digest (tampered or truncated) is deleted locally and reported as
   * CorruptDataError. Resolves the size in bytes.
   */
  async download(digest: ArtifactDigest, destFile: string): Promise<number> {
    const blobPath = artifactBlobPath(digest);
    let res;
    try {
      res = await this.container.getBlobClient(blobPath).download();
    } catch (err) {
      const mapped = mapStorageError(err, `artifact ${digest}`);
      if (mapped instanceof NotFoundError) throw new NotFoundError(`artifact ${digest} not found`, { cause: err });
      throw mapped;
    }
    const body = res.readableStreamBody;
    if (!body) throw new CorruptDataError(`artifact ${digest} has no content`);
    const { digest: actual, size } = await writeHashed(body, destFile);
    if (actual !== digest) {
      await rm(destFile, { force: true });
      throw new CorruptDataError(`artifact ${digest} failed verification: its content hashes to ${actual}`);
    }
    return size;
  }
}
