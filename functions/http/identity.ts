/**
 * Who the caller is. In Azure: the App Service authentication principal
 * (`x-ms-client-principal`), trusted only when the app runs with that authentication enabled
 * (`WEBSITE_AUTH_ENABLED=true`), since otherwise anyone could send the header. Locally: API
 * tokens mapped to identities and groups in the `CONVEYOR_API_TOKENS` setting (JSON:
 * `{ "<token>": { "id": "alice@example.com", "name": "Alice", "groups": ["release-managers"] } }`),
 * presented as `Authorization: Bearer <token>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import { z } from 'zod';
import type { Identity } from '../../shared/domain/approval.js';
import { ValidationError } from '../../shared/errors.js';
import { services } from '../services.js';
import { HttpProblem } from './problem.js';

const tokenEntry = z.strictObject({ id: z.string().min(1).max(320), name: z.string().max(200).optional(), groups: z.array(z.string().min(1).max(200)).max(100).default([]) });
const tokenTable = z.record(z.string().min(16, 'tokens must be at least 16 characters'), tokenEntry);

let cachedRaw: string | undefined;
let cachedTable: { digest: Buffer; identity: Identity }[] = [];

function table(): { digest: Buffer; identity: Identity }[] {
  const raw = process.env.CONVEYOR_API_TOKENS ?? '';
  if (raw === cachedRaw) return cachedTable;
  let parsed: unknown = {};
  try {
    parsed = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    throw new ValidationError('CONVEYOR_API_TOKENS is not valid JSON', [{ path: 'CONVEYOR_API_TOKENS', message: 'must be a JSON object of token -> identity' }]);
  }
  const result = tokenTable.safeParse(parsed);
  if (!result.success) {
    throw new ValidationError('CONVEYOR_API_TOKENS is invalid', result.error.issues.map((i) => ({ path: `CONVEYOR_API_TOKENS.${i.path.length > 0 ? '<token>' : ''}${i.path.slice(1).join('.')}`, message: i.message })));
  }
  cachedTable = Object.entries(result.data).map(([token, entry]) => {
    services().secrets.add(token);
    return { digest: createHash('sha256').update(token).digest(), identity: { id: entry.id, ...(entry.name ? { name: entry.name } : {}), groups: entry.groups } };
  });
  cachedRaw = raw;
  return cachedTable;
}

function fromPrincipal(header: string): Identity | undefined {
  try {
    const principal = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { claims?: { typ: string; val: string }[]; name_typ?: string; role_typ?: string };
    const claims = principal.claims ?? [];
    const claim = (...types: string[]) => claims.find((c) => types.includes(c.typ))?.val;
    const id = claim('preferred_username', 'email', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', principal.name_typ ?? 'name', 'name');
    if (!id) return undefined;
    const groups = claims.filter((c) => c.typ === 'groups' || c.typ === (principal.role_typ ?? 'roles') || c.typ === 'roles').map((c) => c.val);
    return { id, name: claim('name'), groups };
  } catch {
    return undefined;
  }
}

/** The caller's identity, or undefined when the request carries none. A bad token -> 401. */
export function identify(request: HttpRequest): Identity | undefined {
  const principal = request.headers.get('x-ms-client-principal');
  if (principal && (process.env.WEBSITE_AUTH_ENABLED ?? '').toLowerCase() === 'true') {
    const who = fromPrincipal(principal);
    if (who) return who;
  }
  const auth = request.headers.get('authorization');
  if (!auth) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!m) throw new HttpProblem(401, 'Authorization header must be "Bearer <token>"');
  const digest = createHash('sha256').update(m[1]!).digest();
  const found = table().find((t) => timingSafeEqual(t.digest, digest));
  if (!found) throw new HttpProblem(401, 'unknown API token');
  return found.identity;
}

/** Like {@link identify} but a missing identity is a 401 naming what to send. */
export function requireIdentity(request: HttpRequest): Identity {
  const who = identify(request);
  if (!who) throw new HttpProblem(401, 'this action is recorded with who did it: send "Authorization: Bearer <token>" (a token from CONVEYOR_API_TOKENS)', { identityRequired: true });
  return who;
}
