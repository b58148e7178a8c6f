/**
 * HTTP trigger dispatch: routing, auth levels, body limit, building the app's `HttpRequest`
 * and writing what the handler returns. Kept lean on purpose: it is the hot path the HTTP
 * benchmark measures (plain `HttpResponseInit` results with string/bytes/JSON bodies are
 * written directly; anything else goes through the app's own `HttpResponse`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { serialize as serializeCookie } from 'cookie';
import type { HostExtension } from './extension.js';
import type { FunctionsLibrary } from './app-loader.js';
import { HOST_VERSION } from './functions-core.js';
import type { FunctionEntry, Invoker } from './invoker.js';
import type { KeyStore } from './keys.js';
import type { ConsoleLogger } from './logger.js';
import { sendProblem } from './problem.js';
import type { RouteTable } from './routes.js';

/** Default request body limit: 100 MB, as on Azure (`FUNCTIONS_REQUEST_BODY_SIZE_LIMIT`). */
export const DEFAULT_MAX_BODY_BYTES = 104_857_600;

export interface HttpTarget {
  fn: FunctionEntry;
  authLevel: 'anonymous' | 'function' | 'admin';
}

export interface HttpDispatchOptions {
  routes: RouteTable<HttpTarget>;
  keys: KeyStore;
  invoker: Invoker;
  lib: FunctionsLibrary;
  logger: ConsoleLogger;
  maxBodyBytes: number;
  extensionRoutes: readonly { prefix: string; systemKeyName: string; ext: HostExtension }[];
  origin: () => string;
  /** `Running` or `Stopping`, for the admin status endpoint. */
  status: () => string;
}

type Body = Buffer | null;

function keyFrom(req: IncomingMessage, query: string): string | undefined {
  const h = req.headers['x-functions-key'];
  if (typeof h === 'string' && h) return h;
  if (query) {
    // Only the `code` parameter matters; avoid building URLSearchParams for every request.
    for (const pair of query.split('&')) {
      if (pair.startsWith('code=')) {
        try {
          return decodeURIComponent(pair.slice(5).replace(/\+/g, ' '));
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}

/** Reads the whole body as bytes (untouched: signatures are computed over them). */
function readBody(req: IncomingMessage, limit: number): Promise<Body | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!done) reject(err);
    });
  });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const raw = req.headers;
  // Node joins repeated request headers into one string, except set-cookie (an array).
  if (raw['set-cookie'] === undefined) return raw as Record<string, string>;
  const out: Record<string, string> = {};
  for (const k in raw) {
    const v = raw[k];
    if (v !== undefined) out[k] = typeof v === 'string' ? v : v.join(', ');
  }
  return out;
}

/**
 * Stands in for the fetch `Request` inside the app's `HttpRequest`. Building an undici
 * `Request` for every call costs more than the rest of the dispatch together (an AbortSignal,
 * a header list, a body stream), and most handlers never touch the body stream. This creates
 * the real `Request` only when the body is read; url, method and headers are served directly.
 * `HttpRequest` accepts it through its `nativeRequest` init (the same hook its `clone()` uses).
 */
export class LazyNativeRequest {
  readonly url: string;
  readonly method: string;
  readonly #rawHeaders: Record<string, string>;
  readonly #bytes: Buffer | null;
  #headers?: Headers;
  #real?: Request;

  constructor(url: string, method: string, headers: Record<string, string>, bytes: Buffer | null) {
    this.url = url;
    this.method = method;
    this.#rawHeaders = headers;
    this.#bytes = bytes;
  }

  get headers(): Headers {
    return (this.#headers ??= this.#real ? this.#real.headers : new Headers(this.#rawHeaders));
  }

  #realize(): Request {
    if (!this.#real) {
      this.#real = new Request(this.url, { method: this.method, headers: this.headers, body: this.#bytes ?? undefined });
      this.#headers = this.#real.headers;
    }
    return this.#real;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#bytes ? this.#realize().body : null;
  }
  get bodyUsed(): boolean {
    return this.#real ? this.#real.bodyUsed : false;
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#realize().arrayBuffer();
  }
  blob(): Promise<Blob> {
    return this.#realize().blob();
  }
  formData(): Promise<FormData> {
    return this.#realize().formData();
  }
  json(): Promise<unknown> {
    return this.#realize().json();
  }
  text(): Promise<string> {
    return this.#realize().text();
  }
  clone(): Request {
    return this.#realize().clone();
  }
}

const NO_BODY_STATUS = new Set([204, 205, 304]);
const EMPTY_QUERY: Readonly<Record<string, string>> = Object.freeze({});

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function cookieHeaders(cookies: unknown): string[] {
  if (!Array.isArray(cookies)) return [];
  return cookies.map((c: Record<string, any>) =>
    serializeCookie(String(c.name), String(c.value ?? ''), {
      domain: c.domain,
      path: c.path,
      expires: c.expires === undefined ? undefined : new Date(c.expires),
      secure: c.secure,
      httpOnly: c.httpOnly,
      sameSite: typeof c.sameSite === 'string' ? (c.sameSite.toLowerCase() as 'lax' | 'strict' | 'none') : undefined,
      maxAge: c.maxAge,
      // The cookie library would percent-encode; Azure passes values through as given.
      encode: (s: string) => s,
    }),
  );
}

/** Writes a handler result (an `HttpResponse`, an `HttpResponseInit` or nothing). */
export function writeResult(res: ServerResponse, result: unknown, lib: FunctionsLibrary, head: boolean): Promise<void> | undefined {
  if (result === undefined || result === null) {
    res.writeHead(204);
    res.end();
    return;
  }
  if (typeof result !== 'object') {
    throw new TypeError('The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".');
  }
  if (isPlainObject(result)) {
    const init = result;
    const body = init.body;
    const headers = init.headers;
    const simpleBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    if (simpleBody && (headers === undefined || isPlainObject(headers))) {
      const status = init.status === undefined ? 200 : Number(init.status);
      let payload: string | Uint8Array | undefined;
      let contentType: string | undefined;
      if (init.jsonBody !== undefined) {
        payload = JSON.stringify(init.jsonBody);
        contentType = 'application/json';
      } else if (typeof body === 'string') {
        payload = body;
        contentType = 'text/plain;charset=UTF-8';
      } else if (body) payload = body as Uint8Array;
      if (NO_BODY_STATUS.has(status)) payload = undefined;
      if (headers === undefined && !init.cookies && payload !== undefined) {
        // The common case (no custom headers): one writeHead with a flat header list, the
        // cheapest way through node:http.
        const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
        res.writeHead(status, contentType ? ['content-type', contentType, 'content-length', String(length)] : ['content-length', String(length)]);
        res.end(head ? undefined : payload);
        return;
      }
      if (headers) for (const k in headers) res.setHeader(k, String((headers as Record<string, unknown>)[k]));
      if (contentType && !res.hasHeader('content-type')) res.setHeader('content-type', contentType);
      if (init.cookies) appendSetCookie(res, cookieHeaders(init.cookies));
      if (payload === undefined) {
        res.statusCode = status;
        res.end();
        return;
      }
      res.setHeader('content-length', typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength);
      res.statusCode = status;
      res.end(head ? undefined : payload);
      return;
    }
  }
  const response = result instanceof lib.HttpResponse ? result : looksLikeResponse(result) ? result : new lib.HttpResponse(result as Record<string, unknown>);
  res.statusCode = response.status;
  const h = response.headers as Headers;
  for (const [k, v] of h) if (k !== 'set-cookie') res.setHeader(k, v);
  appendSetCookie(res, [...(typeof h.getSetCookie === 'function' ? h.getSetCookie() : []), ...cookieHeaders(response.cookies)]);
  const stream = response.body as ReadableStream<Uint8Array> | null;
  if (!stream || head || NO_BODY_STATUS.has(response.status)) {
    res.end();
    return;
  }
  return pipeline(Readable.fromWeb(stream as import('node:stream/web').ReadableStream<Uint8Array>), res);
}

function appendSetCookie(res: ServerResponse, values: string[]): void {
  if (values.length === 0) return;
  const existing = res.getHeader('set-cookie');
  const prior = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader('set-cookie', [...prior, ...values]);
}

function looksLikeResponse(v: any): boolean {
  return typeof v?.status === 'number' && typeof v?.headers?.get === 'function' && 'body' in v && typeof v.arrayBuffer === 'function';
}

/** Builds the `(req, res)` listener for the host's HTTP server. */
export function createHttpDispatcher(o: HttpDispatchOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const extPrefixes = o.extensionRoutes.map((r) => ({ ...r, lower: r.prefix.toLowerCase() }));

  async function handleExtension(route: (typeof extPrefixes)[number], req: IncomingMessage, res: ServerResponse, query: string, path: string) {
    const key = keyFrom(req, query);
    if (!key || !o.keys.allowsSystem(route.systemKeyName, key)) {
      sendProblem(res, { status: 401, detail: 'A valid system key is required for this endpoint.', instance: path });
      return;
    }
    if (!route.ext.handleHttp) {
      sendProblem(res, { status: 404, detail: 'No handler for this endpoint.', instance: path });
      return;
    }
    try {
      await route.ext.handleHttp(req, res, new URL(req.url ?? '/', o.origin()));
    } catch (err) {
      o.logger.error(`extension '${route.ext.name}' failed on ${req.method} ${path}`, { error: err });
      sendProblem(res, { status: 500, detail: 'The extension failed to handle the request.', instance: path });
    }
  }

  async function handleFunction(target: HttpTarget, params: Record<string, string>, req: IncomingMessage, res: ServerResponse, query: string, path: string) {
    const method = req.method ?? 'GET';
    if (target.authLevel !== 'anonymous') {
      const key = keyFrom(req, query);
      const ok = key !== undefined && (target.authLevel === 'admin' ? o.keys.isMaster(key) : o.keys.allowsFunction(key));
      if (!ok) {
        sendProblem(res, {
          status: 401,
          detail: `This function requires ${target.authLevel === 'admin' ? 'the master key' : 'a function key'} in the x-functions-key header or the code query parameter.`,
          instance: path,
        });
        return;
      }
    }

    let body: Body = null;
    if (method !== 'GET' && method !== 'HEAD') {
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > o.maxBodyBytes) {
        res.setHeader('connection', 'close');
        sendProblem(res, { status: 413, detail: `The request body exceeds the limit of ${o.maxBodyBytes} bytes.`, instance: path });
        return;
      }
      if (declared !== '0' && (declared !== undefined || req.headers['transfer-encoding'] !== undefined)) {
        const read = await readBody(req, o.maxBodyBytes);
        if (read === 'too-large') {
          res.setHeader('connection', 'close');
          sendProblem(res, { status: 413, detail: `The request body exceeds the limit of ${o.maxBodyBytes} bytes.`, instance: path });
          return;
        }
        body = read;
      }
    }

    const host = req.headers.host;
    let request: unknown;
    try {
      const url = host && /^[\w.\-:[\]]+$/.test(host) ? `http://${host}${req.url}` : `${o.origin()}${req.url}`;
      const headers = flatHeaders(req);
      request = new o.lib.HttpRequest({
        method,
        url,
        headers,
        params,
        // Without a query string an empty record spares HttpRequest a URL parse; with one, the
        // query is left to the URL so repeated keys keep all their values.
        query: query === '' ? EMPTY_QUERY : undefined,
        body: body ? { bytes: body } : undefined,
        nativeRequest: new LazyNativeRequest(url, method, headers, body),
      });
    } catch (err) {
      sendProblem(res, { status: 400, detail: `The request could not be read: ${(err as Error).message}`, instance: path });
      return;
    }

    const fn = target.fn;
    // Timing is only taken when it will be logged (debug) or on failure: keep the hot path lean.
    const started = fn.logger.enabled('debug') ? performance.now() : 0;
    const invocationId = randomUUID();
    try {
      // The whole request is already counted in flight (see the dispatcher below).
      const outcome = await o.invoker.invokeUntracked(fn, request, { invocationId });
      let result = outcome.result;
      if (result === undefined) {
        // A function without a $return may set its HTTP response through an http output binding.
        const out = fn.effectiveOptions.extraOutputs.find((b) => b.type.toLowerCase() === 'http');
        if (out) result = outcome.context.extraOutputs.get(out.name);
      }
      // Only streamed bodies return a promise; plain results are written synchronously.
      const writing = writeResult(res, result, o.lib, method === 'HEAD');
      if (writing) await writing;
      if (fn.logger.enabled('debug')) {
        fn.logger.debug(`Executed (Succeeded, ${(performance.now() - started).toFixed(1)} ms) ${method} ${path} -> ${res.statusCode}`, { invocationId });
      }
    } catch (err) {
      fn.logger.error(`Executed (Failed${started ? `, ${(performance.now() - started).toFixed(1)} ms` : ''}) ${method} ${path}`, {
        invocationId,
        error: err instanceof Error ? err.stack ?? err.message : String(err),
      });
      sendProblem(res, {
        status: 500,
        detail: `The function '${fn.name}' failed. Invocation id: ${invocationId}.`,
        instance: path,
        invocationId,
      });
    }
  }

  /** `GET /admin/host/status` (master key), as on the real host. */
  function hostStatus(req: IncomingMessage, res: ServerResponse, query: string, path: string) {
    const key = keyFrom(req, query);
    if (!key || !o.keys.isMaster(key)) {
      sendProblem(res, { status: 401, detail: 'The master key is required for the admin API.', instance: path });
      return;
    }
    if (req.method !== 'GET') {
      sendProblem(res, { status: 405, detail: `${req.method} is not allowed here; allowed: GET.`, instance: path }, { allow: 'GET' });
      return;
    }
    const body = JSON.stringify({ state: o.status(), version: HOST_VERSION, processUptime: Math.round(process.uptime() * 1000), inFlight: o.invoker.inFlight });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  }

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);

    if (extPrefixes.length > 0) {
      const lower = path.toLowerCase();
      for (const r of extPrefixes) {
        if (lower.startsWith(r.lower)) {
          void o.invoker.track(handleExtension(r, req, res, query, path));
          return;
        }
      }
    }

    if (path.toLowerCase() === '/admin/host/status') {
      hostStatus(req, res, query, path);
      return;
    }

    const match = o.routes.match(req.method ?? 'GET', path);
    if (match.kind === 'not-found') {
      if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
        // The real host answers its root with a landing page; tools probe it for liveness.
        const text = 'Azure Functions v4 app running on the Conveyor local host.\n';
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      sendProblem(res, { status: 404, detail: `No function matches ${path}.`, instance: path });
      return;
    }
    if (match.kind === 'method-not-allowed') {
      sendProblem(res, { status: 405, detail: `${req.method} is not allowed here; allowed: ${match.allow.join(', ')}.`, instance: path }, { allow: match.allow.join(', ') });
      return;
    }
    o.invoker.track(handleFunction(match.entry.target, match.params, req, res, query, path)).catch((err: unknown) => {
      o.logger.error(`request ${req.method} ${path} failed`, { error: err });
      sendProblem(res, { status: 500, detail: 'The request failed.', instance: path });
    });
  };
}
