// Conveyor's storage through both connection forms the Functions host uses, against a real
// storage endpoint: Azurite over HTTPS (a test certificate made here) with OAuth checking, which
// rejects bearer tokens whose issuer, audience or lifetime are wrong.
// - connection string (local emulators, accounts with shared keys);
// - identity-based (`AzureWebJobsStorage__blobServiceUri` + `__credential=managedidentity` +
//   `__clientId`): @azure/identity's ManagedIdentityCredential gets a token from the App Service
//   managed-identity endpoint protocol (IDENTITY_ENDPOINT / IDENTITY_HEADER), served here on
//   loopback, and the blob client presents it as a bearer token.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_ACCOUNT, DEV_KEY } from '../../local/storage/azurite.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const childScript = join(root, 'dist', 'test', 'support', 'storage-identity.child.js');

let dir = '';
let azurite: ChildProcess | undefined;
let blobPort = 0;
let identityServer: Server | undefined;
let identityUrl = '';
const identityHeader = randomUUID();
const clientId = randomUUID();
const tenant = randomUUID();
const tokenRequests: { resource: string | null; clientId: string | null; header: string | undefined; apiVersion: string | null }[] = [];
let audience = 'https://storage.azure.com';

function b64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A JWT shaped like Entra ID's (Azurite's basic OAuth checks issuer, audience and lifetime, not the signature). */
function token(aud: string): { token: string; expiresOn: number } {
  const now = Math.floor(Date.now() / 1000);
  const body = { aud, iss: `https://sts.windows.net/${tenant}/`, iat: now - 60, nbf: now - 60, exp: now + 3600, oid: clientId, appid: clientId, tid: tenant };
  const unsigned = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(body)}`;
  return { token: `${unsigned}.${createHmac('sha256', 'test').update(unsigned).digest('base64url')}`, expiresOn: now + 3600 };
}

// Asynchronous: the managed-identity endpoint the child calls is served by this process.
async function runChild(env: Record<string, string>, args: string[] = []): Promise<{ ok: boolean; kind?: string; value?: unknown; statusCode?: number; message?: string }> {
  const child = spawn(process.execPath, [childScript, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'), ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout) as Awaited<ReturnType<typeof runChild>>;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conveyor-identity-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });

  identityServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    tokenRequests.push({ resource: url.searchParams.get('resource'), clientId: url.searchParams.get('client_id'), header: req.headers['x-identity-header'] as string | undefined, apiVersion: url.searchParams.get('api-version') });
    if (req.headers['x-identity-header'] !== identityHeader) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'bad identity header' }));
      return;
    }
    const t = token(audience);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: t.token, expires_on: String(t.expiresOn), resource: url.searchParams.get('resource'), token_type: 'Bearer', client_id: url.searchParams.get('client_id') }));
  });
  await new Promise<void>((r) => identityServer!.listen(0, '127.0.0.1', r));
  identityUrl = `http://127.0.0.1:${(identityServer.address() as AddressInfo).port}/msi/token`;

  const bin = join(root, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js');
  azurite = spawn(process.execPath, [bin, '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--location', join(dir, 'azurite'), '--blobHost', '127.0.0.1', '--blobPort', '0', '--oauth', 'basic', '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  blobPort = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`Azurite did not start: ${out}`)), 30_000);
    azurite!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listen\w* (?:at|on) https:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    azurite!.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    azurite!.once('exit', () => reject(new Error(`Azurite exited: ${out}`)));
  });
  azurite.stdout!.resume();
});

after(async () => {
  // Azurite flushes its metadata on the way out: wait for it before removing its folder.
  if (azurite && azurite.exitCode === null && azurite.signalCode === null) {
    const exited = new Promise<void>((r) => azurite!.once('exit', () => r()));
    azurite.kill('SIGTERM');
    await exited;
  }
  await new Promise<void>((r) => identityServer?.close(() => r()) ?? r());
  rmSync(dir, { recursive: true, force: true });
});

describe('storage connections: both forms against HTTPS storage that checks bearer tokens', () => {
  it('connection string (shared key) works as before', async () => {
    const conn = `DefaultEndpointsProtocol=https;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=https://127.0.0.1:${blobPort}/${DEV_ACCOUNT};`;
    const out = await runChild({ AzureWebJobsStorage: conn });
    assert.deepEqual(out, { ok: true, kind: 'connectionString', value: { hello: 'azure' } });
  });

  it('identity-based: a managed-identity token for storage, presented as a bearer token, is accepted', async () => {
    tokenRequests.length = 0;
    audience = 'https://storage.azure.com';
    const out = await runChild({
      AzureWebJobsStorage__blobServiceUri: `https://127.0.0.1:${blobPort}/${DEV_ACCOUNT}`,
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: clientId,
      IDENTITY_ENDPOINT: identityUrl,
      IDENTITY_HEADER: identityHeader,
    });
    assert.deepEqual(out, { ok: true, kind: 'identity', value: { hello: 'azure' } });
    assert.ok(tokenRequests.length >= 1, 'no token was requested from the managed identity endpoint');
    for (const r of tokenRequests) {
      assert.match(r.resource ?? '', /^https:\/\/storage\.azure\.com\/?$/);
      assert.equal(r.clientId, clientId, 'the user-assigned identity (__clientId) must be asked for');
      assert.equal(r.header, identityHeader);
    }
  });

  it("Conveyor's own connection name wins over AzureWebJobsStorage", async () => {
    audience = 'https://storage.azure.com';
    const out = await runChild({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      CONVEYOR_STORAGE_CONNECTION__serviceUri: `https://127.0.0.1:${blobPort}/${DEV_ACCOUNT}`,
      CONVEYOR_STORAGE_CONNECTION__credential: 'managedidentity',
      IDENTITY_ENDPOINT: identityUrl,
      IDENTITY_HEADER: identityHeader,
    });
    assert.deepEqual(out, { ok: true, kind: 'identity', value: { hello: 'azure' } });
  });

  it('a token for another audience is refused by the storage endpoint (so the check above is real)', async () => {
    audience = 'https://vault.azure.net';
    const out = await runChild({
      AzureWebJobsStorage__blobServiceUri: `https://127.0.0.1:${blobPort}/${DEV_ACCOUNT}`,
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: clientId,
      IDENTITY_ENDPOINT: identityUrl,
      IDENTITY_HEADER: identityHeader,
    });
    assert.equal(out.ok, false);
    assert.equal(out.statusCode, 403, JSON.stringify(out));
    assert.match(out.message ?? '', /failed to authenticate/i);
  });
});

describe('other identity-based connections get managed-identity tokens for their service', () => {
  it('Service Bus (__fullyQualifiedNamespace + __credential + __clientId) asks for a servicebus.azure.net token as the user-assigned identity', async () => {
    tokenRequests.length = 0;
    const out = await runChild(
      {
        CONVEYOR_SERVICEBUS__fullyQualifiedNamespace: 'conveyor-sb.servicebus.windows.net',
        CONVEYOR_SERVICEBUS__credential: 'managedidentity',
        CONVEYOR_SERVICEBUS__clientId: clientId,
        IDENTITY_ENDPOINT: identityUrl,
        IDENTITY_HEADER: identityHeader,
      },
      ['token', 'CONVEYOR_SERVICEBUS', 'serviceBus', 'https://servicebus.azure.net/.default'],
    );
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.deepEqual((out.value as { endpoint: string }).endpoint, 'conveyor-sb.servicebus.windows.net');
    assert.equal(tokenRequests.length, 1);
    assert.match(tokenRequests[0]!.resource ?? '', /^https:\/\/servicebus\.azure\.net\/?$/);
    assert.equal(tokenRequests[0]!.clientId, clientId);
    assert.equal(tokenRequests[0]!.header, identityHeader);
  });
});
