/**
 * Matching a webhook's repository to a registered app. Providers report several URL forms
 * (HTTPS clone, web page, SSH, `git://`), and users register whichever they copied, so URLs are
 * compared in a canonical form rather than as strings.
 */
import type { PushRepository } from './webhook-provider.js';

/**
 * A comparable form of a repository URL: `host/path` without scheme, credentials, default
 * port, trailing slash or `.git`, host and path lower-cased (the hosted providers treat
 * repository paths case-insensitively). Local repositories (a path or `file://` URL) keep
 * their case, since file systems are case-sensitive. Returns undefined for text that is not a
 * repository URL.
 *
 * Examples: `https://github.com/Acme/Shop.git`, `git@github.com:acme/shop.git` and
 * `ssh://git@github.com/acme/shop` all become `github.com/acme/shop`.
 */
export function canonicalRepositoryUrl(url: string): string | undefined {
  const text = url.trim();
  if (text === '') return undefined;

  // A local path or file:// URL: keep case, drop a trailing slash and a trailing /.git.
  if (text.startsWith('/') || text.startsWith('file://')) {
    let path = text;
    if (text.startsWith('file://')) {
      try {
        path = decodeURIComponent(new URL(text).pathname);
      } catch {
        return undefined;
      }
    }
    path = path.replace(/\/+$/, '').replace(/\/\.git$/, '').replace(/\.git$/, '');
    return path === '' ? undefined : `file:${path}`;
  }

  // scp-like SSH: user@host:path (no scheme).
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(text);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return joinHostPath(scp[1]!, scp[2]!);
  }

  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return undefined;
  }
  if (!['http:', 'https:', 'ssh:', 'git:', 'git+ssh:'].includes(parsed.protocol)) return undefined;
  const defaultPorts: Record<string, string> = { 'http:': '80', 'https:': '443', 'ssh:': '22', 'git:': '9418', 'git+ssh:': '22' };
  const port = parsed.port === '' || parsed.port === defaultPorts[parsed.protocol] ? '' : `:${parsed.port}`;
  let path: string;
  try {
    path = decodeURIComponent(parsed.pathname);
  } catch {
    path = parsed.pathname;
  }
  return joinHostPath(parsed.hostname + port, path);
}

const HOST_PATTERN = /^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::\d{1,5})?$/i;
// Repository paths never hold whitespace, control characters, `?`, `#` or backslashes; text
// that does is not a repository URL (and would not survive a round trip through URL parsing).
// eslint-disable-next-line no-control-regex
const PATH_PATTERN = /^[^\s?#\\\u0000-\u001f\u007f]+$/;

function joinHostPath(host: string, path: string): string | undefined {
  const cleanPath = path
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/i, '')
    .toLowerCase();
  if (cleanPath === '' || !HOST_PATTERN.test(host) || !PATH_PATTERN.test(cleanPath)) return undefined;
  return `${host.toLowerCase()}/${cleanPath}`;
}

/** True when any URL the webhook reported denotes the same repository as `registeredUrl`. */
export function repositoryMatches(repository: Pick<PushRepository, 'urls'>, registeredUrl: string): boolean {
  const wanted = canonicalRepositoryUrl(registeredUrl);
  if (wanted === undefined) return false;
  return repository.urls.some((u) => canonicalRepositoryUrl(u) === wanted);
}

/** The canonical forms of every URL in the event, deduplicated (for indexing apps by URL). */
export function canonicalRepositoryKeys(repository: Pick<PushRepository, 'urls'>): string[] {
  const keys = new Set<string>();
  for (const u of repository.urls) {
    const key = canonicalRepositoryUrl(u);
    if (key !== undefined) keys.add(key);
  }
  return [...keys];
}

/**
 * The URL to clone from: the first HTTPS (or local) URL the provider reported, else the first
 * of any kind. Providers list the HTTPS clone URL first, so this is usually `urls[0]`.
 */
export function pickRepositoryUrl(repository: Pick<PushRepository, 'urls'>): string | undefined {
  return repository.urls.find((u) => /^(https?:\/\/|file:\/\/|\/)/.test(u)) ?? repository.urls[0];
}
