/**
 * Conditional GETs for polled JSON reads: a weak ETag over the JSON answer, and `304 Not
 * Modified` when the caller already has it, so a dashboard polling every second transfers and
 * parses nothing while nothing changes.
 */
import { createHash } from 'node:crypto';
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
    if (matches(request.headers.get('if-none-match'), etag)) return { status: 304, headers: Object.fromEntries(headers) };
    return { ...res, headers: Object.fromEntries(headers) };
  };
}
