/**
 * Reads the branch heads of a remote with ONE `git ls-remote --heads` process: no clone, no
 * fetch, nothing written. Used by the reconcile sweep, so it is built to fail fast and alone:
 * a hard deadline kills git's whole process group (a hanging server, an ssh transport waiting
 * for a host key), the output is capped, credentials go through the same environment as every
 * other git process (shared/git/git-env.ts), and every message is redacted.
 */
import { spawn } from 'node:child_process';
import { ExternalFailureError } from '../errors.js';
import { gitEnvironment, gitSecrets, resolveCredentials, type CredentialSource } from './git-env.js';
import { parseRepoUrl, redactUrl } from './repo-url.js';

/** Options of {@link listRemoteHeads}. */
export interface RemoteHeadsOptions {
  /** Credentials per repository URL (or one for all), as for the checkout cache. */
  credentials?: CredentialSource;
  /** Kill git and fail after this long. Default 20 s. */
  timeoutMs?: number;
  /** Refuse a remote whose answer is larger than this. Default 8 MiB. */
  maxOutputBytes?: number;
  /** Aborting kills git at once. */
  signal?: AbortSignal;
  /** The git executable. Default `git` from PATH. */
  gitBinary?: string;
}

const HEAD_LINE = /^([0-9a-f]{40}|[0-9a-f]{64})\trefs\/heads\/(.+)$/;

/**
 * Branch name -> commit id of every branch of `repoUrl`. Throws ExternalFailureError (redacted,
 * naming the repository) when git fails, times out or is aborted.
 */
export function listRemoteHeads(repoUrl: string, options: RemoteHeadsOptions = {}): Promise<Map<string, string>> {
  const parsed = parseRepoUrl(repoUrl);
  const creds = resolveCredentials(options.credentials, repoUrl, parsed);
  const secrets = gitSecrets(creds, repoUrl);
  const shown = redactUrl(parsed.fetchUrl);
  const timeoutMs = options.timeoutMs ?? 20_000;
  const maxBytes = options.maxOutputBytes ?? 8 * 1024 * 1024;
  const fail = (why: string) => new ExternalFailureError(`ls-remote failed for ${shown}: ${secrets.redact(why.split(parsed.fetchUrl).join(shown))}`);

  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(fail('aborted before it started'));
      return;
    }
    // `--` keeps an option-like URL out of git's options (parseRepoUrl already refuses those).
    const child = spawn(options.gitBinary ?? 'git', ['ls-remote', '--heads', '--', parsed.fetchUrl], {
      env: gitEnvironment(parsed, creds),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a deadline kills the transport helpers (ssh, remote-https) too.
      detached: true,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let settled = false;
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const finish = (error: Error | undefined, heads?: Map<string, string>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        kill();
        reject(error);
      } else resolve(heads!);
    };
    const timer = setTimeout(() => finish(fail(`no answer within ${Math.round(timeoutMs / 100) / 10} s`)), timeoutMs);
    const onAbort = () => finish(fail('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxBytes) finish(fail(`answer larger than ${maxBytes} bytes`));
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 16_384) err += chunk.toString('utf8');
    });
    child.on('error', (e) => finish(fail(e.message)));
    child.on('close', (code, signal) => {
      if (settled) return;
      if (code !== 0) {
        const lines = err.trim().split('\n');
        const diagnosis = lines.filter((l) => /^(fatal|error|remote):/.test(l));
        const text = (diagnosis.length > 0 ? diagnosis : lines).slice(0, 4).join('; ');
        finish(fail(text || (signal ? `git was killed by ${signal}` : `git exited with code ${code}`)));
        return;
      }
      const heads = new Map<string, string>();
      for (const line of Buffer.concat(out).toString('utf8').split('\n')) {
        const m = HEAD_LINE.exec(line.trim());
        if (m) heads.set(m[2]!, m[1]!);
      }
      finish(undefined, heads);
    });
  });
}
