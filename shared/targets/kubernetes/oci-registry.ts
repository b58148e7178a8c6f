/**
 * Does the registry hold `image@sha256:…`? Asked before anything is applied, so a digest a
 * build step reported but never pushed (or pushed elsewhere) fails the deployment before any
 * environment changes, instead of pods stuck in ImagePullBackOff.
 *
 * The OCI distribution API: `HEAD /v2/<name>/manifests/<digest>` (200: present, 404: missing),
 * with the registry's authentication as the distribution token specification describes it:
 * a 401 carrying `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by asking the
 * realm for a token (anonymously, or with the configured credential as HTTP Basic) and repeating
 * the request with it; `WWW-Authenticate: Basic` is answered with the configured credential.
 * Azure Container Registry without a configured credential: Conveyor's Entra ID token is exchanged
 * for an ACR refresh token (`POST /oauth2/exchange`), which buys the access token at the realm
 * (`grant_type=refresh_token`).
 *
 * A registry that cannot be asked (unreachable, refusing the credential, failing) leaves the
 * digest unverified: the check is on wherever the registry answers, and never blocks a
 * deployment it cannot decide.
 */
import type { TokenCredential } from '@azure/core-auth';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';

/** What the registry said about an image digest. */
export type ImageCheck =
  | { state: 'present' }
  | { state: 'missing'; detail: string }
  /** The registry could not be asked; the deployment goes on, with this reason recorded. */
  | { state: 'unverified'; reason: string };

/** A username and password (or token) for one registry. */
export interface RegistryCredential {
  username: string;
  password: string;
}

/** Collaborators of {@link OciRegistry}. */
export interface OciRegistryOptions {
  /** Credentials by registry host (`myregistry.example:5000`), e.g. from a Docker config. */
  credentials?: ReadonlyMap<string, RegistryCredential>;
  /** Conveyor's identity, for ACR hosts without a configured credential; `scope` is its token scope. */
  azure?: { credential: TokenCredential; scope: string };
  /** Which hosts are Azure Container Registries (default: `*.azurecr.io` and the sovereign clouds' `*.azurecr.*`). */
  isAzureRegistry?: (host: string) => boolean;
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

/**
 * The Entra ID scope for registry sign-in: ACR's own audience, which every registry accepts (ARM's
 * audience is refused by registries that turned authentication-as-arm off, as Azure Policy advises).
 */
export const ACR_SCOPE = 'https://containerregistry.azure.net/.default';

/** Manifest media types asked for (an index or a single-platform manifest, OCI or Docker). */
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const DOCKER_HUB = 'registry-1.docker.io';

/** Splits `host[:port]/path` into registry host and repository (Docker Hub rules for bare names). */
export function parseImageName(image: string): { host: string; repository: string } {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return { host: first === 'docker.io' || first === 'index.docker.io' ? DOCKER_HUB : first, repository: image.slice(slash + 1) };
  }
  return { host: DOCKER_HUB, repository: slash < 0 ? `library/${image}` : image };
}

/** Loopback registries speak plain http, as Docker's default insecure registries (127.0.0.0/8) do. */
function baseUrl(host: string): string {
  const name = host.replace(/:\d+$/, '');
  const loopback = name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]';
  return `${loopback ? 'http' : 'https'}://${host}`;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** A client for the one question Conveyor asks registries. */
export class OciRegistry {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly refreshTokens = new Map<string, CachedToken>();
  /** `host/repository` → the token cache key its last challenge named. */
  private readonly repoKeys = new Map<string, string>();
  /** Digests found present (a pushed digest names immutable content). */
  private readonly present = new Set<string>();
  private readonly timeoutMs: number;
  private readonly isAzure: (host: string) => boolean;

  constructor(private readonly options: OciRegistryOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.isAzure = options.isAzureRegistry ?? ((host) => /\.azurecr\.[a-z.]+$/i.test(host.replace(/:\d+$/, '')));
  }

  /** Asks the registry of `image` (a name without tag or digest) whether it holds `digest`. */
  async check(image: string, digest: string): Promise<ImageCheck> {
    const key = `${image}@${digest}`;
    if (this.present.has(key)) return { state: 'present' };
    const { host, repository } = parseImageName(image);
    const url = `${baseUrl(host)}/v2/${repository}/manifests/${digest}`;
    try {
      // A token still valid for this repository goes on the first request (no 401 round trip).
      const known = this.tokens.get(this.repoKeys.get(`${host}/${repository}`) ?? '');
      let res = await this.head(url, known && known.expiresAt > Date.now() ? `Bearer ${known.token}` : undefined);
      if (res.status === 401) {
        if (known) this.tokens.delete(this.repoKeys.get(`${host}/${repository}`) ?? '');
        const auth = await this.authorization(host, repository, parseChallenge(res.headers.get('www-authenticate')));
        if (typeof auth !== 'string') return auth;
        res = await this.head(url, auth);
      }
      if (res.status === 200) {
        if (this.present.size > 1000) this.present.clear();
        this.present.add(key);
        return { state: 'present' };
      }
      if (res.status === 404) return { state: 'missing', detail: `HEAD ${url} answered 404${await errorCode(res)}` };
      if (res.status === 401 || res.status === 403) return { state: 'unverified', reason: `registry ${host} refused ${this.credentialName(host)} (${res.status})` };
      return { state: 'unverified', reason: `registry ${host} answered ${res.status}` };
    } catch (err) {
      return { state: 'unverified', reason: `registry ${host} is not reachable (${describe(err)})` };
    }
  }

  private credentialName(host: string): string {
    if (this.options.credentials?.has(host)) return 'the configured credential';
    if (this.isAzure(host) && this.options.azure) return "Conveyor's identity";
    return 'anonymous access';
  }

  private head(url: string, authorization?: string): Promise<Response> {
    return fetch(url, { method: 'HEAD', headers: { accept: ACCEPT, ...(authorization ? { authorization } : {}) }, signal: AbortSignal.timeout(this.timeoutMs) });
  }

  /** The Authorization header answering `challenge`, or why there is none. */
  private async authorization(host: string, repository: string, challenge: ReturnType<typeof parseChallenge>): Promise<string | ImageCheck> {
    const credential = this.options.credentials?.get(host);
    if (challenge?.scheme === 'basic') {
      if (!credential) return { state: 'unverified', reason: `registry ${host} asks for a password and none is configured (CONVEYOR_REGISTRY_AUTH)` };
      return basic(credential);
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params['realm']) return { state: 'unverified', reason: `registry ${host} answered 401 without a Bearer or Basic challenge` };
    const realm = challenge.params['realm'];
    const service = challenge.params['service'] ?? host;
    const scope = challenge.params['scope'] ?? `repository:${repository}:pull`;
    const cacheKey = `${realm}\u0000${service}\u0000${scope}`;
    const cached = this.tokens.get(cacheKey);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    let res: Response;
    if (!credential && this.isAzure(host) && this.options.azure) {
      const refresh = await this.acrRefreshToken(host, service);
      if (typeof refresh !== 'string') return refresh;
      res = await fetch(realm, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', service, scope, refresh_token: refresh }), signal: AbortSignal.timeout(this.timeoutMs) });
    } else {
      const u = new URL(realm);
      u.searchParams.set('service', service);
      u.searchParams.set('scope', scope);
      res = await fetch(u, { headers: credential ? { authorization: basic(credential) } : {}, signal: AbortSignal.timeout(this.timeoutMs) });
    }
    if (!res.ok) {
      await res.body?.cancel();
      return { state: 'unverified', reason: `the token service of registry ${host} refused ${this.credentialName(host)} (${res.status})` };
    }
    const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) return { state: 'unverified', reason: `the token service of registry ${host} returned no token` };
    // The spec's default lifetime is 60 s; renew a little early.
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(cacheKey, { token, expiresAt: Date.now() + Math.max(0, lifetime - 10) * 1000 });
    this.repoKeys.set(`${host}/${repository}`, cacheKey);
    return `Bearer ${token}`;
  }

  /** Exchanges Conveyor's Entra ID token for an ACR refresh token. */
  private async acrRefreshToken(host: string, service: string): Promise<string | ImageCheck> {
    const cached = this.refreshTokens.get(host);
    if (cached && cached.expiresAt > Date.now()) return cached.token;
    const azure = this.options.azure!;
    const aad = await azure.credential.getToken(azure.scope).catch((err: unknown) => {
      // No identity here (a laptop without Azure sign-in): the registry cannot be asked as Conveyor.
      return { failed: err instanceof Error ? err.message.split('\n')[0] ?? err.name : String(err) };
    });
    if (!aad || 'failed' in aad) return { state: 'unverified', reason: `no Entra ID token for registry ${host}${aad ? ` (${aad.failed})` : ''}` };
    const res = await fetch(`${baseUrl(host)}/oauth2/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'access_token', service, access_token: aad.token }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) await res.body?.cancel();
    if (!res.ok) return { state: 'unverified', reason: `registry ${host} refused to exchange Conveyor's Entra ID token (${res.status}); grant the identity AcrPull on it` };
    const body = (await res.json().catch(() => ({}))) as { refresh_token?: unknown };
    if (typeof body.refresh_token !== 'string' || !body.refresh_token) return { state: 'unverified', reason: `registry ${host} returned no refresh token` };
    // Used no longer than the Entra ID token it came from.
    this.refreshTokens.set(host, { token: body.refresh_token, expiresAt: Math.min(aad.expiresOnTimestamp, Date.now() + 60 * 60_000) - 60_000 });
    return body.refresh_token;
  }
}

function basic(c: RegistryCredential): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/** ` (MANIFEST_UNKNOWN)` from a distribution error body, when a GET-style body came with it. */
async function errorCode(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  const code = /"code"\s*:\s*"([A-Z_]+)"/.exec(text)?.[1];
  return code ? ` (${code})` : '';
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'timed out';
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

const dockerConfig = z.object({
  auths: z.record(
    z.string().min(1),
    z.union([
      z.object({ username: z.string(), password: z.string() }),
      z.object({ auth: z.string().min(1).refine((a) => Buffer.from(a, 'base64').toString('utf8').indexOf(':') > 0, 'must be base64 of username:password') }),
    ]),
  ),
});

/**
 * Registry credentials from a Docker config (`{"auths": {"<host>": {"auth": base64(user:pass)} |
 * {"username", "password"}}}`), as `CONVEYOR_REGISTRY_AUTH` holds it. Throws a ValidationError
 * naming the setting (never its values) when it is not that shape.
 */
export function parseRegistryAuth(json: string | undefined): Map<string, RegistryCredential> {
  const out = new Map<string, RegistryCredential>();
  if (!json?.trim()) return out;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new ValidationError('invalid settings: CONVEYOR_REGISTRY_AUTH: must be a Docker config JSON ({"auths": {...}})', [{ path: 'CONVEYOR_REGISTRY_AUTH', message: 'not JSON' }]);
  }
  const parsed = dockerConfig.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`invalid settings: CONVEYOR_REGISTRY_AUTH: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, [{ path: `CONVEYOR_REGISTRY_AUTH.${issue?.path.join('.') ?? ''}`, message: issue?.message ?? 'invalid' }]);
  }
  for (const [rawHost, entry] of Object.entries(parsed.data.auths)) {
    const bare = rawHost.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    const host = bare === 'docker.io' || bare === 'index.docker.io' ? DOCKER_HUB : bare;
    if ('username' in entry) out.set(host, { username: entry.username, password: entry.password });
    else {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      out.set(host, { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
    }
  }
  return out;
}
