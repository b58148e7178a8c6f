/**
 * Who the caller is. In Azure: the App Service authentication principal
 * (`x-ms-client-principal`), trusted only when the app runs with that authentication enabled
 * (`WEBSITE_AUTH_ENABLED=true`), since otherwise anyone could send the header; its `groups`
 * and `roles` claims become groups, plus the Conveyor groups `CONVEYOR_ENTRA_GROUPS` maps them
 * to (shared/azure/entra-groups.ts). Locally: API
 * tokens mapped to identities and groups in the `CONVEYOR_API_TOKENS` setting (JSON:
 * `{ "<token>": { "id": "alice@example.com", "name": "Alice", "groups": ["release-managers"] } }`),
 * presented as `Authorization: Bearer <token>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import type { Settings } from '../../shared/config/settings.js';
import type { Identity } from '../../shared/domain/approval.js';
import { callerGroups, type EntraGroupMap } from '../../shared/azure/entra-groups.js';
import { HttpProblem } from './problem.js';

function fromPrincipal(header: string, entraGroups: EntraGroupMap): Identity | undefined {
  try {
    const principal = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { claims?: { typ: string; val: string }[]; name_typ?: string; role_typ?: string };
    const claims = principal.claims ?? [];
    const claim = (...types: string[]) => claims.find((c) => types.includes(c.typ))?.val;
    // People have a user name; automation (a service principal or managed identity with an
    // app-only token) has only its application id.
    const id = claim('preferred_username', 'email', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', principal.name_typ ?? 'name', 'name', 'appid', 'azp');
    if (!id) return undefined;
    const values = claims.filter((c) => c.typ === 'groups' || c.typ === (principal.role_typ ?? 'roles') || c.typ === 'roles').map((c) => c.val);
    return { id, name: claim('name'), groups: callerGroups(values, entraGroups) };
  } catch {
    return undefined;
  }
}

/** Tells who a caller is, from the settings' API token table and App Service authentication. */
export class CallerIdentities {
  private readonly tokens: { digest: Buffer; identity: Identity }[];

  constructor(private readonly settings: Pick<Settings, 'apiTokens' | 'appServiceAuth'> & Partial<Pick<Settings, 'entraGroups'>>) {
    this.tokens = settings.apiTokens.ok
      ? [...settings.apiTokens.table].map(([token, identity]) => ({ digest: createHash('sha256').update(token).digest(), identity }))
      : [];
  }

  /** The caller's identity, or undefined when the request carries none. A bad token -> 401. */
  identify(request: HttpRequest): Identity | undefined {
    const principal = request.headers.get('x-ms-client-principal');
    if (principal && this.settings.appServiceAuth) {
      const who = fromPrincipal(principal, this.settings.entraGroups ?? new Map());
      if (who) return who;
    }
    const auth = request.headers.get('authorization');
    if (!auth) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) throw new HttpProblem(401, 'Authorization header must be "Bearer <token>"');
    // A malformed token table is reported when a caller relies on it (400 naming the setting).
    if (!this.settings.apiTokens.ok) throw this.settings.apiTokens.error;
    const found = this.fromApiToken(m[1]!);
    if (!found) throw new HttpProblem(401, 'unknown API token');
    return found;
  }

  /**
   * The identity an API token stands for, or undefined for an unknown token (constant-time
   * comparison of digests). Also used for credentials carried by approval messages.
   */
  fromApiToken(token: string): Identity | undefined {
    if (!this.settings.apiTokens.ok) throw this.settings.apiTokens.error;
    const digest = createHash('sha256').update(token).digest();
    let found: Identity | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.digest, digest)) found = t.identity;
    return found;
  }

  /** Like {@link CallerIdentities.identify} but a missing identity is a 401 naming what to send. */
  require(request: HttpRequest): Identity {
    const who = this.identify(request);
    if (!who) throw new HttpProblem(401, 'this action is recorded with who did it: send "Authorization: Bearer <token>" (a token from CONVEYOR_API_TOKENS)', { identityRequired: true });
    return who;
  }
}
