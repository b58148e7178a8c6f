/**
 * Entra ID access tokens as a credential on approval messages (docs/events.md): a chat bot or a
 * change-management system that acts as a person (or as itself, app-only) sends the token it got
 * for Conveyor's API, and the decision is recorded as that identity.
 *
 * A token is accepted when (jose): its signature verifies against the tenant's signing keys,
 * found through the tenant's OpenID configuration (`<authority>/<tenant>/v2.0/.well-known/
 * openid-configuration` → `jwks_uri`); its issuer is that configuration's issuer (v2 tokens:
 * `<authority>/<tenant>/v2.0`) and its `tid` the tenant; its audience is Conveyor's app id
 * (`<client id>` or `api://<client id>`, as App Service authentication accepts); it has not
 * expired (`exp`, `nbf`, a minute of clock skew). The identity is mapped as App Service
 * authentication maps a principal: `upn` / `preferred_username` / `email` for people, the
 * application id for app-only tokens, the object id (`oid`) last; `groups` and `roles` claims
 * are the groups, with the Conveyor groups `CONVEYOR_ENTRA_GROUPS` maps them to.
 *
 * A token that fails a check is refused with which check failed; the configuration or keys
 * being unreachable is a transient fault (thrown: the message is retried).
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import type { Identity } from '../domain/approval.js';
import { callerGroups, type EntraGroupMap } from './entra-groups.js';

/** Where tokens come from and for whom they must be. */
export interface EntraTokenSettings {
  tenantId: string;
  clientId: string;
  /** e.g. `https://login.microsoftonline.com` (no trailing slash). */
  authority: string;
}

/** A validated token's identity, or why the token is refused. */
export type EntraVerdict = { ok: true; identity: Identity } | { ok: false; reason: string };

const openIdConfiguration = z.looseObject({ issuer: z.string().min(1), jwks_uri: z.url() });

const MAX_TOKEN = 16_384;

/** Validates Entra ID access tokens for one tenant and audience (see the module comment). */
export class EntraTokenValidator {
  private discovery?: Promise<{ issuer: string; jwks: ReturnType<typeof createRemoteJWKSet> }>;

  constructor(
    private readonly settings: EntraTokenSettings,
    private readonly groups: EntraGroupMap,
  ) {}

  private async keys(): Promise<{ issuer: string; jwks: ReturnType<typeof createRemoteJWKSet> }> {
    this.discovery ??= (async () => {
      const url = `${this.settings.authority}/${encodeURIComponent(this.settings.tenantId)}/v2.0/.well-known/openid-configuration`;
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`Entra ID OpenID configuration ${url}: HTTP ${res.status}`);
      const config = openIdConfiguration.parse(await res.json());
      // The common endpoints template the issuer; a tenant's own configuration names it.
      const issuer = config.issuer.replace('{tenantid}', this.settings.tenantId);
      return { issuer, jwks: createRemoteJWKSet(new URL(config.jwks_uri), { timeoutDuration: 5000 }) };
    })();
    try {
      return await this.discovery;
    } catch (err) {
      this.discovery = undefined;
      throw err;
    }
  }

  /** Checks a token; throws only when the tenant's configuration or keys cannot be fetched. */
  async verify(token: string): Promise<EntraVerdict> {
    if (token.length > MAX_TOKEN || token.split('.').length !== 3) return { ok: false, reason: 'the Entra ID token is not a signed JWT' };
    const { issuer, jwks } = await this.keys();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: [this.settings.clientId, `api://${this.settings.clientId}`],
        algorithms: ['RS256'],
        clockTolerance: 60,
        requiredClaims: ['exp', 'tid'],
      }));
    } catch (err) {
      return { ok: false, reason: refusal(err) };
    }
    // The tenant setting may be a domain; the issuer of its configuration carries the tenant id.
    if (!issuer.toLowerCase().includes(String(payload.tid).toLowerCase())) {
      return { ok: false, reason: `the Entra ID token is for tenant ${String(payload.tid)}, not ${this.settings.tenantId}` };
    }
    const claim = (name: string) => (typeof payload[name] === 'string' && payload[name] !== '' ? (payload[name] as string) : undefined);
    const id = claim('upn') ?? claim('preferred_username') ?? claim('email') ?? claim('azp') ?? claim('appid') ?? claim('oid');
    if (!id) return { ok: false, reason: 'the Entra ID token names no one (no upn, preferred_username, appid or oid claim)' };
    const values = [...stringList(payload.groups), ...stringList(payload.roles)];
    const identity: Identity = { id, groups: callerGroups(values, this.groups) };
    const name = claim('name');
    if (name) identity.name = name;
    return { ok: true, identity };
  }
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** Which check a token failed, in words; a fetch failure of the keys is rethrown (transient). */
function refusal(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the Entra ID token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return "the Entra ID token's issuer is not the configured tenant";
    if (err.claim === 'aud') return "the Entra ID token's audience is not Conveyor's app id";
    if (err.claim === 'nbf') return 'the Entra ID token is not valid yet';
    return `the Entra ID token's ${err.claim} claim is not acceptable (${err.reason})`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) return "the Entra ID token's signature does not verify against the tenant's keys";
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the Entra ID token is not signed with RS256';
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid || err instanceof errors.JOSENotSupported) return `the Entra ID token is malformed (${(err as Error).message})`;
  throw err;
}
