// A protocol-level fake of an OCI distribution registry, on 127.0.0.1 (plain http, as Docker
// treats loopback registries), implementing what the digest check uses:
//
// - `HEAD`/`GET /v2/<name>/manifests/<reference>`: 200 with `Docker-Content-Digest`,
//   `Content-Type` and `Content-Length` for a manifest it holds, 404 `MANIFEST_UNKNOWN` (no body
//   for HEAD) otherwise; requests without a valid token are 401 with the challenge.
// - The token handshake of the distribution token specification: `WWW-Authenticate: Bearer
//   realm="<this>/token",service="fake-registry",scope="repository:<name>:pull"`; `GET /token
//   ?service=&scope=` answers `{ token, access_token, expires_in, issued_at }`, anonymously for
//   public repositories, with HTTP Basic for private ones (401 for wrong or missing credentials).
//   Tokens carry the scopes granted; a token for another repository is refused.
// - `auth: 'basic'`: `WWW-Authenticate: Basic realm="fake-registry"` and Basic on every request.
// - `auth: 'acr'`: Azure Container Registry's flow: `POST /oauth2/exchange` (form: grant_type=
//   access_token, service, access_token = the Entra ID token it expects) → `{ refresh_token }`;
//   realm `POST /oauth2/token` (form: grant_type=refresh_token, service, scope, refresh_token)
//   → `{ access_token }`.
// Every request is recorded (method, path, Authorization scheme).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One recorded request. */
export interface RegistryRequest {
  method: string;
  path: string;
  /** `Bearer`, `Basic` or `` */
  auth: string;
  status: number;
}

/** How the fake authenticates. */
export interface FakeRegistryOptions {
  auth?: 'bearer' | 'basic' | 'acr';
  /** username → password (Basic, and the token endpoint for private repositories). */
  users?: Record<string, string>;
  /** Repositories anyone may pull (bearer: anonymous tokens). */
  publicRepositories?: string[];
  /** acr: the Entra ID access token `/oauth2/exchange` accepts. */
  aadToken?: string;
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

/** The fake registry. */
export class FakeRegistry {
  readonly requests: RegistryRequest[] = [];
  /** repository → digest → manifest body. */
  private readonly manifests = new Map<string, Map<string, Buffer>>();
  /** token → scopes it grants. */
  private readonly tokens = new Map<string, Set<string>>();
  private readonly refreshTokens = new Set<string>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    /** `127.0.0.1:<port>`: the registry host in image names. */
    readonly host: string,
    private readonly options: FakeRegistryOptions,
  ) {}

  /** Starts the registry on a free loopback port. */
  static async start(options: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeRegistry(server, `127.0.0.1:${(server.address() as AddressInfo).port}`, options);
    server.on('connection', (s: Socket) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
    return fake;
  }

  /** Stores a manifest (as a push would) and returns its digest. */
  push(repository: string, content = `{"schemaVersion":2,"mediaType":"${MANIFEST_TYPE}","layers":["${randomBytes(4).toString('hex')}"]}`): string {
    const body = Buffer.from(content);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    let repo = this.manifests.get(repository);
    if (!repo) this.manifests.set(repository, (repo = new Map()));
    repo.set(digest, body);
    return digest;
  }

  /** Stops the server. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private get base(): string {
    return `http://${this.host}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const authorization = req.headers.authorization ?? '';
    const rec: RegistryRequest = { method: req.method ?? 'GET', path: url.pathname, auth: authorization.split(' ')[0] ?? '', status: 0 };
    this.requests.push(rec);
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      const text = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), 'content-length': String(Buffer.byteLength(text)), ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };

    if (url.pathname === '/token' && req.method === 'GET' && this.options.auth !== 'acr') {
      const scope = url.searchParams.get('scope') ?? '';
      if (url.searchParams.get('service') !== 'fake-registry') return send(400, { errors: [{ code: 'UNSUPPORTED', message: 'unknown service' }] });
      const repository = /^repository:([^:]+):pull$/.exec(scope)?.[1];
      if (!repository) return send(400, { errors: [{ code: 'UNSUPPORTED', message: `bad scope ${scope}` }] });
      const user = this.basicUser(authorization);
      if (authorization && !user) return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'wrong credentials' }] });
      if (!user && !(this.options.publicRepositories ?? []).includes(repository)) return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
      return send(200, this.issue(scope));
    }
    if (this.options.auth === 'acr' && url.pathname === '/oauth2/exchange' && req.method === 'POST') {
      if (form.get('grant_type') !== 'access_token' || form.get('service') !== this.host || form.get('access_token') !== this.options.aadToken) {
        return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid Entra ID token' }] });
      }
      const refresh = randomBytes(12).toString('hex');
      this.refreshTokens.add(refresh);
      return send(200, { refresh_token: refresh });
    }
    if (this.options.auth === 'acr' && url.pathname === '/oauth2/token' && req.method === 'POST') {
      const scope = form.get('scope') ?? '';
      if (form.get('grant_type') !== 'refresh_token' || form.get('service') !== this.host || !this.refreshTokens.has(form.get('refresh_token') ?? '') || !/^repository:[^:]+:pull$/.test(scope)) {
        return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid refresh token or scope' }] });
      }
      const { token } = this.issue(scope);
      return send(200, { access_token: token });
    }

    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (!m || (req.method !== 'HEAD' && req.method !== 'GET')) return send(404, { errors: [{ code: 'NOT_FOUND', message: `${req.method} ${url.pathname}` }] });
    const [, repository, reference] = m as unknown as [string, string, string];
    const scope = `repository:${repository}:pull`;
    if (!this.authorized(authorization, scope)) {
      const challenge =
        this.options.auth === 'basic'
          ? 'Basic realm="fake-registry"'
          : this.options.auth === 'acr'
            ? `Bearer realm="${this.base}/oauth2/token",service="${this.host}",scope="${scope}"`
            : `Bearer realm="${this.base}/token",service="fake-registry",scope="${scope}"`;
      return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Type: 'repository', Name: repository, Action: 'pull' }] }] }, { 'www-authenticate': challenge });
    }
    if (!/application\/vnd\.(oci|docker)\./.test(req.headers.accept ?? '')) return send(400, { errors: [{ code: 'MANIFEST_INVALID', message: 'no manifest media type accepted' }] });
    const body = this.manifests.get(repository)?.get(reference);
    if (!body) return send(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
    rec.status = 200;
    res.writeHead(200, { 'content-type': MANIFEST_TYPE, 'content-length': String(body.length), 'docker-content-digest': reference });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private basicUser(authorization: string): string | undefined {
    const m = /^Basic (.+)$/.exec(authorization);
    if (!m) return undefined;
    const [user, ...rest] = Buffer.from(m[1]!, 'base64').toString('utf8').split(':');
    return user && this.options.users?.[user] === rest.join(':') ? user : undefined;
  }

  private authorized(authorization: string, scope: string): boolean {
    if (this.options.auth === 'basic') return this.basicUser(authorization) !== undefined;
    const token = /^Bearer (.+)$/.exec(authorization)?.[1];
    return token !== undefined && (this.tokens.get(token)?.has(scope) ?? false);
  }

  private issue(scope: string): { token: string; access_token: string; expires_in: number; issued_at: string } {
    const token = randomBytes(16).toString('hex');
    this.tokens.set(token, new Set([scope]));
    return { token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() };
  }
}
