/**
 * The CLI's HTTP client: JSON in and out, keys and identity in headers (never in URLs), and
 * RFC 9457 problems turned into {@link ApiError}s that carry the exit code they mean.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { CliConfig } from './cli-config.js';

const gunzipAsync = promisify(gunzip);

/** An answer of the API (read once). */
export interface ApiResponse {
  status: number;
  ok: boolean;
  statusText: string;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/**
 * One request with node:http(s) rather than `fetch`: a CLI command is one short process, and
 * loading fetch's HTTP stack and waiting out its pooled connection cost a few hundred
 * milliseconds of a command's wall time; node:http without a keep-alive agent lets the process
 * exit as soon as the answer is read.
 */
function sendRequest(url: URL, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method, headers: { ...headers, 'accept-encoding': 'gzip', ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, agent: false }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const decoded = res.headers['content-encoding'] === 'gzip' ? gunzipAsync(raw) : Promise.resolve(raw);
        const text = decoded.then((b) => b.toString('utf8'));
        // Reported when read; a body nobody reads must not become an unhandled rejection.
        text.catch(() => undefined);
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, statusText: res.statusMessage ?? '', text: () => text, json: async () => JSON.parse(await text) as unknown });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** Exit codes: what a script can rely on. */
export const EXIT = {
  ok: 0,
  /** Anything unexpected (a 5xx, a bug). */
  error: 1,
  /** Bad usage or input (unknown command, bad option, a 400 from the API). */
  usage: 2,
  /** The thing named does not exist (404). */
  notFound: 3,
  /** Not allowed: missing/wrong key or identity (401, 403). */
  refused: 4,
  /** The state forbids it (409): not waiting for approval, revision marked bad, already frozen. */
  conflict: 5,
  /** Conveyor could not be reached. */
  unreachable: 6,
  /** A followed run or operation ended, but not Succeeded. */
  runFailed: 7,
} as const;

/** A problem answered by the API, or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly status?: number,
    readonly problem?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function exitFor(status: number): number {
  if (status === 400 || status === 413 || status === 415 || status === 422) return EXIT.usage;
  if (status === 401 || status === 403) return EXIT.refused;
  if (status === 404) return EXIT.notFound;
  if (status === 409 || status === 412) return EXIT.conflict;
  return EXIT.error;
}

/** Which key a request needs. */
export type KeyKind = 'function' | 'admin';

/** Talks to one Conveyor. */
export class ApiClient {
  constructor(
    private readonly config: CliConfig,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Sends a request; resolves the raw response when it is 2xx, throws {@link ApiError} otherwise. */
  async send(method: string, path: string, options: { body?: unknown; key?: KeyKind; identify?: boolean; headers?: Record<string, string> } = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json, text/plain', ...options.headers };
    const key = options.key === 'admin' ? this.config.adminKey : this.config.key;
    if (key) headers['x-functions-key'] = key;
    if ((options.identify ?? false) && this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let res: ApiResponse;
    try {
      res = await sendRequest(new URL(`${this.config.url}/api${path}`), method, headers, body, this.timeoutMs);
    } catch (err) {
      const cause = (err as { code?: string }).code ?? (err as Error).message;
      throw new ApiError(`cannot reach Conveyor at ${this.config.url} (${cause})`, EXIT.unreachable);
    }
    if (res.ok) return res;
    const text = await res.text();
    let problem: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object') problem = parsed as Record<string, unknown>;
    } catch {
      // not JSON: reported as text below
    }
    const detail = typeof problem?.detail === 'string' ? problem.detail : text.slice(0, 300) || res.statusText;
    let message = `${res.status} ${typeof problem?.title === 'string' ? problem.title : res.statusText}: ${detail}`;
    if (Array.isArray(problem?.errors)) {
      for (const e of problem.errors as Array<{ path?: string; message?: string }>) message += `\n  ${e.path ?? ''}: ${e.message ?? ''}`;
    }
    if (res.status === 401 && !key) message += `\n  (no ${options.key === 'admin' ? 'admin key: set --admin-key or CONVEYOR_ADMIN_KEY' : 'function key: set --key or CONVEYOR_KEY'})`;
    if (res.status === 401 && options.identify && !this.config.token) message += '\n  (no identity: set --token or CONVEYOR_TOKEN)';
    throw new ApiError(message, exitFor(res.status), res.status, problem);
  }

  /** GET a JSON document. */
  async get<T = unknown>(path: string): Promise<T> {
    return (await (await this.send('GET', path)).json()) as T;
  }

  /** GET a text document. */
  async text(path: string): Promise<string> {
    return (await this.send('GET', path)).text();
  }

  /** A JSON request with a JSON (or empty) answer. */
  async json<T = unknown>(method: string, path: string, body: unknown, options: { key?: KeyKind; identify?: boolean } = {}): Promise<T> {
    const res = await this.send(method, path, { ...options, body });
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }
}
