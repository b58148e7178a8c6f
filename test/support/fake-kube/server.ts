// A protocol-level fake Kubernetes API server for tests: a real HTTPS server on 127.0.0.1 with a
// test certificate, which `@kubernetes/client-node` and Debian's `kubectl` talk to unchanged.
// It implements the parts of the API Conveyor relies on, by the API's documented semantics:
//
// - legacy discovery (/api, /apis, /api/v1, /apis/<group>/<version>) and /version;
// - namespaces, and namespaced objects that need their namespace to exist;
// - create / get / list / update / merge and strategic-merge patch / delete / deletecollection;
// - server-side apply (PATCH application/apply-patch+yaml, `fieldManager`, `force`) with
//   managedFields per manager and 409 conflicts naming the field and the manager (fields.ts);
// - resourceVersion on every write, list resourceVersion, watch from a resourceVersion (410
//   Expired when it is older than the retained history), label and field selectors;
// - status subresources (writes to the main resource ignore `status`, and vice versa);
// - a Deployment controller that simulates rollouts and a Job controller whose pods run their
//   command as real local child processes, with pod logs (also `follow`) (controllers.ts);
// - bearer-token authentication, an authorizer hook (403 naming verb, resource, namespace) and
//   injected faults (429, 5xx, dropped connections) for retry tests.
//
// Every request is recorded and checked against the paths, verbs and content types the API
// defines; tests assert `violations()` is empty.
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { applyConfiguration, clone, isObject, jsonEqual, mergePatch, recordUpdate, type Conflict, type Json, type JsonObject } from './fields.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, findResource, groupVersion, openapiV3Root, openapiV3Spec, RESOURCES, type ResourceDef } from './resources.js';
import { testCertificate } from './test-cert.js';
import { Controllers, type RolloutPlan } from './controllers.js';

export type { RolloutPlan } from './controllers.js';
export type { Json, JsonObject } from './fields.js';

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  accept?: string;
  userAgent?: string;
  /** The API verb (get, list, watch, create, update, patch, delete…), when it was an API call. */
  verb?: string;
  status: number;
  /** When the request arrived (performance.now() ms). */
  at: number;
  /** How long the server took to answer (not set for streams). */
  ms?: number;
}

/** Attributes an authorizer decides on (as in a SubjectAccessReview). */
export interface RequestAttributes {
  user: string;
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** A fault injected into the next matching request. */
export type Fault = { kind: 'status'; code: 429 | 500 | 502 | 503 | 504; retryAfterSeconds?: number } | { kind: 'drop' };

/** Options for {@link FakeKube.start}. */
export interface FakeKubeOptions {
  /** Bearer token the fake accepts (default: a random one). */
  token?: string;
  /** The user name that token authenticates as (for 403 messages). */
  user?: string;
  /** Namespaces that exist from the start (default: default, kube-system). */
  namespaces?: string[];
  /** How each Deployment rollout goes (default: available after 30 ms). */
  rollout?: (deployment: JsonObject) => RolloutPlan;
  /** How many watch events are retained for watches from a resourceVersion (default 500). */
  historyLimit?: number;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface StoredEvent {
  rv: number;
  type: EventType;
  def: ResourceDef;
  object: JsonObject;
}
interface Watcher {
  def: ResourceDef;
  namespace?: string;
  matches: (o: JsonObject) => boolean;
  send: (type: EventType, o: JsonObject) => void;
}

/** An HTTP answer computed by a handler. */
interface Answer {
  status: number;
  body: Json | string;
  contentType?: string;
  headers?: Record<string, string>;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: JsonObject,
  ) {
    super(message);
  }
}

const PATCH_TYPES = ['application/apply-patch+yaml', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json'];
const BODY_TYPES = ['application/json', 'application/yaml'];

/** The fake API server. */
export class FakeKube {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Requests that broke the API's rules (wrong verb, content type, unknown API path). */
  private readonly problems: string[] = [];
  private readonly objects = new Map<string, JsonObject>();
  private readonly history: StoredEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly openResponses = new Set<ServerResponse>();
  private readonly faults: Array<{ fault: Fault; match?: (r: RecordedRequest) => boolean }> = [];
  private rv = 1000;
  private ipCounter = 10;
  /** Decides whether a request is allowed (default: everything). */
  authorizer: (attrs: RequestAttributes) => boolean = () => true;
  /** The controllers (rollouts, jobs, pods). */
  readonly controllers: Controllers;

  private constructor(
    private readonly server: Server,
    /** The base URL, e.g. `https://127.0.0.1:41234`. */
    readonly url: string,
    /** The CA certificate clients must trust. */
    readonly caPem: string,
    /** The bearer token the fake accepts. */
    readonly token: string,
    private readonly user: string,
    private readonly historyLimit: number,
    rollout: ((d: JsonObject) => RolloutPlan) | undefined,
  ) {
    this.controllers = new Controllers(this, rollout);
  }

  /** Starts a fake on a free port of 127.0.0.1. */
  static async start(options: FakeKubeOptions = {}): Promise<FakeKube> {
    const cert = await testCertificate();
    const server = createServer({ key: cert.keyPem, cert: cert.certPem });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeKube(server, `https://127.0.0.1:${port}`, cert.caPem, options.token ?? randomBytes(16).toString('hex'), options.user ?? 'system:serviceaccount:conveyor:deployer', options.historyLimit ?? 500, options.rollout);
    server.on('connection', (s: Socket) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    server.on('secureConnection', (s: Socket) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) fake.send(res, { status: 500, body: status(500, 'InternalError', String(err)) });
        else res.destroy();
      });
    });
    for (const ns of options.namespaces ?? ['default', 'kube-system']) fake.ensureNamespace(ns);
    return fake;
  }

  /** Stops the server, the controllers and every pod process. */
  async stop(): Promise<void> {
    await this.controllers.stop();
    for (const r of this.openResponses) r.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A kubeconfig (YAML) for this fake: its URL, its CA, the bearer token. */
  kubeconfig(namespace = 'default'): string {
    return toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: 'conveyor', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'conveyor', namespace } }],
      'current-context': 'fake',
    });
  }

  /** Writes {@link kubeconfig} to a file (for kubectl). */
  async writeKubeconfig(path: string, namespace = 'default'): Promise<void> {
    await writeFile(path, this.kubeconfig(namespace), { mode: 0o600 });
  }

  /** Requests that broke the API's rules; tests assert this is empty. */
  violations(): string[] {
    return [...this.problems];
  }

  /** Makes the next `count` requests (matching `match`, if given) fail with `fault`. */
  injectFault(fault: Fault, count = 1, match?: (r: RecordedRequest) => boolean): void {
    for (let i = 0; i < count; i++) this.faults.push({ fault, ...(match ? { match } : {}) });
  }

  /** Sets how later rollouts go. */
  setRollout(plan: (deployment: JsonObject) => RolloutPlan): void {
    this.controllers.rollout = plan;
  }

  /** A stored object (a copy), or undefined. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): JsonObject | undefined {
    const def = RESOURCES.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
    if (!def) return undefined;
    const o = this.objects.get(key(def, namespace, name));
    return o ? withKind(def, o) : undefined;
  }

  /** All stored objects of a kind (copies), optionally in one namespace. */
  list(apiVersion: string, kind: string, namespace?: string): JsonObject[] {
    const def = RESOURCES.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
    if (!def) return [];
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${def.group}|${def.resource}|${namespace ?? ''}`)).map(([, o]) => withKind(def, o));
  }

  /** Creates a namespace if it does not exist (test set-up). */
  ensureNamespace(name: string): void {
    const def = findResource('', 'v1', 'namespaces')!;
    if (this.objects.has(key(def, undefined, name))) return;
    const ns: JsonObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } };
    this.defaults(def, ns, undefined);
    this.commit(def, undefined, name, ns, 'ADDED');
  }

  // ---- used by the controllers -------------------------------------------------------------

  /** @internal Stored object by resource definition (the live copy: mutate only through the write helpers). */
  peek(def: ResourceDef, namespace: string | undefined, name: string): JsonObject | undefined {
    return this.objects.get(key(def, namespace, name));
  }

  /** @internal Every stored object of a resource. */
  all(def: ResourceDef): JsonObject[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${def.group}|${def.resource}|`)).map(([, o]) => o);
  }

  /** @internal A controller's status write (Update on the status subresource). */
  writeStatus(def: ResourceDef, namespace: string | undefined, name: string, statusValue: JsonObject, manager: string): void {
    const current = this.objects.get(key(def, namespace, name));
    if (!current) return;
    const next = clone(current);
    next['status'] = statusValue;
    if (jsonEqual(current['status'], next['status'])) return;
    recordUpdate(current, next, { manager, apiVersion: groupVersion(def), now: now(), excludeStatus: def.status, subresource: 'status' });
    this.commit(def, namespace, name, next, 'MODIFIED');
  }

  /** @internal A controller creating an object (an Update by `manager`). */
  createInternal(def: ResourceDef, namespace: string | undefined, obj: JsonObject, manager: string): JsonObject {
    const o = clone(obj);
    const meta = o['metadata'] as JsonObject;
    this.defaults(def, o, undefined);
    recordUpdate(undefined, o, { manager, apiVersion: groupVersion(def), now: now(), excludeStatus: def.status });
    this.commit(def, namespace, String(meta['name']), o, 'ADDED');
    return o;
  }

  /** @internal A controller deleting an object. */
  deleteInternal(def: ResourceDef, namespace: string | undefined, name: string): void {
    const o = this.objects.get(key(def, namespace, name));
    if (o) this.remove(def, namespace, name, o, 'Background');
  }

  // ---- HTTP --------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      ...(req.headers.accept ? { accept: req.headers.accept } : {}),
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
      status: 0,
      at: performance.now(),
    };
    this.requests.push(rec);
    const body = await readBody(req);
    const faultAt = this.faults.findIndex((f) => !f.match || f.match(rec));
    if (faultAt >= 0) {
      const [{ fault }] = this.faults.splice(faultAt, 1) as [{ fault: Fault }];
      if (fault.kind === 'drop') {
        rec.status = -1;
        req.socket.destroy();
        return;
      }
      const reason = fault.code === 429 ? 'TooManyRequests' : fault.code === 504 ? 'Timeout' : fault.code === 503 ? 'ServiceUnavailable' : 'InternalError';
      rec.status = fault.code;
      this.send(res, { status: fault.code, body: status(fault.code, reason, `injected ${fault.code}`), ...(fault.retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(fault.retryAfterSeconds) } } : {}) });
      return;
    }
    let answer: Answer | 'streamed';
    try {
      if (req.headers.authorization !== `Bearer ${this.token}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      answer = await this.route(req, res, url, body, rec);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      answer = { status: err.code, body: status(err.code, err.reason, err.message, err.details) };
    }
    if (answer === 'streamed') return;
    rec.status = answer.status;
    this.send(res, answer);
    rec.ms = performance.now() - rec.at;
  }

  private send(res: ServerResponse, a: Answer): void {
    const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
    res.writeHead(a.status, { 'content-type': a.contentType ?? 'application/json', 'content-length': Buffer.byteLength(text), ...(a.headers ?? {}) });
    res.end(text);
  }

  private violation(rec: RecordedRequest, why: string): void {
    this.problems.push(`${rec.method} ${rec.path}: ${why}`);
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, rec: RecordedRequest): Promise<Answer | 'streamed'> {
    const parts = url.pathname.split('/').filter(Boolean);
    const method = rec.method;
    const isDiscovery = (parts[0] === 'api' && parts.length <= 2) || (parts[0] === 'apis' && parts.length <= 3) || url.pathname === '/version' || parts[0] === 'openapi';
    if (isDiscovery) {
      // Discovery and OpenAPI documents are public on a real cluster's default RBAC (system:discovery).
      if (method !== 'GET') {
        this.violation(rec, 'discovery is read-only');
        throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      }
      rec.verb = 'get';
      let doc: object | undefined;
      if (parts[0] === 'openapi') {
        if (parts[1] !== 'v3') doc = undefined; // no OpenAPI v2: clients that support v3 use it
        else if (parts.length === 2) doc = openapiV3Root();
        else if (parts[2] === 'api' && parts.length === 4) doc = openapiV3Spec('', parts[3]!);
        else if (parts[2] === 'apis' && parts.length === 5) doc = openapiV3Spec(parts[3]!, parts[4]!);
      } else if (url.pathname === '/version') doc = { major: '1', minor: '32', gitVersion: 'v1.32.0-conveyor-fake', platform: 'linux/amd64' };
      else if (parts[0] === 'api') doc = parts.length === 1 ? apiVersions(new URL(this.url).host) : parts[1] === 'v1' ? apiResourceList('', 'v1') : undefined;
      else if (parts.length === 1) doc = apiGroupList();
      else if (parts.length === 2) doc = apiGroup(parts[1]!);
      else doc = apiResourceList(parts[1]!, parts[2]!);
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return { status: 200, body: doc as Json };
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api') [group, version, rest] = ['', parts[1]!, parts.slice(2)];
    else if (parts[0] === 'apis') [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
    else {
      // Not part of the resource API (e.g. /openapi/v3): a legitimate probe, answered 404.
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    let namespace: string | undefined;
    let resource: string;
    let name: string | undefined;
    let sub: string | undefined;
    let extra: string[];
    const nsResource = rest[0] === 'namespaces' && rest.length >= 3 ? findResource(group, version, rest[2]!) : undefined;
    if (nsResource?.namespaced) [namespace, resource, name, sub, extra] = [rest[1], rest[2]!, rest[3], rest[4], rest.slice(5)];
    else [resource, name, sub, extra] = [rest[0]!, rest[1], rest[2], rest.slice(3)];
    const def = findResource(group, version, resource);
    if (!def || extra.length > 0 || (sub !== undefined && sub !== 'status' && !(def.subresources ?? []).includes(sub)) || (sub === 'status' && !def.status)) {
      this.violation(rec, 'no such API path');
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (def.namespaced && name !== undefined && namespace === undefined) {
      this.violation(rec, 'a namespaced object addressed without its namespace');
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const watch = url.searchParams.get('watch');
    const isWatch = watch === 'true' || watch === '1';
    const verb =
      name === undefined
        ? ({ GET: isWatch ? 'watch' : 'list', POST: 'create', DELETE: 'deletecollection' } as Record<string, string>)[method]
        : sub === 'log'
          ? ({ GET: 'get' } as Record<string, string>)[method]
          : ({ GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method];
    if (!verb || (sub === 'status' && verb === 'delete')) {
      this.violation(rec, `method ${method} is not an API verb here`);
      throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
    rec.verb = verb;
    const ctype = (rec.contentType ?? '').split(';')[0]!.trim();
    if (verb === 'patch' && !PATCH_TYPES.includes(ctype)) {
      this.violation(rec, `PATCH with content type "${ctype}"`);
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
    }
    if ((verb === 'create' || verb === 'update') && !BODY_TYPES.includes(ctype)) {
      this.violation(rec, `${method} with content type "${ctype}"`);
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${BODY_TYPES.join(', ')}`);
    }
    if (url.searchParams.has('force') && !(verb === 'patch' && ctype === PATCH_TYPES[0])) {
      this.violation(rec, 'force is only valid for apply patches');
      throw new ApiError(400, 'BadRequest', 'force is only allowed for apply patches');
    }
    if (namespace !== undefined && !(def.resource === 'namespaces') && verb !== 'list' && verb !== 'watch' && verb !== 'get' && verb !== 'deletecollection') {
      // Writes into a namespace that does not exist fail the way the API server fails them.
      if ((verb === 'create' || verb === 'patch') && !this.objects.has(key(findResource('', 'v1', 'namespaces')!, undefined, namespace))) {
        throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
      }
    }
    const attrs: RequestAttributes = { user: this.user, verb, group: def.group, resource: def.resource, ...(sub ? { subresource: sub } : {}), ...(namespace !== undefined ? { namespace } : {}), ...(name !== undefined ? { name } : {}) };
    if (!this.authorizer(attrs)) throw forbidden(attrs, def);
    const q = url.searchParams;
    const dryRun = q.get('dryRun') === 'All';
    switch (verb) {
      case 'list':
        return { status: 200, body: this.listBody(def, namespace, q) };
      case 'watch':
        this.watch(req, res, def, namespace, q, rec);
        return 'streamed';
      case 'get':
        if (sub === 'log') return this.logs(req, res, def, namespace!, name!, q, rec);
        return { status: 200, body: this.mustGet(def, namespace, name!) };
      case 'create':
        return this.create(def, namespace, parseBody(body, ctype), q, rec, dryRun);
      case 'update':
        return this.update(def, namespace, name!, sub, parseBody(body, ctype), q, rec, dryRun);
      case 'patch':
        return this.patch(def, namespace, name!, sub, body, ctype, q, rec, dryRun);
      case 'delete':
        return this.delete(def, namespace, name!, body, q, dryRun);
      case 'deletecollection':
        return this.deleteCollection(def, namespace, q, dryRun);
      default:
        throw new ApiError(405, 'MethodNotAllowed', 'unsupported verb');
    }
  }

  private mustGet(def: ResourceDef, namespace: string | undefined, name: string): JsonObject {
    const o = this.objects.get(key(def, namespace, name));
    if (!o) throw notFound(def, name);
    return withKind(def, o);
  }

  private listBody(def: ResourceDef, namespace: string | undefined, q: URLSearchParams): JsonObject {
    const match = selectorMatcher(q);
    const items = this.all(def)
      .filter((o) => namespace === undefined || meta(o)['namespace'] === namespace)
      .filter(match)
      .sort((a, b) => `${meta(a)['namespace'] ?? ''}/${meta(a)['name']}`.localeCompare(`${meta(b)['namespace'] ?? ''}/${meta(b)['name']}`))
      .map((o) => {
        const c = clone(o);
        delete c['apiVersion'];
        delete c['kind'];
        return c;
      });
    return { kind: `${def.kind}List`, apiVersion: groupVersion(def), metadata: { resourceVersion: String(this.rv) }, items };
  }

  private watch(req: IncomingMessage, res: ServerResponse, def: ResourceDef, namespace: string | undefined, q: URLSearchParams, rec: RecordedRequest): void {
    rec.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // a watch answers at once, even before its first event
    this.openResponses.add(res);
    const write = (type: string, object: Json) => res.write(`${JSON.stringify({ type, object })}\n`);
    const match = selectorMatcher(q);
    const inScope = (o: JsonObject) => (namespace === undefined || meta(o)['namespace'] === namespace) && match(o);
    const from = q.get('resourceVersion');
    if (from && from !== '0') {
      const since = Number(from);
      const oldest = this.history[0]?.rv ?? this.rv;
      if (!Number.isFinite(since) || since < oldest - 1) {
        write('ERROR', status(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`));
        res.end();
        this.openResponses.delete(res);
        return;
      }
      for (const e of this.history) if (e.rv > since && e.def === def && inScope(e.object)) write(e.type, withKind(def, e.object));
    } else {
      for (const o of this.all(def)) if (inScope(o)) write('ADDED', withKind(def, o));
    }
    const watcher: Watcher = { def, ...(namespace !== undefined ? { namespace } : {}), matches: inScope, send: (type, o) => write(type, withKind(def, o)) };
    this.watchers.add(watcher);
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    const done = () => {
      if (timer) clearTimeout(timer);
      this.watchers.delete(watcher);
      this.openResponses.delete(res);
    };
    res.on('close', done);
    req.on('close', done);
  }

  private logs(req: IncomingMessage, res: ServerResponse, def: ResourceDef, namespace: string, name: string, q: URLSearchParams, rec: RecordedRequest): Answer | 'streamed' {
    const pod = this.objects.get(key(def, namespace, name));
    if (!pod) throw notFound(def, name);
    const main = String(((((pod['spec'] as JsonObject)['containers'] as JsonObject[]) ?? [])[0] ?? {})['name'] ?? '');
    const container = q.get('container') ?? main;
    const inits = (((pod['spec'] as JsonObject)['initContainers'] ?? []) as JsonObject[]).map((c) => String(c['name']));
    if (container !== main && !inits.includes(container)) throw new ApiError(400, 'BadRequest', `container ${container} is not valid for pod ${name}`);
    const log = this.controllers.podLog(namespace, name, container === main ? undefined : container);
    if (!log) throw new ApiError(400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ${inits.length > 0 && container === main ? 'PodInitializing' : 'ContainerCreating'}`);
    const follow = q.get('follow') === 'true';
    const tail = q.get('tailLines');
    const select = (text: string) => {
      if (tail === null) return text;
      const lines = text.split(/(?<=\n)/);
      return lines.slice(Math.max(0, lines.length - Number(tail))).join('');
    };
    if (!follow || log.done) return { status: 200, body: select(log.text()), contentType: 'text/plain' };
    rec.status = 200;
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    this.openResponses.add(res);
    res.write(select(log.text()));
    const off = log.subscribe(
      (chunk) => res.write(chunk),
      () => res.end(),
    );
    const done = () => {
      off();
      this.openResponses.delete(res);
    };
    res.on('close', done);
    req.on('close', done);
    return 'streamed';
  }

  private create(def: ResourceDef, namespace: string | undefined, obj: JsonObject, q: URLSearchParams, rec: RecordedRequest, dryRun: boolean): Answer {
    checkKind(def, obj, false);
    const m = (obj['metadata'] ??= {}) as JsonObject;
    if (!m['name'] && typeof m['generateName'] === 'string') m['name'] = `${m['generateName']}${randomBytes(3).toString('hex').slice(0, 5)}`;
    const name = String(m['name'] ?? '');
    checkNamespace(def, namespace, m);
    if (this.objects.has(key(def, namespace, name))) throw new ApiError(409, 'AlreadyExists', `${qualified(def)} "${name}" already exists`, { name, group: def.group, kind: def.resource });
    const o = clone(obj);
    if (def.status) delete o['status'];
    delete (o['metadata'] as JsonObject)['managedFields'];
    this.defaults(def, o, undefined);
    validate(def, o);
    recordUpdate(undefined, o, { manager: managerOf(q, rec), apiVersion: groupVersion(def), now: now(), excludeStatus: def.status });
    if (!dryRun) this.commit(def, namespace, name, o, 'ADDED');
    return { status: 201, body: withKind(def, o) };
  }

  private update(def: ResourceDef, namespace: string | undefined, name: string, sub: string | undefined, obj: JsonObject, q: URLSearchParams, rec: RecordedRequest, dryRun: boolean): Answer {
    checkKind(def, obj, false);
    const m = (obj['metadata'] ??= {}) as JsonObject;
    checkNamespace(def, namespace, m);
    if (m['name'] !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${String(m['name'])}) does not match the name on the URL (${name})`);
    const current = this.objects.get(key(def, namespace, name));
    if (!current) throw notFound(def, name);
    if (m['resourceVersion'] !== undefined && m['resourceVersion'] !== meta(current)['resourceVersion']) throw modified(def, name);
    return this.write(def, namespace, name, current, obj, sub, managerOf(q, rec), dryRun);
  }

  private patch(def: ResourceDef, namespace: string | undefined, name: string, sub: string | undefined, raw: Buffer, ctype: string, q: URLSearchParams, rec: RecordedRequest, dryRun: boolean): Answer {
    const current = this.objects.get(key(def, namespace, name));
    if (ctype === 'application/apply-patch+yaml') {
      const manager = q.get('fieldManager');
      if (!manager) throw new ApiError(400, 'BadRequest', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
      const applied = parseBody(raw, 'application/yaml');
      checkKind(def, applied);
      const m = (applied['metadata'] ??= {}) as JsonObject;
      checkNamespace(def, namespace, m);
      if (m['name'] !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${String(m['name'])}) does not match the name on the URL (${name})`);
      if (current && m['resourceVersion'] !== undefined && m['resourceVersion'] !== meta(current)['resourceVersion']) throw modified(def, name);
      delete m['resourceVersion'];
      const force = q.get('force') === 'true';
      if (sub === 'status') {
        if (!current) throw notFound(def, name);
        const outcome = applyConfiguration(current, { status: (applied['status'] ?? {}) as Json }, { manager, force, apiVersion: groupVersion(def), now: now(), excludeStatus: false });
        if (!outcome.ok) throw conflictError(def, name, outcome.conflicts);
        return this.finish(def, namespace, name, current, outcome.object, dryRun);
      }
      const outcome = applyConfiguration(current, applied, { manager, force, apiVersion: groupVersion(def), now: now(), excludeStatus: def.status });
      if (!outcome.ok) throw conflictError(def, name, outcome.conflicts);
      const next = outcome.object;
      if (current && def.status) next['status'] = clone(current['status'] ?? {});
      this.defaults(def, next, current);
      validate(def, next);
      return this.finish(def, namespace, name, current, next, dryRun);
    }
    if (!current) throw notFound(def, name);
    if (ctype === 'application/json-patch+json') {
      const ops = JSON.parse(raw.toString('utf8')) as Json;
      const next = applyJsonPatch(withKind(def, current), ops);
      return this.write(def, namespace, name, current, next, sub, managerOf(q, rec), dryRun);
    }
    const patchBody = parseBody(raw, 'application/json');
    const next = mergePatch(withKind(def, current), patchBody, ctype === 'application/strategic-merge-patch+json') as JsonObject;
    const pm = next['metadata'] as JsonObject;
    if (pm['resourceVersion'] !== meta(current)['resourceVersion']) throw modified(def, name);
    return this.write(def, namespace, name, current, next, sub, managerOf(q, rec), dryRun);
  }

  /** An Update-operation write (PUT or non-apply PATCH) of the main resource or its status. */
  private write(def: ResourceDef, namespace: string | undefined, name: string, current: JsonObject, proposed: JsonObject, sub: string | undefined, manager: string, dryRun: boolean): Answer {
    let next: JsonObject;
    if (sub === 'status') {
      next = clone(current);
      next['status'] = clone((proposed['status'] ?? {}) as Json);
    } else {
      next = clone(proposed);
      if (def.status) next['status'] = clone(current['status'] ?? {});
      const nm = next['metadata'] as JsonObject;
      const cm = meta(current);
      for (const k of ['uid', 'creationTimestamp', 'generation', 'resourceVersion', 'managedFields']) {
        if (cm[k] === undefined) delete nm[k];
        else nm[k] = clone(cm[k]!);
      }
      this.defaults(def, next, current);
      validate(def, next);
    }
    recordUpdate(current, next, { manager, apiVersion: groupVersion(def), now: now(), excludeStatus: def.status, ...(sub === 'status' ? { subresource: 'status' as const } : {}) });
    return this.finish(def, namespace, name, current, next, dryRun);
  }

  private finish(def: ResourceDef, namespace: string | undefined, name: string, current: JsonObject | undefined, next: JsonObject, dryRun: boolean): Answer {
    if (current) {
      const before = clone(current);
      const after = clone(next);
      for (const o of [before, after]) {
        delete (o['metadata'] as JsonObject)['resourceVersion'];
        for (const k of ['managedFields']) delete (o['metadata'] as JsonObject)[k];
      }
      // An unchanged object is not written again: no new resourceVersion, no watch event.
      if (jsonEqual(before, after) && jsonEqual(meta(current)['managedFields'], meta(next)['managedFields'])) return { status: 200, body: withKind(def, current) };
      if (def.generation && !jsonEqual(specOf(current), specOf(next))) (next['metadata'] as JsonObject)['generation'] = Number(meta(current)['generation'] ?? 1) + 1;
    }
    if (!dryRun) this.commit(def, namespace, name, next, current ? 'MODIFIED' : 'ADDED');
    return { status: current ? 200 : 201, body: withKind(def, next) };
  }

  private delete(def: ResourceDef, namespace: string | undefined, name: string, raw: Buffer, q: URLSearchParams, dryRun: boolean): Answer {
    const current = this.objects.get(key(def, namespace, name));
    if (!current) throw notFound(def, name);
    let policy = q.get('propagationPolicy') ?? undefined;
    if (raw.length > 0) {
      const opts = JSON.parse(raw.toString('utf8')) as JsonObject;
      if (typeof opts['propagationPolicy'] === 'string') policy = opts['propagationPolicy'];
      const pre = opts['preconditions'];
      if (isObject(pre) && pre['resourceVersion'] !== undefined && pre['resourceVersion'] !== meta(current)['resourceVersion']) throw modified(def, name);
    }
    // Jobs orphan their pods unless told otherwise (the API's historical default); everything else cascades.
    policy ??= def.resource === 'jobs' ? 'Orphan' : 'Background';
    if (!dryRun) this.remove(def, namespace, name, current, policy);
    return { status: 200, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: def.group, kind: def.resource, uid: meta(current)['uid'] ?? null } } };
  }

  private deleteCollection(def: ResourceDef, namespace: string | undefined, q: URLSearchParams, dryRun: boolean): Answer {
    const body = this.listBody(def, namespace, q);
    if (!dryRun) {
      for (const item of body['items'] as JsonObject[]) {
        const m = meta(item);
        const current = this.objects.get(key(def, m['namespace'] as string | undefined, String(m['name'])));
        if (current) this.remove(def, m['namespace'] as string | undefined, String(m['name']), current, 'Background');
      }
    }
    return { status: 200, body };
  }

  private remove(def: ResourceDef, namespace: string | undefined, name: string, current: JsonObject, policy: string): void {
    this.commit(def, namespace, name, null, 'DELETED', current);
    const uid = meta(current)['uid'];
    if (def.resource === 'namespaces') {
      for (const [k, o] of [...this.objects.entries()]) {
        if (meta(o)['namespace'] !== name) continue;
        const [g, r] = k.split('|') as [string, string];
        const d = RESOURCES.find((x) => x.group === g && x.resource === r)!;
        this.remove(d, name, String(meta(o)['name']), o, 'Background');
      }
    } else if (policy !== 'Orphan') {
      for (const [k, o] of [...this.objects.entries()]) {
        const owners = meta(o)['ownerReferences'];
        if (!Array.isArray(owners) || !owners.some((r) => isObject(r) && r['uid'] === uid)) continue;
        const [g, r] = k.split('|') as [string, string];
        const d = RESOURCES.find((x) => x.group === g && x.resource === r)!;
        this.remove(d, meta(o)['namespace'] as string | undefined, String(meta(o)['name']), o, policy);
      }
    }
    this.controllers.deleted(def, current);
  }

  private commit(def: ResourceDef, namespace: string | undefined, name: string, obj: JsonObject | null, type: EventType, previous?: JsonObject): void {
    this.rv += 1;
    const k = key(def, namespace, name);
    let eventObject: JsonObject;
    if (obj) {
      (obj['metadata'] as JsonObject)['resourceVersion'] = String(this.rv);
      const stored = withKind(def, obj);
      this.objects.set(k, stored);
      eventObject = stored;
    } else {
      this.objects.delete(k);
      eventObject = clone(previous!);
      (eventObject['metadata'] as JsonObject)['resourceVersion'] = String(this.rv);
    }
    this.history.push({ rv: this.rv, type, def, object: eventObject });
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    for (const w of this.watchers) if (w.def === def && w.matches(eventObject)) w.send(type, eventObject);
    if (obj) this.controllers.changed(def, obj);
  }

  /** Server-side defaults and identity metadata. */
  private defaults(def: ResourceDef, o: JsonObject, current: JsonObject | undefined): void {
    const m = (o['metadata'] ??= {}) as JsonObject;
    if (def.namespaced && m['namespace'] === undefined) throw new ApiError(400, 'BadRequest', 'an empty namespace may not be set during creation');
    m['uid'] ??= current ? (meta(current)['uid'] ?? randomUUID()) : randomUUID();
    m['creationTimestamp'] ??= current ? (meta(current)['creationTimestamp'] ?? now()) : now();
    if (def.generation) m['generation'] ??= current ? (meta(current)['generation'] ?? 1) : 1;
    const spec = (o['spec'] ??= {}) as JsonObject;
    switch (def.kind) {
      case 'Namespace':
        spec['finalizers'] ??= ['kubernetes'];
        o['status'] = { phase: 'Active' };
        break;
      case 'Deployment':
        spec['replicas'] ??= 1;
        spec['progressDeadlineSeconds'] ??= 600;
        spec['revisionHistoryLimit'] ??= 10;
        spec['strategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
        break;
      case 'Job': {
        spec['backoffLimit'] ??= 6;
        spec['completions'] ??= 1;
        spec['parallelism'] ??= 1;
        const uid = String(m['uid']);
        spec['selector'] ??= { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
        const template = (spec['template'] ??= {}) as JsonObject;
        const tm = (template['metadata'] ??= {}) as JsonObject;
        const labels = (tm['labels'] ??= {}) as JsonObject;
        Object.assign(labels, { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': String(m['name']), 'controller-uid': uid, 'job-name': String(m['name']) });
        break;
      }
      case 'Service':
        spec['type'] ??= 'ClusterIP';
        spec['clusterIP'] ??= current ? ((current['spec'] as JsonObject)['clusterIP'] ?? null) : `10.96.0.${this.ipCounter++}`;
        break;
      case 'ConfigMap':
      case 'Secret':
      case 'ServiceAccount':
        if (Object.keys(spec).length === 0) delete o['spec'];
        break;
      default:
        break;
    }
    if (def.status && o['status'] === undefined) o['status'] = {};
  }
}

// ---- helpers -------------------------------------------------------------------------------

function key(def: ResourceDef, namespace: string | undefined, name: string): string {
  return `${def.group}|${def.resource}|${def.namespaced ? (namespace ?? '') : ''}|${name}`;
}

function meta(o: JsonObject): JsonObject {
  return (o['metadata'] ?? {}) as JsonObject;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function withKind(def: ResourceDef, o: JsonObject): JsonObject {
  const { apiVersion: _a, kind: _k, ...rest } = clone(o);
  return { apiVersion: groupVersion(def), kind: def.kind, ...rest };
}

function specOf(o: JsonObject): JsonObject {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

function qualified(def: ResourceDef): string {
  return def.group ? `${def.resource}.${def.group}` : def.resource;
}

/** A Kubernetes Status object. */
export function status(code: number, reason: string, message: string, details?: JsonObject): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function notFound(def: ResourceDef, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(def)} "${name}" not found`, { name, group: def.group, kind: def.resource });
}

function modified(def: ResourceDef, name: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: def.group, kind: def.resource });
}

function forbidden(a: RequestAttributes, def: ResourceDef): ApiError {
  const what = a.name ? `${qualified(def)} "${a.name}"` : qualified(def);
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace !== undefined ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
  return new ApiError(403, 'Forbidden', `${what} is forbidden: User "${a.user}" cannot ${a.verb} resource "${res}" in API group "${a.group}"${where}`, { ...(a.name ? { name: a.name } : {}), group: a.group, kind: a.resource });
}

function conflictError(def: ResourceDef, name: string, conflicts: Conflict[]): ApiError {
  const who = (c: Conflict) => `"${c.manager}"${c.subresource ? ` with subresource "${c.subresource}"` : ''}${c.operation === 'Update' ? ` using ${c.apiVersion}` : ''}`;
  const byManager = new Map<string, Conflict[]>();
  for (const c of conflicts) byManager.set(who(c), [...(byManager.get(who(c)) ?? []), c]);
  const message =
    conflicts.length === 1
      ? `Apply failed with 1 conflict: conflict with ${who(conflicts[0]!)}: ${conflicts[0]!.field}`
      : `Apply failed with ${conflicts.length} conflicts: ${[...byManager.entries()].map(([w, cs]) => `conflicts with ${w}:\n${cs.map((c) => `- ${c.field}`).join('\n')}`).join('\n')}`;
  return new ApiError(409, 'Conflict', message, {
    name,
    group: def.group,
    kind: def.resource,
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${who(c)}`, field: c.field })),
  });
}

function checkKind(def: ResourceDef, o: JsonObject, required = true): void {
  // Create and update bodies may leave apiVersion and kind out (the URL says them); apply may not.
  if (!required) {
    o['apiVersion'] ??= groupVersion(def);
    o['kind'] ??= def.kind;
  }
  if (o['apiVersion'] !== groupVersion(def) || o['kind'] !== def.kind) {
    throw new ApiError(400, 'BadRequest', `the API version in the data (${String(o['apiVersion'])}) does not match the expected API version (${groupVersion(def)}) or kind (${String(o['kind'])}) does not match ${def.kind}`);
  }
}

function checkNamespace(def: ResourceDef, namespace: string | undefined, m: JsonObject): void {
  if (!def.namespaced) {
    delete m['namespace'];
    return;
  }
  if (m['namespace'] === undefined || m['namespace'] === '') m['namespace'] = namespace ?? null;
  else if (m['namespace'] !== namespace) throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function invalid(def: ResourceDef, name: string, field: string, message: string): ApiError {
  return new ApiError(422, 'Invalid', `${def.kind}${def.group ? `.${def.group}` : ''} "${name}" is invalid: ${field}: ${message}`, {
    name,
    group: def.group,
    kind: def.kind,
    causes: [{ reason: 'FieldValueInvalid', message, field }],
  });
}

function validate(def: ResourceDef, o: JsonObject): void {
  const m = meta(o);
  const name = String(m['name'] ?? '');
  if (!name || name.length > 253 || !DNS_SUBDOMAIN.test(name)) throw invalid(def, name, 'metadata.name', `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`);
  const spec = (o['spec'] ?? {}) as JsonObject;
  if (def.kind === 'Deployment' || def.kind === 'Job') {
    const template = (spec['template'] ?? {}) as JsonObject;
    const podSpec = (template['spec'] ?? {}) as JsonObject;
    const containers = podSpec['containers'];
    if (!Array.isArray(containers) || containers.length === 0) throw invalid(def, name, 'spec.template.spec.containers', 'Required value');
    containers.forEach((c, i) => {
      if (!isObject(c) || typeof c['name'] !== 'string') throw invalid(def, name, `spec.template.spec.containers[${i}].name`, 'Required value');
      if (typeof c['image'] !== 'string' || c['image'] === '') throw invalid(def, name, `spec.template.spec.containers[${i}].image`, 'Required value');
    });
    if (def.kind === 'Deployment') {
      const selector = spec['selector'];
      const matchLabels = isObject(selector) && isObject(selector['matchLabels']) ? selector['matchLabels'] : undefined;
      if (!matchLabels) throw invalid(def, name, 'spec.selector', 'Required value');
      const labels = ((template['metadata'] ?? {}) as JsonObject)['labels'];
      if (!isObject(labels) || !Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) throw invalid(def, name, 'spec.template.metadata.labels', 'Invalid value: `selector` does not match template `labels`');
    } else if (!['Never', 'OnFailure'].includes(String(podSpec['restartPolicy']))) {
      throw invalid(def, name, 'spec.template.spec.restartPolicy', `Unsupported value: "${String(podSpec['restartPolicy'] ?? 'Always')}": supported values: "OnFailure", "Never"`);
    }
  }
}

function managerOf(q: URLSearchParams, rec: RecordedRequest): string {
  const explicit = q.get('fieldManager');
  if (explicit) return explicit;
  // As the API server does: the user agent up to the first '/'.
  return (rec.userAgent ?? 'unknown').split('/')[0]!.slice(0, 128);
}

function parseBody(raw: Buffer, ctype: string): JsonObject {
  const text = raw.toString('utf8');
  let v: unknown;
  try {
    v = ctype === 'application/yaml' ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `the body of the request could not be decoded: ${String(err)}`);
  }
  if (!isObject(v)) throw new ApiError(400, 'BadRequest', 'the body of the request must be an object');
  return v;
}

function applyJsonPatch(target: JsonObject, ops: Json): JsonObject {
  if (!Array.isArray(ops)) throw new ApiError(400, 'BadRequest', 'a JSON patch must be an array');
  const doc = clone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op['path'] !== 'string') throw new ApiError(400, 'BadRequest', 'invalid JSON patch operation');
    const tokens = op['path'].split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    let parent: Json | undefined = doc;
    for (const t of tokens) parent = Array.isArray(parent) ? parent[Number(t)] : isObject(parent) ? parent[t] : undefined;
    if (last === undefined || parent === undefined || parent === null || typeof parent !== 'object') throw new ApiError(422, 'Invalid', `the path "${op['path']}" does not exist`);
    const value = clone((op['value'] ?? null) as Json);
    if (op['op'] === 'remove') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (op['op'] === 'add' || op['op'] === 'replace') {
      if (Array.isArray(parent)) {
        if (last === '-') parent.push(value);
        else if (op['op'] === 'add') parent.splice(Number(last), 0, value);
        else parent[Number(last)] = value;
      } else parent[last] = value;
    } else if (op['op'] === 'test') {
      const cur = Array.isArray(parent) ? parent[Number(last)] : parent[last];
      if (!jsonEqual(cur, value)) throw new ApiError(422, 'Invalid', `the test operation on "${op['path']}" failed`);
    } else throw new ApiError(400, 'BadRequest', `unsupported JSON patch operation "${String(op['op'])}"`);
  }
  return doc;
}

/** A predicate for `labelSelector` and `fieldSelector` query parameters. */
function selectorMatcher(q: URLSearchParams): (o: JsonObject) => boolean {
  const labelSel = q.get('labelSelector') ?? '';
  const fieldSel = q.get('fieldSelector') ?? '';
  const labelReqs = splitSelector(labelSel).map(parseRequirement);
  const fieldReqs = splitSelector(fieldSel).map(parseRequirement);
  return (o) => {
    const labels = (meta(o)['labels'] ?? {}) as JsonObject;
    const fields: Record<string, string> = { 'metadata.name': String(meta(o)['name']), 'metadata.namespace': String(meta(o)['namespace'] ?? '') };
    const phase = ((o['status'] ?? {}) as JsonObject)['phase'];
    if (typeof phase === 'string') fields['status.phase'] = phase;
    return labelReqs.every((r) => r(labels as Record<string, Json>)) && fieldReqs.every((r) => r(fields));
  };
}

function splitSelector(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function parseRequirement(req: string): (values: Record<string, Json>) => boolean {
  const setMatch = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req);
  if (setMatch) {
    const [, k, op, list] = setMatch as unknown as [string, string, string, string];
    const values = list.split(',').map((v) => v.trim());
    return (vals) => (op === 'in' ? values.includes(String(vals[k])) && vals[k] !== undefined : vals[k] === undefined || !values.includes(String(vals[k])));
  }
  const eq = /^([^!=]+)(==|=|!=)(.*)$/.exec(req);
  if (eq) {
    const [, k, op, v] = eq as unknown as [string, string, string, string];
    return (vals) => (op === '!=' ? String(vals[k.trim()] ?? '') !== v.trim() || vals[k.trim()] === undefined : vals[k.trim()] !== undefined && String(vals[k.trim()]) === v.trim());
  }
  if (req.startsWith('!')) return (vals) => vals[req.slice(1)] === undefined;
  return (vals) => vals[req] !== undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
