/**
 * A fake Entra ID authority on 127.0.0.1: per tenant, the OpenID configuration
 * (`/<tenant>/v2.0/.well-known/openid-configuration`, issuer `<origin>/<tenant>/v2.0`) and the
 * signing keys (`/<tenant>/discovery/v2.0/keys`, an RSA JWK set with `kid`), as
 * login.microsoftonline.com serves them. It signs real RS256 access tokens with its key (or with
 * a key it does not publish, for a forged signature), so a validator talks to it unchanged.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload, type CryptoKey } from 'jose';

export interface FakeEntra {
  /** The authority, e.g. `http://127.0.0.1:PORT` (CONVEYOR_ENTRA_AUTHORITY). */
  readonly authority: string;
  /** Signs an access token: v2 claims for `tenant` and `audience`, expiring in `expiresIn` seconds (negative: expired). */
  token(options: { tenant: string; audience: string; claims?: JWTPayload; expiresIn?: number; forged?: boolean }): Promise<string>;
  /** Requests served, by path. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startFakeEntra(): Promise<FakeEntra> {
  const kid = 'fake-entra-key-1';
  const signing = await generateKeyPair('RS256', { extractable: true });
  const forger = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(signing.publicKey)), kid, use: 'sig', alg: 'RS256' };
  const requests: string[] = [];
  let origin = '';
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const config = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    const keys = /^\/([^/]+)\/discovery\/v2\.0\/keys$/.exec(path);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'method not allowed' });
    if (config) {
      const tenant = config[1]!;
      return send(200, { issuer: `${origin}/${tenant}/v2.0`, jwks_uri: `${origin}/${tenant}/discovery/v2.0/keys`, id_token_signing_alg_values_supported: ['RS256'], token_endpoint: `${origin}/${tenant}/oauth2/v2.0/token` });
    }
    if (keys) return send(200, { keys: [jwk] });
    send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    authority: origin,
    requests,
    async token({ tenant, audience, claims = {}, expiresIn = 3600, forged = false }) {
      const now = Math.floor(Date.now() / 1000);
      const key: CryptoKey = forged ? forger.privateKey : signing.privateKey;
      return new SignJWT({ tid: tenant, ver: '2.0', ...claims })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .setIssuer(`${origin}/${tenant}/v2.0`)
        .setAudience(audience)
        .setIssuedAt(now - 60)
        .setNotBefore(now - 60)
        .setExpirationTime(now + expiresIn)
        .sign(key);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
