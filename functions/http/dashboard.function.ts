/**
 * The dashboard, served by Conveyor itself (docs/dashboard.md):
 * - `GET /api/dashboard` and `/api/dashboard/{file}`: the built static assets (no CDN, works
 *   offline), anonymous like any web page — every API call the page makes carries the function
 *   key and the caller's token in headers, never a cookie, so no other site can forge one;
 * - `GET /api/me`: who the caller is (function key; identity optional);
 * - `GET /api/overview`: every app's environment matrix with its recent runs, in one request.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ValidationError } from '../../shared/errors.js';
import type { Services } from '../composition-root.js';
import { matches } from './etag.js';
import { errorToResponse, problem } from './problem.js';

/** Where the build puts the assets: dist/dashboard, next to dist/functions. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Headers every dashboard asset carries: nothing from elsewhere may load, nothing may frame it. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface Asset {
  body: Buffer;
  gzip: Buffer;
  etag: string;
  type: string;
}

/** Serves files from `dir`, read once and kept compressed in memory. */
export function serveDashboard(dir: string = DASHBOARD_DIR) {
  const cache = new Map<string, Promise<Asset | undefined>>();
  const load = (file: string): Promise<Asset | undefined> => {
    let found = cache.get(file);
    if (!found) {
      found = readFile(join(dir, file)).then(
        (body) => ({ body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, type: TYPES[extname(file)] ?? 'application/octet-stream' }),
        () => undefined,
      );
      cache.set(file, found);
    }
    return found;
  };
  return async (request: HttpRequest): Promise<HttpResponseInit> => {
    const raw = request.params.path ?? '';
    const file = raw === '' ? 'index.html' : normalize(raw);
    if (file.startsWith('..') || file.includes(`${sep}..`) || file.startsWith(sep) || !/^[\w./-]+$/.test(file)) return problem(404, 'no such dashboard file');
    const asset = await load(file);
    if (!asset) {
      if (raw === '' || raw === 'index.html') return problem(503, 'the dashboard is not built: run `npm run build`');
      return problem(404, 'no such dashboard file');
    }
    const headers: Record<string, string> = { ...SECURITY_HEADERS, 'content-type': asset.type, etag: asset.etag, 'cache-control': 'no-cache', vary: 'accept-encoding' };
    if (matches(request.headers.get('if-none-match'), asset.etag)) return { status: 304, headers };
    const gzip = /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
    if (gzip) headers['content-encoding'] = 'gzip';
    return { status: 200, headers, body: gzip ? asset.gzip : asset.body };
  };
}

/** GET /api/me: the caller's identity (null when the request names none). A bad token -> 401. */
export function getMe(services: Pick<Services, 'identities' | 'settings'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const who = services.identities.identify(request);
      return { status: 200, headers: { 'cache-control': 'no-store' }, jsonBody: { identity: who ?? null, appServiceAuth: services.settings.appServiceAuth } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

function intParam(request: HttpRequest, name: string, fallback: number, min: number, max: number): number {
  const raw = request.query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new ValidationError(`invalid ${name}`, [{ path: name, message: `an integer from ${min} to ${max}` }]);
  return n;
}

/**
 * GET /api/overview?offset=&limit=: apps (sorted by name, `limit` from `offset`; default all, at
 * most 500) with their matrix (in promotion order) and their three newest runs, and `total`,
 * from the per-app matrix snapshots (shared/use-cases/matrix-snapshot.ts).
 */
export function getOverview(services: Pick<Services, 'matrix'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const offset = intParam(request, 'offset', 0, 0, 1_000_000);
      const limit = intParam(request, 'limit', 500, 1, 500);
      const page = await services.matrix.overview(offset, limit);
      return { status: 200, jsonBody: { apps: page.apps, total: page.total, offset: page.offset } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
