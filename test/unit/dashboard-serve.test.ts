import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import functions from '@azure/functions';
import { serveDashboard } from '../../functions/http/dashboard.function.js';
import { jsonEtag, matches, withEtag } from '../../functions/http/etag.js';

const { HttpRequest, InvocationContext } = functions;
type HttpRequest = InstanceType<typeof HttpRequest>;

function get(path: string, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({ url: `http://127.0.0.1/api/dashboard/${path}`, method: 'GET', headers, params: { path } });
}

test('static assets: index by default, gzip when asked, 304 on a matching ETag, strict CSP', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-dash-'));
  try {
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)'.repeat(100));
    const serve = serveDashboard(dir);
    const index = await serve(get(''));
    assert.equal(index.status, 200);
    assert.equal((index.headers as Record<string, string>)['content-type'], 'text/html; charset=utf-8');
    assert.match((index.headers as Record<string, string>)['content-security-policy']!, /default-src 'none'; script-src 'self'/);
    const js = await serve(get('app.js', { 'accept-encoding': 'gzip, br' }));
    const h = js.headers as Record<string, string>;
    assert.equal(h['content-encoding'], 'gzip');
    assert.equal(gunzipSync(js.body as Buffer).toString(), 'console.log(1)'.repeat(100));
    assert.equal((await serve(get('app.js', { 'if-none-match': h.etag! }))).status, 304);
    assert.equal((await serve(get('app.js'))).headers && ((await serve(get('app.js'))).headers as Record<string, string>)['content-encoding'], undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('static assets: traversal, odd names and missing files are 404; an unbuilt dashboard is 503', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-dash-'));
  try {
    const serve = serveDashboard(dir);
    for (const path of ['../secret.txt', '..%2fsecret.txt', 'a/../../secret.txt', '/etc/passwd', 'nope.js', 'x y.js']) {
      assert.equal((await serve(get(path))).status, 404, path);
    }
    assert.equal((await serve(get(''))).status, 503);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('conditional GETs: a weak ETag over the JSON answer, 304 when it matches, errors untouched', async () => {
  const body = { apps: [{ name: 'shop' }] };
  const handler = withEtag(async () => ({ status: 200, jsonBody: body }));
  const ctx = new InvocationContext();
  const first = await handler(new HttpRequest({ url: 'http://127.0.0.1/api/overview', method: 'GET' }), ctx);
  const etag = (first.headers as Record<string, string>).etag!;
  assert.equal(etag, jsonEtag(body));
  assert.match(etag, /^W\/"/);
  const again = await handler(new HttpRequest({ url: 'http://127.0.0.1/api/overview', method: 'GET', headers: { 'if-none-match': etag } }), ctx);
  assert.equal(again.status, 304);
  assert.equal(again.jsonBody, undefined);
  const other = await handler(new HttpRequest({ url: 'http://127.0.0.1/api/overview', method: 'GET', headers: { 'if-none-match': 'W/"other"' } }), ctx);
  assert.equal(other.status, 200);
  const big = { rows: Array.from({ length: 200 }, (_, i) => ({ name: `app-${i}`, revision: i })) };
  const zipped = await withEtag(async () => ({ status: 200, jsonBody: big }))(new HttpRequest({ url: 'http://127.0.0.1/api/overview', method: 'GET', headers: { 'accept-encoding': 'gzip, deflate' } }), ctx);
  assert.equal((zipped.headers as Record<string, string>)['content-encoding'], 'gzip');
  assert.deepEqual(JSON.parse(gunzipSync(zipped.body as Buffer).toString()), big);
  const failing = withEtag(async () => ({ status: 404, jsonBody: { title: 'Not Found' } }));
  assert.equal((await failing(new HttpRequest({ url: 'http://127.0.0.1/x', method: 'GET', headers: { 'if-none-match': '*' } }), ctx)).status, 404);
  assert.equal(matches('"a", W/"b"', '"b"'), true);
  assert.equal(matches(null, '"b"'), false);
});
