/**
 * Deterministic packaging of a workspace's declared paths into a tar.gz (node-tar).
 *
 * The same tree must always give the same bytes, hence the same sha256 digest, so "build once,
 * promote many" can name artifacts by content: entries are listed in sorted order, owner
 * fields are dropped (`portable`), every mtime is fixed, modes are normalised to 0644/0755,
 * hard links are stored as plain files, and the gzip header carries no time or OS.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isAbsolute, join, posix, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { ValidationError, type ValidationIssue } from '../errors.js';

/** A content digest: `sha256:<64 lowercase hex>`. */
export type ArtifactDigest = `sha256:${string}`;

const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** True when `value` is a well-formed artifact digest. */
export function isDigest(value: string): value is ArtifactDigest {
  return DIGEST_PATTERN.test(value);
}

/** Validates a digest string (it ends up in blob paths). */
export function assertDigest(value: string): ArtifactDigest {
  if (!isDigest(value)) throw new ValidationError(`not an artifact digest: ${JSON.stringify(value.slice(0, 80))}`, [{ path: 'digest', message: 'must be sha256:<64 hex>' }]);
  return value;
}

/** What {@link packArtifact} produced. */
export interface PackResult {
  /** The tar.gz written. */
  file: string;
  digest: ArtifactDigest;
  /** Compressed size in bytes. */
  size: number;
  /** Entries in archive order (workspace-relative, `/`-separated; folders end without `/`). */
  entries: string[];
  /** Total bytes of regular files before compression. */
  contentBytes: number;
}

/** Options of {@link packArtifact}. */
export interface PackOptions {
  /** gzip level 0-9. Default 6 (zlib's default: a good size/speed balance). */
  level?: number;
}

/** Every entry gets this mtime: the same tree must give the same bytes on every machine. */
const FIXED_MTIME = new Date('2000-01-01T00:00:00Z');

/** A link cache that never remembers: hard links become independent file entries (reproducible across file systems). */
class NoLinkCache extends Map<`${number}:${number}`, string> {
  override get(): string | undefined {
    return undefined;
  }
}

function checkDeclared(path: string): string | undefined {
  const p = path.replace(/\\/g, '/').replace(/\/+$/, '');
  if (!p || p === '.') return 'must name a file or folder inside the workspace';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'must be relative to the workspace';
  if (p.split('/').includes('..')) return 'must not contain ".." segments';
  return undefined;
}

/**
 * Packs `paths` (files or folders, relative to `workspace`) into `destFile` as a deterministic
 * tar.gz and returns its sha256 digest. Missing paths and symbolic links pointing outside the
 * workspace are rejected with a ValidationError naming them.
 */
export async function packArtifact(workspace: string, paths: readonly string[], destFile: string, options: PackOptions = {}): Promise<PackResult> {
  const root = await realpath(workspace);
  const issues: ValidationIssue[] = [];
  const entries = new Set<string>();
  let contentBytes = 0;

  const visit = async (rel: string): Promise<void> => {
    const abs = join(root, rel);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) {
      const target = await readlink(abs);
      const resolved = resolve(join(root, posix.dirname(rel)), target);
      if (isAbsolute(target) || (resolved !== root && !resolved.startsWith(root + sep))) {
        issues.push({ path: rel, message: `symbolic link points outside the workspace (${target})` });
        return;
      }
      entries.add(rel);
      return;
    }
    if (st.isDirectory()) {
      entries.add(rel);
      for (const name of (await readdir(abs)).sort()) await visit(`${rel}/${name}`);
      return;
    }
    if (st.isFile()) {
      entries.add(rel);
      contentBytes += st.size;
      return;
    }
    issues.push({ path: rel, message: 'is not a regular file, folder or symbolic link' });
  };

  for (const declared of paths) {
    const problem = checkDeclared(declared);
    if (problem) {
      issues.push({ path: declared, message: problem });
      continue;
    }
    const rel = declared.replace(/\\/g, '/').replace(/\/+$/, '').replace(/^\.\//, '');
    try {
      await lstat(join(root, rel));
    } catch {
      issues.push({ path: declared, message: 'not found in the workspace' });
      continue;
    }
    await visit(rel);
  }
  if (issues.length > 0) {
    throw new ValidationError(`cannot package the artifact: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues);
  }
  // Byte-wise order: independent of readdir order and of the order paths were declared in.
  const list = [...entries].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (list.length === 0) throw new ValidationError('cannot package an empty artifact', [{ path: 'artifact', message: 'no files to package' }]);

  const pack = tar.create(
    {
      cwd: root,
      gzip: { level: options.level ?? 6 },
      portable: true,
      noDirRecurse: true,
      follow: false,
      mtime: FIXED_MTIME,
      linkCache: new NoLinkCache(),
      onWriteEntry: (entry) => {
        // Only "executable or not" survives; umask and owner bits of the build machine do not.
        const st = entry.stat;
        if (st) {
          const isDir = st.isDirectory();
          const exec = isDir || (st.mode & 0o111) !== 0;
          st.mode = (st.mode & ~0o7777) | (exec ? 0o755 : 0o644);
        }
      },
    },
    list,
  );
  const { digest, size } = await writeHashed(pack as unknown as Readable, destFile);
  return { file: destFile, digest, size, entries: list, contentBytes };
}

/** Streams `source` into `destFile`, hashing the bytes on the way: resolves their sha256 digest and size. */
export async function writeHashed(source: NodeJS.ReadableStream | Readable, destFile: string): Promise<{ digest: ArtifactDigest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(source, tap, createWriteStream(destFile));
  return { digest: `sha256:${hash.digest('hex')}` as ArtifactDigest, size };
}

/** sha256 digest of a file's bytes. */
export async function digestFile(file: string): Promise<ArtifactDigest> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}
