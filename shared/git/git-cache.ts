/**
 * Checks out exact commits through a per-repository cache.
 *
 * Each repository gets one bare mirror under the cache folder, keyed by a hash of its
 * normalised URL. A checkout first looks for the commit in the mirror and fetches only when it
 * is missing (so the second checkout of a repository transfers only what is new), then makes a
 * fresh workspace with `git clone --shared --no-checkout` from the mirror (objects are borrowed
 * through `alternates`, nothing is copied) and `checkout --detach <sha>`.
 *
 * Concurrency: fetches into a mirror are serialised in-process (a promise chain per mirror) and
 * across processes (a lock file via proper-lockfile), so parallel checkouts cannot corrupt it.
 * Readers need no lock: git objects are immutable and refs are updated atomically.
 *
 * Credentials for https remotes come from settings and are handed to git through environment
 * config (`GIT_CONFIG_COUNT`/`KEY`/`VALUE`, an `http.<url>.extraHeader`), never in a URL; every
 * message that leaves this module is redacted.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { simpleGit, type SimpleGit } from 'simple-git';
import { ConveyorError, ExternalFailureError, NotFoundError, ValidationError } from '../errors.js';
import type { SecretRegistry } from '../secrets/redactor.js';
import { GIT_ENV_NAMES, gitEnvironment, gitSecrets, resolveCredentials, type CredentialSource, type HttpCredentials } from './git-env.js';

export type { HttpCredentials } from './git-env.js';
import { parseRepoUrl, redactUrl, repoCacheKey, type ParsedRepoUrl } from './repo-url.js';

/** Options of {@link GitCache}. */
export interface GitCacheOptions {
  /** Folder holding the bare mirrors (created if missing). */
  cacheDir: string;
  /** Credentials per repository URL (or one for all), resolved from settings by the caller. */
  credentials?: CredentialSource;
  /** Abort a git command that prints nothing for this long. Default 10 minutes. */
  idleTimeoutMs?: number;
  /** How long to wait for another process's lock on a mirror. Default 10 minutes. */
  lockTimeoutMs?: number;
}

/** Result of {@link GitCache.checkout}. */
export interface CheckoutResult {
  /** Full commit id that was checked out. */
  commit: string;
  /** The workspace folder. */
  dir: string;
  /** Whether the mirror had to fetch (false: the cache already had the commit). */
  fetched: boolean;
}

const COMMIT_PATTERN = /^[0-9a-f]{7,64}$/i;

function assertCommit(sha: string): void {
  // Also keeps option-like values (`--upload-pack=...`) away from git's argument list.
  if (!COMMIT_PATTERN.test(sha)) {
    throw new ValidationError(`not a commit id: ${JSON.stringify(sha.slice(0, 80))}`, [{ path: 'commit', message: 'must be 7-64 hexadecimal characters' }]);
  }
}

function assertRepoPath(path: string): void {
  if (!path || path.startsWith('/') || path.split('/').includes('..') || path.includes('\0')) {
    throw new ValidationError(`not a repository-relative path: ${JSON.stringify(path.slice(0, 200))}`, [{ path: 'path', message: 'must be relative to the repository root, without ".."' }]);
  }
}

/** A cache of bare mirrors and the checkouts made from them. */
export class GitCache {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly idleTimeoutMs: number;
  private readonly lockTimeoutMs: number;

  /** Creates a cache rooted at `options.cacheDir`. */
  constructor(private readonly options: GitCacheOptions) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 10 * 60_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10 * 60_000;
  }

  /** Folder of the bare mirror for `repoUrl`. */
  mirrorPath(repoUrl: string): string {
    return join(this.options.cacheDir, `${repoCacheKey(repoUrl)}.git`);
  }

  private credentialsFor(repoUrl: string, parsed: ParsedRepoUrl): HttpCredentials | undefined {
    return resolveCredentials(this.options.credentials, repoUrl, parsed);
  }

  /** Values that must never appear in anything this module reports. */
  private secretsFor(creds: HttpCredentials | undefined, repoUrl: string): SecretRegistry {
    return gitSecrets(creds, repoUrl);
  }

  /** A simple-git instance whose environment carries the auth header for this remote only. */
  private git(baseDir: string | undefined, parsed: ParsedRepoUrl, creds: HttpCredentials | undefined): SimpleGit {
    const env = gitEnvironment(parsed, creds);
    const git = simpleGit({
      baseDir,
      maxConcurrentProcesses: 8,
      timeout: { block: this.idleTimeoutMs },
      // Exactly the variables set above; simple-git strips any other ambient GIT_* variable.
      allowEnvironment: [...GIT_ENV_NAMES],
      unsafe: { allowUnsafeConfigEnvCount: true },
    });
    return git.env(env);
  }

  /** Runs `fn`, turning any failure into a redacted Conveyor error. */
  private async guarded<T>(what: string, secrets: SecretRegistry, repoUrl: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ConveyorError) throw err;
      const raw = err instanceof Error ? err.message : String(err);
      const lines = secrets.redact(raw.split(repoUrl).join(redactUrl(repoUrl))).trim().split('\n');
      // git's own diagnosis is on its `fatal:`/`error:` lines; progress chatter is noise.
      const diagnosis = lines.filter((l) => /^(fatal|error|remote):/.test(l));
      const clean = (diagnosis.length > 0 ? diagnosis : lines).slice(0, 4).join('; ');
      // No `cause`: the raw error may quote the command line or environment.
      throw new ExternalFailureError(`${what} failed for ${redactUrl(repoUrl)}: ${clean}`);
    }
  }

  /** Serialises work on one mirror within this process. */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.chains.set(key, settled);
    void settled.then(() => {
      if (this.chains.get(key) === settled) this.chains.delete(key);
    });
    return next;
  }

  private async hasCommit(git: SimpleGit, sha: string): Promise<string | undefined> {
    try {
      // No `--quiet`: simple-git adds a 50 ms grace wait to commands that print nothing, so the
      // hot path uses commands that always print (the id on success, "fatal: ..." on a miss).
      const full = (await git.raw(['rev-parse', '--verify', `${sha}^{commit}`])).trim();
      return /^[0-9a-f]{40,64}$/.test(full) ? full : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A mirror is only ever published by an atomic rename of a complete `git init --bare`, so a
   * file-system check is enough (and saves spawning git on every checkout).
   */
  private isMirror(path: string): boolean {
    return existsSync(join(path, 'HEAD')) && existsSync(join(path, 'objects')) && existsSync(join(path, 'config'));
  }

  /**
   * Creates the bare mirror atomically: `git clone --bare` into a temp folder (a first clone is
   * as cheap as git gets: no connectivity walk over the whole history, unlike a fetch into an
   * empty repository), configure it, then rename it into place.
   */
  private async createMirror(mirror: string, parsed: ParsedRepoUrl, creds: HttpCredentials | undefined): Promise<void> {
    if (existsSync(mirror)) await rm(mirror, { recursive: true, force: true });
    const tmp = `${mirror}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await this.git(this.options.cacheDir, parsed, creds).raw(['clone', '--bare', parsed.fetchUrl, tmp]);
      const git = this.git(tmp, parsed, creds);
      await git.raw(['config', 'remote.origin.url', parsed.fetchUrl]);
      await git.raw(['config', '--replace-all', 'remote.origin.fetch', '+refs/heads/*:refs/heads/*']);
      await git.raw(['config', '--add', 'remote.origin.fetch', '+refs/tags/*:refs/tags/*']);
      // Workspaces borrow objects through alternates: never prune anything they might still use.
      await git.raw(['config', 'gc.pruneExpire', 'never']);
      await git.raw(['config', 'core.logAllRefUpdates', 'false']);
      // Still durable, but one flush per fetch instead of one per object (git >= 2.37; older ignore it).
      await git.raw(['config', 'core.fsyncMethod', 'batch']);
      // Keep every fetched pack as a pack: below the default unpack limit (100 objects) git
      // explodes a fetch into loose objects one by one, commit first, so a lock-free reader
      // (the fast path of ensureCommit) could see a commit whose tree and files are not
      // written yet. A pack becomes visible all at once, when its index is in place.
      await git.raw(['config', 'fetch.unpackLimit', '1']);
      await rename(tmp, mirror);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Makes sure the mirror of `repoUrl` contains `sha`, fetching only if it does not.
   * Resolves the full commit id and whether a fetch happened.
   */
  async ensureCommit(repoUrl: string, sha: string): Promise<{ commit: string; fetched: boolean; mirror: string }> {
    assertCommit(sha);
    const parsed = parseRepoUrl(repoUrl);
    const creds = this.credentialsFor(repoUrl, parsed);
    const secrets = this.secretsFor(creds, repoUrl);
    const mirror = this.mirrorPath(repoUrl);
    const shown = redactUrl(parsed.fetchUrl);

    // Fast path without any lock: the commit is already there.
    if (this.isMirror(mirror)) {
      const found = await this.hasCommit(this.git(mirror, parsed, creds), sha);
      if (found) return { commit: found, fetched: false, mirror };
    }

    return this.serial(mirror, () =>
      this.guarded('fetch', secrets, repoUrl, async () => {
        await mkdir(this.options.cacheDir, { recursive: true });
        const release = await lockfile.lock(mirror, {
          realpath: false,
          lockfilePath: `${mirror}.lock`,
          stale: 30_000,
          update: 5_000,
          retries: { retries: Math.ceil(this.lockTimeoutMs / 200), minTimeout: 50, maxTimeout: 200, factor: 1.3 },
          // proper-lockfile's default throws from a timer (crashing the host) when another process
          // declared our lock stale. The worst case is then two fetches into one mirror, which git
          // itself tolerates (its ref and pack writes take their own locks), so carry on.
          onCompromised: () => undefined,
        });
        try {
          // Another process may have fetched while we waited for the lock.
          let fetched = false;
          if (!this.isMirror(mirror)) {
            await this.removeLeftovers(mirror);
            await this.createMirror(mirror, parsed, creds);
            fetched = true;
          }
          const git = this.git(mirror, parsed, creds);
          const already = await this.hasCommit(git, sha);
          if (already) return { commit: already, fetched, mirror };
          await git.raw(['fetch', '--prune', '--no-write-fetch-head', 'origin']);
          let found = await this.hasCommit(git, sha);
          if (!found && sha.length === 40) {
            // Not on any branch or tag (e.g. a PR head): ask for the object itself. Servers may
            // refuse (uploadpack.allowReachableSHA1InWant); then it really is not available.
            await git.raw(['fetch', '--quiet', '--no-write-fetch-head', 'origin', sha]).catch(() => undefined);
            found = await this.hasCommit(git, sha);
          }
          if (!found) throw new NotFoundError(`commit ${sha} not found in ${shown}`);
          return { commit: found, fetched: true, mirror };
        } finally {
          await release().catch(() => undefined);
        }
      }),
    );
  }

  /** Removes half-created mirrors left by a crashed process (we hold the lock). */
  private async removeLeftovers(mirror: string): Promise<void> {
    const dir = this.options.cacheDir;
    const base = `${mirror.slice(dir.length + 1)}.tmp-`;
    for (const name of await readdir(dir)) {
      if (name.startsWith(base)) await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  /**
   * Checks out `sha` of `repoUrl` into `dest` (which must not exist or be empty), as a detached
   * HEAD. Fetches into the cache only if the commit is missing there.
   */
  async checkout(repoUrl: string, sha: string, dest: string): Promise<CheckoutResult> {
    const { commit, fetched, mirror } = await this.ensureCommit(repoUrl, sha);
    const parsed = parseRepoUrl(repoUrl);
    const creds = this.credentialsFor(repoUrl, parsed);
    const secrets = this.secretsFor(creds, repoUrl);
    if (existsSync(dest) && (await readdir(dest)).length > 0) {
      throw new ValidationError(`workspace ${dest} is not empty`, [{ path: 'dest', message: 'must be a new or empty folder' }]);
    }
    await this.guarded('checkout', secrets, repoUrl, async () => {
      // `origin` of the workspace is the local mirror: a build that runs `git fetch` or
      // `git describe --tags` works offline and never needs (or sees) the remote's credentials.
      // Not `--quiet`, for the same simple-git reason as in hasCommit: these print one line each.
      await this.git(undefined, parsed, undefined).raw(['clone', '--shared', '--no-checkout', mirror, dest]);
      await this.git(dest, parsed, undefined).raw(['-c', 'advice.detachedHead=false', 'checkout', '--detach', commit]);
    });
    return { commit, dir: dest, fetched };
  }

  /**
   * Reads one file of a commit straight from the mirror (no workspace), e.g. the pipeline file.
   * Missing file -> NotFoundError; larger than `maxBytes` (default 1 MiB) -> ValidationError.
   */
  async readFileAtCommit(repoUrl: string, sha: string, path: string, maxBytes = 1024 * 1024): Promise<string> {
    assertRepoPath(path);
    const { commit, mirror } = await this.ensureCommit(repoUrl, sha);
    const parsed = parseRepoUrl(repoUrl);
    const creds = this.credentialsFor(repoUrl, parsed);
    const git = this.git(mirror, parsed, creds);
    const spec = `${commit}:${path}`;
    // One `ls-tree -l` gives type and size (`<mode> blob <sha> <size>\t<path>`): each git
    // process costs milliseconds of event-loop time under load.
    const listing = await git.raw(['ls-tree', '-l', '--full-tree', commit, '--', path]).catch(() => '');
    const m = /^\d+ (\w+) [0-9a-f]+ +(\d+|-)\t/.exec(listing);
    if (!m || m[1] !== 'blob') throw new NotFoundError(`file ${path} not found at commit ${commit.slice(0, 12)} of ${redactUrl(parsed.fetchUrl)}`);
    const size = Number(m[2]);
    if (size > maxBytes) {
      throw new ValidationError(`file ${path} is ${size} bytes, more than ${maxBytes}`, [{ path, message: `larger than ${maxBytes} bytes` }]);
    }
    return this.guarded('read', this.secretsFor(creds, repoUrl), repoUrl, () => git.raw(['cat-file', 'blob', spec]));
  }

  /**
   * Every file under `folder` at the commit whose name matches `include` (recursively, sorted by
   * path), as text with its path relative to `folder`. Reads from the mirror (no workspace); at
   * most `maxBytes` in all. A folder that does not exist is a NotFoundError.
   */
  async readFolderAtCommit(repoUrl: string, sha: string, folder: string, include: RegExp, maxBytes = 1024 * 1024): Promise<Array<{ file: string; text: string }>> {
    const root = folder.replace(/^\.\//, '').replace(/\/+$/, '');
    if (root !== '' && root !== '.') assertRepoPath(root);
    const { commit, mirror } = await this.ensureCommit(repoUrl, sha);
    const parsed = parseRepoUrl(repoUrl);
    const creds = this.credentialsFor(repoUrl, parsed);
    const git = this.git(mirror, parsed, creds);
    const prefix = root === '' || root === '.' ? '' : `${root}/`;
    // `-z`: paths verbatim (no quoting of unusual characters); `-l`: sizes, checked before reading.
    const listing = await git.raw(['ls-tree', '-r', '-l', '-z', '--full-tree', commit, '--', ...(prefix ? [prefix] : [])]).catch(() => '');
    const files: Array<{ path: string; size: number }> = [];
    for (const entry of listing.split('\0')) {
      const m = /^\d+ blob [0-9a-f]+ +(\d+)\t(.+)$/s.exec(entry);
      if (m && m[2]!.startsWith(prefix) && include.test(m[2]!)) files.push({ path: m[2]!, size: Number(m[1]) });
    }
    if (files.length === 0 && !listing.includes(`\t${prefix}`)) throw new NotFoundError(`folder ${root} not found at commit ${commit.slice(0, 12)} of ${redactUrl(parsed.fetchUrl)}`);
    const total = files.reduce((n, f) => n + f.size, 0);
    if (total > maxBytes) throw new ValidationError(`the files in ${root} are ${total} bytes, more than ${maxBytes}`, [{ path: root, message: `larger than ${maxBytes} bytes` }]);
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const out: Array<{ file: string; text: string }> = [];
    for (const f of files) {
      const text = await this.guarded('read', this.secretsFor(creds, repoUrl), repoUrl, () => git.raw(['cat-file', 'blob', `${commit}:${f.path}`]));
      out.push({ file: f.path.slice(prefix.length), text });
    }
    return out;
  }

  /**
   * The tree of the commit (or of `folder` in it) as a gzipped tar, made by `git archive` from
   * the mirror: the build context an image build uploads.
   */
  async archiveAtCommit(repoUrl: string, sha: string, folder = '.'): Promise<Buffer> {
    const root = folder.replace(/^\.\//, '').replace(/\/+$/, '');
    if (root !== '' && root !== '.') assertRepoPath(root);
    const { commit, mirror } = await this.ensureCommit(repoUrl, sha);
    const parsed = parseRepoUrl(repoUrl);
    const creds = this.credentialsFor(repoUrl, parsed);
    const tree = root === '' || root === '.' ? commit : `${commit}:${root}`;
    return this.guarded('archive', this.secretsFor(creds, repoUrl), repoUrl, async () => {
      // simple-git hands output back as text; an archive is bytes.
      return new Promise<Buffer>((resolve, reject) => {
        execFile('git', ['archive', '--format=tar.gz', tree], { cwd: mirror, encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, env: gitEnvironment(parsed, creds) }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message}\n${stderr.toString('utf8')}`));
          else resolve(stdout);
        });
      });
    });
  }

  /** Deletes a workspace made by {@link checkout}. */
  async removeWorkspace(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }
}
