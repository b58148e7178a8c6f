/**
 * One try of an HTTP check against a deployed environment. The retry loop is not here: the
 * orchestration runs one try per activity and waits between tries with durable timers, using
 * the pure policy in shared/domain/verification.ts.
 */
import { isDeepStrictEqual } from 'node:util';
import type { HttpCheckSpec, JsonValue } from '../domain/pipeline.js';
import type { CheckTry } from '../domain/verification.js';

/** The result of one HTTP check try (a {@link CheckTry} plus the URL that was asked). */
export interface HttpCheckResult extends CheckTry {
  /** The full URL requested. */
  url: string;
}

/**
 * Bodies larger than this are not read further: a health endpoint has no business sending
 * more, and reading without a cap would let a broken service exhaust Conveyor's memory.
 */
export const MAX_CHECK_BODY_BYTES = 1024 * 1024;

/** The checks a try needs besides the URL and status: only these make reading the body worth it. */
type BodyExpectations = Pick<HttpCheckSpec, 'bodyContains' | 'json'>;

/**
 * Joins a base URL and a check path without dropping a path prefix of the base (which
 * `new URL(path, base)` would do for an absolute path).
 */
export function joinUrl(baseUrl: string, path: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  if (path === '') return base + '/';
  return path.startsWith('/') ? base + path : `${base}/${path}`;
}

/**
 * Runs one try of `spec` against `baseUrl` and reports the outcome. Never throws: a bad URL,
 * a refused connection, a timeout or an unreadable body all come back as `ok: false` with a
 * reason, because an unhealthy deployment is an expected outcome, not a fault.
 *
 * Redirects are not followed, so `expectStatus` judges what the service itself answered.
 */
export async function runHttpCheck(baseUrl: string, spec: HttpCheckSpec): Promise<HttpCheckResult> {
  const url = joinUrl(baseUrl, spec.path);
  const at = new Date().toISOString();
  const started = performance.now();
  const finish = (fields: Omit<HttpCheckResult, 'url' | 'at' | 'durationMs'>): HttpCheckResult => ({
    url,
    at,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    ...fields,
  });

  const timeoutMs = Math.max(1, spec.timeoutMs);
  // One signal for connect, headers and body: the per-try timeout bounds the whole try.
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { method: 'GET', redirect: 'manual', signal, headers: { 'user-agent': 'conveyor-verify' } });
  } catch (err) {
    return finish({ ok: false, reason: describeFetchError(err, timeoutMs) });
  }

  const status = response.status;
  const needsBody = spec.bodyContains !== undefined || spec.json !== undefined;
  if (status !== spec.expectStatus) {
    await response.body?.cancel().catch(() => undefined);
    return finish({ ok: false, status, reason: `expected status ${spec.expectStatus}, got ${status}` });
  }
  if (!needsBody) {
    await response.body?.cancel().catch(() => undefined);
    return finish({ ok: true, status });
  }

  let body: string;
  try {
    body = await readCapped(response, MAX_CHECK_BODY_BYTES);
  } catch (err) {
    return finish({ ok: false, status, reason: `reading the body failed: ${describeFetchError(err, timeoutMs)}` });
  }
  const mismatch = checkBody(body, spec);
  return mismatch === undefined ? finish({ ok: true, status }) : finish({ ok: false, status, reason: mismatch });
}

/** Returns why `body` does not meet the expectations, or undefined when it does. */
function checkBody(body: string, spec: BodyExpectations): string | undefined {
  if (spec.bodyContains !== undefined && !body.includes(spec.bodyContains)) {
    return `body does not contain ${JSON.stringify(spec.bodyContains)} (body starts ${JSON.stringify(body.slice(0, 120))})`;
  }
  if (spec.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return `body is not JSON (body starts ${JSON.stringify(body.slice(0, 120))})`;
    }
    const found = readJsonPath(parsed, spec.json.path);
    if (!found.present) return `JSON field ${spec.json.path} is missing`;
    if (!isDeepStrictEqual(found.value, spec.json.equals)) {
      return `JSON field ${spec.json.path} is ${JSON.stringify(found.value)}, expected ${JSON.stringify(spec.json.equals)}`;
    }
  }
  return undefined;
}

/**
 * Reads a dotted path (`build.commit`, `items.0.name` or `items[0].name`) from a parsed JSON
 * value. `present` distinguishes a missing field from one that holds `null`.
 */
export function readJsonPath(value: unknown, path: string): { present: true; value: JsonValue } | { present: false } {
  const segments = path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((s) => s !== '');
  let current: unknown = value;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(segment)) return { present: false };
      const index = Number(segment);
      if (index >= current.length) return { present: false };
      current = current[index];
    } else if (current !== null && typeof current === 'object') {
      if (!Object.prototype.hasOwnProperty.call(current, segment)) return { present: false };
      current = (current as Record<string, unknown>)[segment];
    } else {
      return { present: false };
    }
  }
  return { present: true, value: current as JsonValue };
}

/** Reads at most `max` bytes of the body as UTF-8, then stops reading (and cancels the rest). */
async function readCapped(response: Response, max: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= max) {
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** Turns fetch's errors (a TypeError with a system error as `cause`, or an abort) into a short reason. */
function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code;
      if (cause.name === 'TimeoutError' || cause.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
      return typeof code === 'string' ? `${cause.message} (${code})` : cause.message;
    }
    return err.message;
  }
  return String(err);
}
