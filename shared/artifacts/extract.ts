/**
 * Safe extraction of an artifact tar.gz.
 *
 * The whole entry list is checked BEFORE anything is written: absolute paths, `..` segments,
 * links (symbolic or hard) whose target leaves the destination, entries written through a
 * symbolic link of the same archive, device/FIFO entries, duplicates and oversize content are
 * all rejected, and then node-tar extracts with its own defences on (`strict`, no preserved
 * paths or owners) as a second line.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { posix } from 'node:path';
import * as tar from 'tar';
import { ValidationError, type ValidationIssue } from '../errors.js';

/** Options of {@link extractArtifact}. */
export interface ExtractOptions {
  /** Refuse archives whose files add up to more than this many bytes. Default 8 GiB. */
  maxBytes?: number;
  /** Refuse archives with more entries than this. Default 1,000,000. */
  maxEntries?: number;
}

/** One entry of an archive as the pre-scan sees it. */
interface ScannedEntry {
  path: string;
  type: string;
  linkpath: string | undefined;
  size: number;
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

/** Splits an archive path into segments, treating `\` as a separator too (archives from Windows). */
function segments(path: string): string[] {
  return path.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
}

function isAbsoluteLike(path: string): boolean {
  return path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path);
}

/** Reads the entry list of a tar.gz without writing anything. */
async function scan(archive: string, maxEntries: number): Promise<ScannedEntry[]> {
  const entries: ScannedEntry[] = [];
  let tooMany = false;
  await tar.list({
    file: archive,
    strict: true,
    onReadEntry: (entry) => {
      if (entries.length >= maxEntries) tooMany = true;
      else entries.push({ path: entry.path, type: entry.type, linkpath: entry.linkpath, size: entry.size ?? 0 });
      entry.resume();
    },
  });
  if (tooMany) throw new ValidationError(`archive has more than ${maxEntries} entries`, [{ path: '(archive)', message: `more than ${maxEntries} entries` }]);
  return entries;
}

/**
 * Lists every reason the archive is unsafe to extract (empty when it is safe). Exported so the
 * rules can be tested and reused (e.g. to vet an upload before storing it).
 */
export function findUnsafeEntries(entries: readonly { path: string; type: string; linkpath?: string | undefined; size?: number }[], maxBytes = Number.POSITIVE_INFINITY): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  const symlinks = new Set<string>();
  let total = 0;
  const normalised = entries.map((e) => ({ ...e, norm: segments(e.path).join('/') }));
  for (const e of normalised) if (e.type === 'SymbolicLink') symlinks.add(e.norm);

  /** True when some proper prefix of `segs` is a symbolic link of this archive. */
  const throughSymlink = (segs: string[]): boolean => {
    for (let i = 1; i < segs.length; i++) if (symlinks.has(segs.slice(0, i).join('/'))) return true;
    return false;
  };

  for (const e of normalised) {
    const bad = (message: string) => issues.push({ path: e.path, message });
    if (!e.path || e.path.includes('\0')) {
      bad('empty or NUL in path');
      continue;
    }
    if (isAbsoluteLike(e.path)) {
      bad('absolute path');
      continue;
    }
    const segs = segments(e.path);
    if (segs.includes('..')) {
      bad('path contains ".."');
      continue;
    }
    if (segs.length === 0) continue; // `./` itself: the destination folder.
    if (!ALLOWED_TYPES.has(e.type)) {
      bad(`entry type ${e.type} is not allowed`);
      continue;
    }
    if (seen.has(e.norm)) {
      bad('path appears more than once');
      continue;
    }
    seen.add(e.norm);
    if (throughSymlink(segs)) {
      bad('path goes through a symbolic link of the archive');
      continue;
    }
    if (e.type === 'SymbolicLink' || e.type === 'Link') {
      const link = e.linkpath ?? '';
      if (!link || isAbsoluteLike(link) || link.includes('\0')) {
        bad(`link target ${JSON.stringify(link)} is absolute or empty`);
        continue;
      }
      // Symbolic links resolve from their own folder; hard links from the archive root.
      const base = e.type === 'SymbolicLink' ? segs.slice(0, -1) : [];
      const resolved = [...base];
      let escapes = false;
      let viaLink = false;
      for (const s of segments(link)) {
        if (s !== '..') {
          resolved.push(s);
          continue;
        }
        if (resolved.length === 0) {
          escapes = true;
          break;
        }
        // Lexical `..` is only valid through real folders: after `x -> .`, `y -> x/..` would
        // resolve outside. Refuse a `..` that steps back out of another archive symlink.
        if (symlinks.has(resolved.join('/'))) viaLink = true;
        resolved.pop();
      }
      if (escapes) {
        bad(`link target ${JSON.stringify(link)} leaves the destination folder`);
        continue;
      }
      if (viaLink) {
        bad(`link target ${JSON.stringify(link)} goes through another symbolic link`);
        continue;
      }
      if (e.type === 'Link' && resolved.length === 0) bad('hard link to the destination folder itself');
    }
    if (e.type === 'File' || e.type === 'OldFile' || e.type === 'ContiguousFile') total += e.size ?? 0;
  }
  if (total > maxBytes) issues.push({ path: '(archive)', message: `content is ${total} bytes, more than the ${maxBytes} allowed` });
  return issues;
}

/**
 * Extracts `archive` (tar.gz) into `destDir`, which must be new or empty (so no pre-existing
 * link can redirect a write). Unsafe archives are rejected with a ValidationError listing every
 * offending entry, and nothing is written.
 */
export async function extractArtifact(archive: string, destDir: string, options: ExtractOptions = {}): Promise<{ entries: number }> {
  if (existsSync(destDir) && (await readdir(destDir)).length > 0) {
    throw new ValidationError(`extraction folder ${destDir} is not empty`, [{ path: 'destDir', message: 'must be new or empty' }]);
  }
  let entries: ScannedEntry[];
  try {
    entries = await scan(archive, options.maxEntries ?? 1_000_000);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new ValidationError(`archive cannot be read: ${(err as Error).message}`, [{ path: '(archive)', message: 'not a readable tar.gz' }], { cause: err });
  }
  const issues = findUnsafeEntries(entries, options.maxBytes ?? 8 * 1024 ** 3);
  if (issues.length > 0) {
    const shown = issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new ValidationError(`unsafe archive rejected (${issues.length} problem${issues.length > 1 ? 's' : ''}): ${shown}`, issues);
  }
  await mkdir(destDir, { recursive: true });
  await tar.extract({
    file: archive,
    cwd: destDir,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    noChmod: false,
    // Second line of defence; the pre-scan already refused everything these would catch.
    filter: (path) => !isAbsoluteLike(path) && !segments(path).includes('..'),
  });
  return { entries: entries.length };
}

/** Posix-normalised form of an archive path (exported for callers listing contents). */
export function normaliseEntryPath(path: string): string {
  return posix.normalize(segments(path).join('/'));
}
