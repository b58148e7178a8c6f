// A protocol-level fake of the few Azure Resource Manager calls Conveyor makes, for the real
// `@azure/arm-containerservice` client: a real HTTPS server on 127.0.0.1 with a test certificate
// (clients trust its CA through `tlsOptions`).
//
// - Authentication: every request must carry `Authorization: Bearer <token>` for this fake's
//   audience (public ARM's unless started with another, as a sovereign cloud's ARM has), as issued
//   by {@link TestTokenCredential}; anything else is 401 InvalidAuthenticationToken naming the
//   audience the token was for. The audience of every token received is recorded.
// - Every request needs `api-version`; answers use ARM's error shape `{ error: { code, message } }`.
// - Managed clusters: GET the cluster, POST listClusterUserCredential (a kubeconfig pointing at
//   a fake Kubernetes API server; for Entra ID clusters the exec-plugin form that names kubelogin).
// - Container registries (ACR Tasks): source upload URLs, scheduleRun as a long-running
//   operation, runs moving through their statuses, log links (./acr.ts).
// - A managed-identity endpoint (`identityEndpoint`) for processes whose DefaultAzureCredential
//   must get this fake's token.
// - Faults: `injectFault` answers the next matching requests with 429 (Retry-After) or 5xx.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { stringify as toYaml } from 'yaml';
import { testCertificate } from '../fake-kube/test-cert.js';
import { FakeAcr } from './acr.js';

/** The ARM scope the SDK clients ask tokens for. */
export const ARM_SCOPE = 'https://management.azure.com/.default';

/** A TokenCredential for tests: a distinct token per scope, and a log of what was asked. */
export class TestTokenCredential implements TokenCredential {
  /** Scopes requested, in order. */
  readonly requested: string[] = [];
  private readonly tokens = new Map<string, string>();

  /** The token this credential issues for `scope` (stable per scope). */
  tokenFor(scope: string): string {
    let t = this.tokens.get(scope);
    if (!t) {
      t = `test-${createHash('sha256').update(scope).digest('hex').slice(0, 12)}-${randomBytes(8).toString('hex')}`;
      this.tokens.set(scope, t);
    }
    return t;
  }

  /** The scope a token of this credential was issued for (undefined: not one of its tokens). */
  scopeOf(token: string): string | undefined {
    for (const [scope, t] of this.tokens) if (t === token) return scope;
    return undefined;
  }

  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0]! : scopes;
    this.requested.push(scope);
    return { token: this.tokenFor(scope), expiresOnTimestamp: Date.now() + 60 * 60_000 };
  }
}

/** A managed cluster the fake knows. */
export interface FakeCluster {
  subscription: string;
  resourceGroup: string;
  name: string;
  location?: string;
  /** The Kubernetes API server URL (a FakeKube). */
  server: string;
  caPem: string;
  /** Entra ID integration: the kubeconfig names kubelogin instead of carrying a credential. */
  entraId: boolean;
  /** For local-account clusters: the bearer token the kubeconfig carries. */
  localToken?: string;
}

/** One recorded request. */
export interface ArmRequest {
  method: string;
  path: string;
  apiVersion?: string;
  status: number;
}

/** The fake ARM endpoint. */
export class FakeArm {
  /** Requests received. */
  readonly requests: ArmRequest[] = [];
  /** The audience (scope without `/.default`) of the bearer token of each request, in order. */
  readonly audiences: string[] = [];
  private readonly clusters: FakeCluster[] = [];
  private readonly faults: Array<{ code: number; retryAfter?: number; match: (r: ArmRequest) => boolean }> = [];
  private readonly sockets = new Set<Socket>();
  /** Azure Container Registry (Tasks): registries, scheduled runs, their logs. */
  readonly acr = new FakeAcr(() => this.url);
  private identity: HttpServer | undefined;

  private constructor(
    private readonly server: Server,
    /** e.g. `https://127.0.0.1:43210` */
    readonly url: string,
    /** CA clients must trust. */
    readonly caPem: string,
    private readonly credential: TestTokenCredential,
    /** The token scope this ARM accepts (`<audience>/.default`). */
    readonly scope: string,
  ) {}

  /** Starts the fake; it accepts only tokens `credential` issued for its audience (default: public ARM's). */
  static async start(credential: TestTokenCredential, options: { audience?: string } = {}): Promise<FakeArm> {
    const cert = await testCertificate();
    const server = createServer({ key: cert.keyPem, cert: cert.certPem });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const scope = options.audience ? `${options.audience.replace(/\/+$/, '')}/.default` : ARM_SCOPE;
    const fake = new FakeArm(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, cert.caPem, credential, scope);
    server.on('secureConnection', (s: Socket) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => fake.send(res, 500, { error: { code: 'InternalServerError', message: String(err) } }));
    });
    return fake;
  }

  /** Client options for the real SDK clients: this endpoint, its CA, quick retries. */
  clientOptions(): { endpoint: string; credentialScopes: string[]; tlsOptions: { ca: string }; retryOptions: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number } } {
    // The endpoint moves; the scope is this fake's audience.
    return { endpoint: this.url, credentialScopes: [this.scope], tlsOptions: { ca: this.caPem }, retryOptions: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 50 } };
  }

  /** Registers a managed cluster. */
  addCluster(c: FakeCluster): void {
    this.clusters.push(c);
  }

  /** Answers the next `count` requests matching `match` with `code`. */
  injectFault(code: 429 | 500 | 503 | 403, count = 1, match: (r: ArmRequest) => boolean = () => true, retryAfter?: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ code, match, ...(retryAfter !== undefined ? { retryAfter } : {}) });
  }

  /** Drops faults not used up yet. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /**
   * Serves the App Service managed-identity protocol on plain http (as App Service does on its
   * loopback), so `DefaultAzureCredential` in a process under test gets this fake's ARM token:
   * set `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` to what this returns.
   */
  async identityEndpoint(): Promise<{ IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string }> {
    const header = randomBytes(16).toString('hex');
    const server = createHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const resource = url.searchParams.get('resource') ?? '';
      if (req.headers['x-identity-header'] !== header || !resource) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request', error_description: 'X-IDENTITY-HEADER and resource are required' }));
        return;
      }
      const scope = `${resource.replace(/\/+$/, '')}/.default`;
      const expiresOn = Math.floor(Date.now() / 1000) + 3600;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: this.credential.tokenFor(scope), expires_on: String(expiresOn), resource, token_type: 'Bearer' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.identity = server;
    return { IDENTITY_ENDPOINT: `http://127.0.0.1:${(server.address() as AddressInfo).port}/msi/token`, IDENTITY_HEADER: header };
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    if (this.identity) {
      const identity = this.identity;
      identity.closeAllConnections();
      await new Promise<void>((resolve) => identity.close(() => resolve()));
    }
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-ms-request-id': randomBytes(8).toString('hex'), ...headers });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const rec: ArmRequest = { method: req.method ?? 'GET', path: url.pathname, ...(url.searchParams.get('api-version') ? { apiVersion: url.searchParams.get('api-version')! } : {}), status: 0 };
    this.requests.push(rec);
    const reply = (status: number, payload: unknown, headers?: Record<string, string>) => {
      rec.status = status;
      this.send(res, status, payload, headers);
    };
    const fault = this.faults.findIndex((f) => f.match(rec));
    if (fault >= 0) {
      const [f] = this.faults.splice(fault, 1);
      const code = f!.code === 429 ? 'TooManyRequests' : f!.code === 403 ? 'AuthorizationFailed' : 'InternalServerError';
      return reply(f!.code, { error: { code, message: `injected ${f!.code}` } }, f!.retryAfter !== undefined ? { 'retry-after': String(f!.retryAfter) } : {});
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const tokenScope = this.credential.scopeOf(bearer);
    this.audiences.push(tokenScope ? tokenScope.replace(/\/\.default$/, '') : '(unknown token)');
    if (tokenScope !== this.scope) {
      const aud = tokenScope ? tokenScope.replace(/\/\.default$/, '') : 'unknown';
      return reply(401, { error: { code: 'InvalidAuthenticationToken', message: `The access token is invalid or was issued for another audience (${aud}); this endpoint accepts ${this.scope.replace(/\/\.default$/, '')}.` } });
    }
    if (!rec.apiVersion) return reply(400, { error: { code: 'MissingApiVersionParameter', message: "The api-version query parameter (?api-version=) is required for all requests." } });
    if (await this.acr.handle(rec.method, url, body, rec.apiVersion, reply)) return;
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/(Microsoft\.ContainerService\/managedClusters)\/([^/]+)(?:\/(.*))?$/i.exec(url.pathname);
    if (!m) return reply(404, { error: { code: 'InvalidResourceType', message: `no route for ${url.pathname}` } });
    const [, sub, rg, provider, name, rest] = m as unknown as [string, string, string, string, string, string | undefined];
    const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/${provider}/${name}`;
    const c = this.clusters.find((x) => x.subscription === sub && x.resourceGroup.toLowerCase() === rg.toLowerCase() && x.name === name);
    if (!c) return reply(404, { error: { code: 'ResourceNotFound', message: `The Resource 'Microsoft.ContainerService/managedClusters/${name}' under resource group '${rg}' was not found.` } });
    if (req.method === 'GET' && !rest) return reply(200, this.clusterBody(c, id));
    if (req.method === 'POST' && rest === 'listClusterUserCredential') return reply(200, { kubeconfigs: [{ name: 'clusterUser', value: Buffer.from(this.kubeconfig(c)).toString('base64') }] });
    return reply(405, { error: { code: 'MethodNotAllowed', message: `${req.method} ${rest ?? ''}` } });
  }

  private clusterBody(c: FakeCluster, id: string): object {
    return {
      id,
      name: c.name,
      type: 'Microsoft.ContainerService/ManagedClusters',
      location: c.location ?? 'westeurope',
      properties: {
        provisioningState: 'Succeeded',
        kubernetesVersion: '1.32.0',
        fqdn: new URL(c.server).host,
        enableRBAC: true,
        ...(c.entraId ? { aadProfile: { managed: true, enableAzureRBAC: true, tenantID: '00000000-0000-0000-0000-000000000001' }, disableLocalAccounts: true } : {}),
      },
    };
  }

  private kubeconfig(c: FakeCluster): string {
    const user = c.entraId
      ? { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'kubelogin', args: ['get-token', '--login', 'azurecli', '--server-id', '6dae42f8-4368-4678-94ff-3960e28e3630'], interactiveMode: 'IfAvailable' } }
      : { token: c.localToken ?? '' };
    return toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: c.name, cluster: { server: c.server, 'certificate-authority-data': Buffer.from(c.caPem).toString('base64') } }],
      users: [{ name: `clusterUser_${c.resourceGroup}_${c.name}`, user }],
      contexts: [{ name: c.name, context: { cluster: c.name, user: `clusterUser_${c.resourceGroup}_${c.name}` } }],
      'current-context': c.name,
    });
  }
}
