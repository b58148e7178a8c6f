/**
 * Conditional GETs for polled JSON reads: a weak ETag over the JSON answer, and `304 Not
 * Modified` when the caller already has it, so a dashboard polling every second transfers and
 * parses nothing while nothing changes. Answers over 1 KiB are gzipped for callers that accept
 * it (the overview of 100 apps is ~200 KB of JSON, ~15 KB gzipped).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** The weak ETag of a JSON value. */
export function jsonEtag(value: unknown): string {
  return `W/"${createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 27)}"`;
}

/** True when an If-None-Match header lists `etag` (weak comparison, `*` matches). */
export function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v.replace(/^W\//, '') === bare;
  });
}

/** Wraps a GET handler whose 200 answers carry `jsonBody` (and no ETag of their own). */
export function withEtag(handler: Handler): Handler {
  return async (request, context) => {
    const res = await handler(request, context);
    if (res.status !== undefined && res.status !== 200) return res;
    if (res.jsonBody === undefined) return res;
    const headers = new Headers(res.headers as Record<string, string> | undefined);
    if (headers.has('etag')) return res;
    const etag = jsonEtag(res.jsonBody);
    headers.set('etag', etag);
    headers.set('cache-control', 'no-cache');
    headers.set('vary', 'accept-encoding');
    if (matches(request.headers.get('if-none-match'), etag)) return { status: 304, headers: Object.fromEntries(headers) };
    const text = JSON.stringify(res.jsonBody);
    if (text.length > 1024 && /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '')) {
      headers.set('content-type', 'application/json; charset=utf-8');
      headers.set('content-encoding', 'gzip');
      const { jsonBody: _json, ...rest } = res;
      return { ...rest, headers: Object.fromEntries(headers), body: gzipSync(text, { level: 6 }) };
    }
    return { ...res, headers: Object.fromEntries(headers) };
  };
}
