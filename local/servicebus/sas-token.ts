/**
 * Shared access signatures, as Service Bus checks them on its `$cbs` node.
 *
 * A token reads `SharedAccessSignature sr=<url-encoded resource URI>&sig=<url-encoded
 * base64 HMAC-SHA256>&se=<expiry, Unix seconds>&skn=<key name>`; the signature is over
 * `<url-encoded resource URI>\n<expiry>` with the named key (its text, as the SDKs use it). A
 * valid token grants the resource it names and every entity below it, until it expires.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a checked token grants, or why it grants nothing. */
export type SasVerdict =
  | { ok: true; keyName: string; resource: string; expiresAtMs: number }
  | { ok: false; reason: string };

/** Signs a token for `resource` with `key` (the SDK's algorithm; tests and tools use it). */
export function signSasToken(resource: string, keyName: string, key: string, expiresAtSec: number): string {
  const sr = encodeURIComponent(resource);
  const sig = createHmac('sha256', key).update(`${sr}\n${expiresAtSec}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiresAtSec}&skn=${encodeURIComponent(keyName)}`;
}

/** Checks a token against the emulator's keys (name → key) at `nowMs`. */
export function verifySasToken(token: unknown, keys: ReadonlyMap<string, string>, nowMs: number): SasVerdict {
  if (typeof token !== 'string' || !token.startsWith('SharedAccessSignature ')) return { ok: false, reason: 'not a shared access signature' };
  const fields = new Map<string, string>();
  for (const part of token.slice('SharedAccessSignature '.length).trim().split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  const skn = fields.get('skn');
  if (!sr || !sig || !se || !skn) return { ok: false, reason: 'the token lacks sr, sig, se or skn' };
  let keyName: string;
  let given: Buffer;
  let resource: string;
  try {
    keyName = decodeURIComponent(skn);
    given = Buffer.from(decodeURIComponent(sig), 'base64');
    resource = decodeURIComponent(sr);
  } catch {
    return { ok: false, reason: 'the token is not well encoded' };
  }
  const key = keys.get(keyName);
  if (key === undefined) return { ok: false, reason: `unknown key name '${keyName}'` };
  if (!/^\d{1,12}$/.test(se)) return { ok: false, reason: 'se is not a time' };
  const want = createHmac('sha256', key).update(`${sr}\n${se}`).digest();
  if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, reason: 'the signature does not match' };
  const expiresAtMs = Number(se) * 1000;
  if (expiresAtMs <= nowMs) return { ok: false, reason: 'the token has expired' };
  return { ok: true, keyName, resource, expiresAtMs };
}

/** The entity path a resource URI names (`sb://host/queue` → `queue`; the namespace → ''), lower case. */
export function resourcePath(resource: string): string {
  let path = resource;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(resource);
  if (scheme) path = resource.slice(scheme[0].length);
  return path.replace(/^\/+|\/+$/g, '').toLowerCase();
}

/** True when a grant for entity path `granted` covers link address `address` (the entity or below it). */
export function grantCovers(granted: string, address: string): boolean {
  const a = address.replace(/^\/+|\/+$/g, '').toLowerCase();
  return granted === '' || a === granted || a.startsWith(`${granted}/`);
}
