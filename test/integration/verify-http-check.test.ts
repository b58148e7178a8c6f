import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runHttpCheck, joinUrl, readJsonPath } from '../../shared/verify/http-check.js';
import type { HttpCheckSpec } from '../../shared/domain/pipeline.js';

let server: Server;
let baseUrl: string;

before(async () => {
  server = createServer((req, res) => {
    switch (req.url) {
      case '/healthz':
        res.end('ok');
        return;
      case '/broken':
        res.statusCode = 500;
        res.end('boom');
        return;
      case '/version':
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ commit: 'abc123', build: { number: 7, tags: ['a', 'b'] }, nothing: null }));
        return;
      case '/prefix/healthz':
        res.end('prefixed ok');
        return;
      case '/redirect':
        res.statusCode = 302;
        res.setHeader('location', '/healthz');
        res.end();
        return;
      case '/slow':
        setTimeout(() => res.end('late'), 2_000).unref();
        return;
      case '/slow-body':
        res.writeHead(200);
        res.write('partial');
        setTimeout(() => res.end(' rest'), 2_000).unref();
        return;
      case '/huge':
        res.writeHead(200);
        res.end('x'.repeat(3 * 1024 * 1024) + 'needle');
        return;
      case '/not-json':
        res.end('<html>');
        return;
      default:
        res.statusCode = 404;
        res.end('no');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function spec(over: Partial<HttpCheckSpec>): HttpCheckSpec {
  return { type: 'http', path: '/healthz', expectStatus: 200, timeoutMs: 1_000, retries: 0, intervalMs: 0, successes: 1, ...over };
}

const cases: { name: string; spec: Partial<HttpCheckSpec>; ok: boolean; status?: number; reason?: RegExp }[] = [
  { name: 'a healthy endpoint passes', spec: {}, ok: true, status: 200 },
  { name: 'body contains passes when the text is there', spec: { bodyContains: 'ok' }, ok: true, status: 200 },
  { name: 'body contains fails when the text is not there', spec: { bodyContains: 'healthy' }, ok: false, status: 200, reason: /body does not contain "healthy"/ },
  { name: 'a wrong status fails with both statuses named', spec: { path: '/broken' }, ok: false, status: 500, reason: /expected status 200, got 500/ },
  { name: 'an expected non-200 status passes', spec: { path: '/nowhere', expectStatus: 404 }, ok: true, status: 404 },
  { name: 'redirects are not followed', spec: { path: '/redirect' }, ok: false, status: 302, reason: /got 302/ },
  { name: 'a JSON field equal to the value passes', spec: { path: '/version', json: { path: 'commit', equals: 'abc123' } }, ok: true },
  { name: 'a nested JSON field passes', spec: { path: '/version', json: { path: 'build.number', equals: 7 } }, ok: true },
  { name: 'an array element by index passes', spec: { path: '/version', json: { path: 'build.tags[1]', equals: 'b' } }, ok: true },
  { name: 'a whole JSON object compares deeply', spec: { path: '/version', json: { path: 'build', equals: { number: 7, tags: ['a', 'b'] } } }, ok: true },
  { name: 'a JSON null field equals null', spec: { path: '/version', json: { path: 'nothing', equals: null } }, ok: true },
  { name: 'a different JSON value fails with both values', spec: { path: '/version', json: { path: 'commit', equals: 'def456' } }, ok: false, reason: /JSON field commit is "abc123", expected "def456"/ },
  { name: 'a missing JSON field fails', spec: { path: '/version', json: { path: 'build.branch', equals: 'main' } }, ok: false, reason: /JSON field build.branch is missing/ },
  { name: 'a body that is not JSON fails', spec: { path: '/not-json', json: { path: 'a', equals: 1 } }, ok: false, reason: /body is not JSON/ },
  { name: 'a slow response times out', spec: { path: '/slow', timeoutMs: 150 }, ok: false, reason: /timed out after 150 ms/ },
  { name: 'a body that stalls times out', spec: { path: '/slow-body', timeoutMs: 150, bodyContains: 'rest' }, ok: false, status: 200, reason: /timed out after 150 ms/ },
  { name: 'a huge body is read only up to the cap', spec: { path: '/huge', bodyContains: 'needle' }, ok: false, status: 200, reason: /body does not contain "needle"/ },
];

for (const c of cases) {
  test(`http check: ${c.name}`, async () => {
    const result = await runHttpCheck(baseUrl, spec(c.spec));
    assert.equal(result.ok, c.ok, result.reason);
    if (c.status !== undefined) assert.equal(result.status, c.status);
    if (c.reason) assert.match(result.reason ?? '', c.reason);
    if (c.ok) assert.equal(result.reason, undefined);
    assert.ok(result.durationMs >= 0);
    assert.ok(!Number.isNaN(Date.parse(result.at)));
  });
}

test('http check: a base URL with a path prefix keeps the prefix', async () => {
  const result = await runHttpCheck(`${baseUrl}/prefix/`, spec({ bodyContains: 'prefixed' }));
  assert.equal(result.ok, true, result.reason);
  assert.equal(result.url, `${baseUrl}/prefix/healthz`);
});

test('http check: a refused connection is a failed try, not an exception', async () => {
  // Bind and close a server to get a port that nothing listens on.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const result = await runHttpCheck(`http://127.0.0.1:${port}`, spec({}));
  assert.equal(result.ok, false);
  assert.equal(result.status, undefined);
  assert.match(result.reason ?? '', /ECONNREFUSED/);
});

test('http check: an unparsable base URL is a failed try, not an exception', async () => {
  const result = await runHttpCheck('not a url', spec({}));
  assert.equal(result.ok, false);
  assert.match(result.reason ?? '', /Invalid URL|parse/i);
});

test('joinUrl and readJsonPath handle the edge cases', () => {
  assert.equal(joinUrl('http://h:1/', '/a'), 'http://h:1/a');
  assert.equal(joinUrl('http://h:1', 'a?b=1'), 'http://h:1/a?b=1');
  assert.equal(joinUrl('http://h:1/base//', ''), 'http://h:1/base/');
  assert.deepEqual(readJsonPath({ a: [{ b: false }] }, 'a.0.b'), { present: true, value: false });
  assert.deepEqual(readJsonPath({ a: 1 }, 'a.b'), { present: false });
  assert.deepEqual(readJsonPath([1, 2], 'x'), { present: false });
  assert.deepEqual(readJsonPath({ a: 1 }, ''), { present: true, value: { a: 1 } });
});
