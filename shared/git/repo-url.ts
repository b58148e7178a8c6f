/**
 * Repository URL handling: one canonical identity per repository (so webhooks, the app
 * registry and the checkout cache agree that `git@github.com:Org/Repo.git` and
 * `https://GitHub.com/Org/Repo/` are the same thing), and credential-free display forms.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../errors.js';

/** A repository URL split into a credential-free fetch URL and any credentials it carried. */
export interface ParsedRepoUrl {
  /** URL git fetches from, without userinfo. */
  fetchUrl: string;
  /** Canonical identity, e.g. `github.com/org/repo` or `file:///srv/git/repo`. */
  key: string;
  /** `https`, `http`, `ssh` or `file`. */
  protocol: 'https' | 'http' | 'ssh' | 'file';
  /** Credentials that were embedded in the URL (moved out so they never reach logs). */
  username?: string;
  password?: string;
}

// `user@host:path` (scp-like). Strict character sets keep git's `transport::address` helper
// syntax (e.g. `ext::sh -c ...`) and option-like values out.
const SCP_LIKE = /^(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9.-]+):(?![/:])([A-Za-z0-9._~/-]+)$/;

function trimPath(path: string): string {
  let p = path.replace(/\/+$/, '');
  if (p.toLowerCase().endsWith('.git')) p = p.slice(0, -4);
  return p.replace(/\/+$/, '');
}

/**
 * Parses a repository URL in any of the usual forms: `https://host/owner/repo(.git)`,
 * `git@host:owner/repo(.git)`, `ssh://git@host[:port]/owner/repo`, `file:///path` or an
 * absolute local path. Throws ValidationError for anything else.
 */
export function parseRepoUrl(input: string): ParsedRepoUrl {
  const raw = input.trim();
  if (raw.startsWith('/')) return parseRepoUrl(`file://${raw}`);
  const scp = !raw.includes('://') ? SCP_LIKE.exec(raw) : null;
  if (!raw.includes('://') && !scp) {
    throw new ValidationError('not a repository URL', [{ path: 'repoUrl', message: 'must be an https://, ssh://, git@host:path or file:// URL' }]);
  }
  if (scp) {
    const host = scp[2]!.toLowerCase();
    const path = trimPath(scp[3]!.replace(/^\/+/, ''));
    return { fetchUrl: raw, key: `${host}/${path}`, protocol: 'ssh' };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError(`not a repository URL: ${redactUrl(raw)}`, [{ path: 'repoUrl', message: 'must be an https://, ssh://, git@host:path or file:// URL' }]);
  }
  const protocol = url.protocol.replace(/:$/, '');
  if (protocol !== 'https' && protocol !== 'http' && protocol !== 'ssh' && protocol !== 'file') {
    throw new ValidationError(`unsupported repository URL scheme ${protocol}:`, [{ path: 'repoUrl', message: 'must use https, ssh or file' }]);
  }
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  if (protocol === 'file') {
    const path = trimPath(decodeURIComponent(url.pathname)) || '/';
    return { fetchUrl: `file://${url.pathname}`, key: `file://${path}`, protocol };
  }
  const clean = new URL(url.href);
  clean.username = '';
  clean.password = '';
  clean.hash = '';
  clean.search = '';
  // ssh keeps its user (git@): it is an account name, not a secret.
  if (protocol === 'ssh' && username) clean.username = url.username;
  const host = url.hostname.toLowerCase();
  const port = url.port && !(protocol === 'https' && url.port === '443') ? `:${url.port}` : '';
  const path = trimPath(decodeURIComponent(url.pathname).replace(/^\/+/, ''));
  const out: ParsedRepoUrl = { fetchUrl: clean.href, key: `${host}${port}/${path}`, protocol };
  if (protocol !== 'ssh') {
    if (username !== undefined) out.username = username;
    if (password !== undefined) out.password = password;
  }
  return out;
}

/**
 * Canonical identity of a repository: scheme, credentials, `.git` and trailing `/` dropped, scp
 * and https forms equal. Remote URLs compare case-insensitively (GitHub, GitLab and Azure DevOps
 * treat owner and repository names that way, and webhook payloads may spell them differently
 * from the registration); local paths keep their case, since file systems are case-sensitive.
 */
export function normaliseRepoUrl(url: string): string {
  const { key, protocol } = parseRepoUrl(url);
  return protocol === 'file' ? key : key.replace(/^([^/]+)/, (h) => h.replace(/:22$/, '')).toLowerCase();
}

/** True when two URLs name the same repository. */
export function sameRepository(a: string, b: string): boolean {
  try {
    return normaliseRepoUrl(a) === normaliseRepoUrl(b);
  } catch {
    return false;
  }
}

/** A short, filesystem-safe hash of the canonical identity (cache folder names). */
export function repoCacheKey(url: string): string {
  return createHash('sha256').update(normaliseRepoUrl(url)).digest('hex').slice(0, 24);
}

/** The URL with any userinfo password (or token-as-username) replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]+)@/i, (_m, scheme: string, info: string) => {
    // `git@` in ssh URLs is a plain account name; anything else before @ in http(s) may be a token.
    return /^ssh:/i.test(scheme) && !info.includes(':') ? `${scheme}${info}@` : `${scheme}***@`;
  });
}
