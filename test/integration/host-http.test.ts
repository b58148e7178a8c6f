// The local host over real HTTP on 127.0.0.1, in-process, with the ESM fixture app
// (test/fixtures/http-app) and a small test extension standing in for the bundled ones.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHost, type RunningHost } from '../../local/host/host.js';
import type { HostExtension, HostServices } from '../../local/host/extension.js';
import type { LogRecord } from '../../local/host/logger.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const appDir = join(root, 'test', 'fixtures', 'http-app');
const secret = (JSON.parse(readFileSync(join(appDir, 'local.settings.json'), 'utf8')) as { Values: Record<string, string> }).Values.WEBHOOK_SECRET!;
const MAX_BODY = 64 * 1024;

/** A test extension: drives `fakeTrigger` functions and supplies `fakeClient` inputs. */
function testExtension() {
  let services: HostServices | undefined;
  const ext = {
    name: 'fake',
    triggerTypes: ['fakeTrigger'],
    inputBindingTypes: ['fakeClient'],
    httpRoutes: [{ prefix: '/runtime/webhooks/fake', systemKeyName: 'fake_extension' }],
    events: [] as string[],
    stopGrace: -1,
    get services() {
      return services!;
    },
    async init(s: HostServices) {
      services = s;
      ext.events.push(`init:${s.functions.length}`);
    },
    resolveInputBinding(binding: { name: string; type: string }, fn: { name: string }) {
      return { kind: 'fake-client', binding: binding.name, fn: fn.name, origin: services!.origin() };
    },
    async handleHttp(_req: unknown, res: import('node:http').ServerResponse, url: URL) {
      const fn = services!.findFunction('FAKEDRIVEN');
      const result = await services!.invoke(fn!, { n: Number(url.searchParams.get('n')) }, { invocationId: 'fixed-id', triggerMetadata: { source: 'test' } });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(result));
    },
    async start() {
      ext.events.push('start');
    },
    async stop(graceMs: number) {
      ext.events.push('stop');
      ext.stopGrace = graceMs;
    },
  };
  return ext satisfies HostExtension;
}

function rawRequest(url: string, init: { method: string; headers?: Record<string, string | number>; chunks: Buffer[] }): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(url, { method: init.method, headers: init.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }));
    });
    // The server may answer 413 and close before the whole body went out.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    for (const c of init.chunks) req.write(c);
    req.end();
  });
}

describe('local host over HTTP (ESM app)', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'conveyor-host-http-'));
  const logs: LogRecord[] = [];
  const ext = testExtension();
  let host: RunningHost;
  let api: string;
  const savedEnv = { ...process.env };

  before(async () => {
    delete process.env.WEBSITE_HOSTNAME;
    host = await startHost({
      appDir,
      port: 0,
      stateDir,
      startStorage: false,
      extensions: [ext],
      env: { ALREADY_SET: 'from-env', FAKE_HUB: 'hub-x' },
      maxBodyBytes: MAX_BODY,
      graceMs: 3000,
      logLevel: 'info',
      onLog: (r) => logs.push(r),
      logWrite: () => {},
    });
    api = `${host.origin}/api`;
  });

  after(async () => {
    await host?.stop();
    rmSync(stateDir, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  });

  it('lists every function, with a reason for the ones it cannot run', () => {
    const byName = new Map(host.functions.map((f) => [f.name, f]));
    assert.equal(byName.get('hello')?.detail, `${host.origin}/api/hello/{name?}`);
    assert.deepEqual(byName.get('thingsPut')?.methods, ['PUT']);
    assert.equal(byName.get('tick')?.detail, '*/1 * * * * *');
    assert.equal(byName.get('fakeDriven')?.detail, 'fake');
    assert.match(byName.get('queueThing')?.unsupported ?? '', /trigger type 'queueTrigger' is not supported/);
    assert.ok(logs.some((l) => l.level === 'warn' && l.message.includes("'queueThing' will not run")));
    assert.deepEqual(ext.events, [`init:${host.functions.length}`, 'start']);
  });

  it('routes parameters, optional parameters and query strings', async () => {
    const res = await fetch(`${api}/hello/bob?q=1&q=2`, { headers: { cookie: 'a=1; b=2' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.name, 'bob');
    assert.deepEqual(body.q, ['1', '2']);
    assert.equal(body.cookie, 'a=1; b=2');
    assert.equal(body.url, `${api}/hello/bob?q=1&q=2`);
    assert.equal(body.functionName, 'hello');
    assert.equal(body.isHttpRequest, 'HttpRequest');
    const none = (await (await fetch(`${api}/hello`)).json()) as Record<string, unknown>;
    assert.equal(none.name, null);
  });

  it('sends context.log to the structured logger with function name and invocation id', async () => {
    const body = (await (await fetch(`${api}/hello/ann`)).json()) as { invocationId: string };
    const line = logs.find((l) => l.message === 'saying hello ann');
    assert.ok(line, 'log line captured');
    assert.equal(line.fields.functionName, 'hello');
    assert.equal(line.fields.invocationId, body.invocationId);
    assert.equal(line.level, 'info');
  });

  it('applies route constraints and catch-alls', async () => {
    const get = async (p: string) => {
      const r = await fetch(`${api}/${p}`);
      return { status: r.status, body: r.status === 200 ? await r.json() : await r.text() };
    };
    assert.deepEqual((await get('items/42')).body, { kind: 'int', id: '42' });
    assert.deepEqual((await get('items/abc')).body, { kind: 'alpha', slug: 'abc' });
    assert.equal((await get('items/abcdefgh')).status, 404);
    assert.deepEqual((await get('range/7/false')).body, { n: '7', flag: 'false' });
    assert.equal((await get('range/70/false')).status, 404);
    assert.deepEqual((await get('files/a/b/c.txt')).body, { rest: 'a/b/c.txt' });
    assert.deepEqual((await get('files')).body, { rest: null });
  });

  it('dispatches by method and answers 405 with Allow for others', async () => {
    assert.equal(await (await fetch(`${api}/things`)).text(), 'got things');
    const put = await fetch(`${api}/things`, { method: 'PUT', body: 'x1' });
    assert.equal(put.status, 201);
    assert.equal(await put.text(), 'put x1');
    const post = await fetch(`${api}/things`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, PUT');
    assert.equal(post.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const problem = (await post.json()) as Record<string, unknown>;
    assert.equal(problem.status, 405);
    assert.equal(problem.title, 'Method Not Allowed');
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await fetch(`${api}/no/such/thing?code=secret`);
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const problem = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(problem).sort(), ['detail', 'instance', 'status', 'title', 'type']);
    assert.equal(problem.instance, '/api/no/such/thing', 'the query (which may hold a key) is not echoed');
  });

  it('enforces the function auth level with keys in the header or the code parameter', async () => {
    const post = (query: string, headers: Record<string, string> = {}) => fetch(`${api}/echo${query}`, { method: 'POST', body: 'hi', headers });
    const missing = await post('');
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal((await post('', { 'x-functions-key': 'wrong' })).status, 401);
    assert.equal((await post('?code=wrong')).status, 401);
    assert.equal((await post('', { 'x-functions-key': host.keys.function })).status, 200);
    assert.equal((await post(`?code=${encodeURIComponent(host.keys.function)}`)).status, 200);
    assert.equal((await post('', { 'x-functions-key': host.keys.master })).status, 200, 'the master key also opens function level');
  });

  it('enforces the admin auth level (master key only) and leaves anonymous open', async () => {
    assert.equal((await fetch(`${api}/admin-only`)).status, 401);
    assert.equal((await fetch(`${api}/admin-only`, { headers: { 'x-functions-key': host.keys.function } })).status, 401);
    const ok = await fetch(`${api}/admin-only?code=${host.keys.master}`);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'admin ok');
    assert.equal((await fetch(`${api}/things`)).status, 200);
  });

  it('answers the root and the admin status endpoint (master key) like the real host', async () => {
    const rootPage = await fetch(`${host.origin}/`);
    assert.equal(rootPage.status, 200);
    assert.match(await rootPage.text(), /running/);
    assert.equal((await fetch(`${host.origin}/admin/host/status`)).status, 401);
    assert.equal((await fetch(`${host.origin}/admin/host/status`, { headers: { 'x-functions-key': host.keys.function } })).status, 401);
    const status = await fetch(`${host.origin}/admin/host/status?code=${host.keys.master}`);
    assert.equal(status.status, 200);
    const body = (await status.json()) as { state: string; version: string };
    assert.equal(body.state, 'Running');
    assert.match(body.version, /^4\./);
  });

  it('stores the generated keys in the state folder', () => {
    const stored = JSON.parse(readFileSync(join(stateDir, 'host-keys.json'), 'utf8')) as { masterKey: string; functionKeys: { default: string } };
    assert.equal(stored.masterKey, host.keys.master);
    assert.equal(stored.functionKeys.default, host.keys.function);
  });

  it('hands the raw body to the handler byte for byte (HMAC over it matches)', async () => {
    const bodies = [
      randomBytes(20_000),
      Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0d, 0x0a, 0xef, 0xbb, 0xbf]),
      Buffer.from('{ "b":1,\r\n  "a" : "é ✓ \\u00e9"  }\n', 'utf8'),
    ];
    for (const body of bodies) {
      const expected = createHmac('sha256', secret).update(body).digest('hex');
      const res = await fetch(`${api}/echo`, { method: 'POST', body, headers: { 'x-functions-key': host.keys.function, 'content-type': 'application/octet-stream' } });
      const got = (await res.json()) as { hmac: string; length: number; contentType: string };
      assert.equal(got.length, body.length);
      assert.equal(got.hmac, expected);
      assert.equal(got.contentType, 'application/octet-stream');
    }
  });

  it('gives the handler the fetch body API: clone, text, json, formData, single use', async () => {
    const post = async (kind: string, body: string, contentType: string) =>
      (await (await fetch(`${api}/bodies/${kind}`, { method: 'POST', body, headers: { 'content-type': contentType } })).json()) as Record<string, unknown>;
    assert.deepEqual(await post('clone', 'same bytes', 'text/plain'), { first: 'same bytes', second: 'same bytes', used: true, copyUsed: true });
    assert.deepEqual(await post('form', 'a=1&b=2&b=3', 'application/x-www-form-urlencoded'), { a: '1', b: ['2', '3'] });
    assert.deepEqual(await post('json', '{"x":[1,2]}', 'application/json'), { parsed: { x: [1, 2] } });
    assert.deepEqual(await post('twice', 'once', 'text/plain'), { second: 'TypeError' });
  });

  it('rejects bodies over the limit with 413, declared or streamed', async () => {
    const headers = { 'x-functions-key': host.keys.function };
    const declared = await rawRequest(`${api}/echo`, { method: 'POST', headers: { ...headers, 'content-length': MAX_BODY + 1 }, chunks: [Buffer.alloc(MAX_BODY + 1)] });
    assert.equal(declared.status, 413);
    assert.equal((JSON.parse(declared.body) as { status: number }).status, 413);
    const chunked = await rawRequest(`${api}/echo`, { method: 'POST', headers, chunks: [Buffer.alloc(40_000), Buffer.alloc(40_000)] });
    assert.equal(chunked.status, 413);
    assert.match(String(chunked.headers['content-type']), /problem\+json/);
    const atLimit = await rawRequest(`${api}/echo`, { method: 'POST', headers, chunks: [Buffer.alloc(MAX_BODY)] });
    assert.equal(atLimit.status, 200);
  });

  it('turns a throwing handler into a 500 problem without the stack, logged with the invocation id', async () => {
    const res = await fetch(`${api}/boom`);
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const text = await res.text();
    assert.doesNotMatch(text, /secret internal detail|\/srv\/app\.js|at Object|http\.js/);
    const problem = JSON.parse(text) as { status: number; title: string; instance: string; invocationId: string; detail: string };
    assert.equal(problem.status, 500);
    assert.equal(problem.title, 'Internal Server Error');
    assert.equal(problem.instance, '/api/boom');
    assert.match(problem.invocationId, /^[0-9a-f-]{36}$/);
    const logged = logs.find((l) => l.level === 'error' && l.fields.invocationId === problem.invocationId);
    assert.ok(logged, 'the failure is logged with the same invocation id');
    assert.equal(logged.fields.functionName, 'boom');
    assert.match(String(logged.fields.error), /secret internal detail/);
  });

  it('writes status, headers, cookies and string, JSON, bytes and stream bodies', async () => {
    const cookies = await fetch(`${api}/responses/cookies`);
    assert.equal(cookies.status, 202);
    assert.equal(cookies.headers.get('x-custom'), 'yes');
    assert.deepEqual(cookies.headers.getSetCookie(), ['session=abc123; Path=/; HttpOnly; SameSite=Lax', 'theme=dark; Max-Age=3600']);
    assert.equal(await cookies.text(), 'with cookies');

    const bytes = await fetch(`${api}/responses/bytes`);
    assert.equal(bytes.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual([...new Uint8Array(await bytes.arrayBuffer())], [0, 1, 2, 253, 254, 255]);

    const stream = await fetch(`${api}/responses/stream`);
    assert.equal(stream.headers.get('content-type'), 'text/csv');
    assert.equal(await stream.text(), 'alpha,beta,gamma');

    const empty = await fetch(`${api}/responses/empty`);
    assert.equal(empty.status, 204);

    const teapot = await fetch(`${api}/responses/status`);
    assert.equal(teapot.status, 418);
    assert.deepEqual(await teapot.json(), { teapot: true });

    const head = await fetch(`${api}/hello/x`, { method: 'HEAD' });
    assert.equal(head.status, 405, 'HEAD is only served when the function declares it');
  });

  it('runs appStart, preInvocation, postInvocation and log hooks', async () => {
    const body = (await (await fetch(`${api}/hooked`)).json()) as Record<string, unknown>;
    assert.deepEqual({ ...body, invocationId: undefined }, { handler: true, wrapped: true, post: 'pre', invocationId: undefined });
    const seen = (await (await fetch(`${api}/seen`)).json()) as { appStart: number; logHookSaw: string };
    assert.equal(seen.appStart, 1);
    assert.equal(seen.logHookSaw, body.invocationId, 'the log hook sees the invocation context');
    assert.ok(logs.some((l) => l.message === 'rewritten by the log hook' && l.fields.invocationId === body.invocationId));
    assert.ok(!logs.some((l) => l.message === 'hooked says hi'));
  });

  it('loads local.settings.json without overriding the environment', async () => {
    const value = async (name: string) => ((await (await fetch(`${api}/env?name=${name}`)).json()) as { value: string | null }).value;
    assert.equal(await value('WEBHOOK_SECRET'), secret);
    assert.equal(await value('ALREADY_SET'), 'from-env');
    assert.equal(await value('WEBSITE_HOSTNAME'), `127.0.0.1:${host.port}`);
  });

  it('fills input bindings from the extension that supplies them, for HTTP functions too', async () => {
    const body = (await (await fetch(`${api}/withClient`)).json()) as { client: unknown };
    assert.deepEqual(body.client, { kind: 'fake-client', binding: 'client', fn: 'withClient', origin: host.origin });
  });

  it('routes extension endpoints behind their system key and lets the extension invoke its functions', async () => {
    const url = `${host.origin}/runtime/webhooks/fake/run?n=21`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { 'x-functions-key': host.keys.function } })).status, 401);
    const systemKey = ext.services.systemKey('fake_extension');
    const res = await fetch(`${url}&code=${systemKey}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { doubled: 42 });
    assert.equal((await fetch(url, { headers: { 'x-functions-key': host.keys.master } })).status, 200);
    const stored = JSON.parse(readFileSync(join(stateDir, 'host-keys.json'), 'utf8')) as { systemKeys: Record<string, string> };
    assert.equal(stored.systemKeys.fake_extension, systemKey);

    const seen = (await (await fetch(`${api}/seen`)).json()) as { fake: { value: unknown; client: unknown; meta: unknown; options: { hub: string; type: string } }[] };
    const call = seen.fake[0]!;
    assert.deepEqual(call.value, { n: 21 });
    assert.deepEqual(call.meta, { source: 'test' });
    assert.equal(call.options.type, 'fakeTrigger');
    assert.equal(call.options.hub, 'hub-x', '%FAKE_HUB% is resolved from the settings');
    assert.deepEqual(call.client, { kind: 'fake-client', binding: 'client', fn: 'fakeDriven', origin: host.origin });
    assert.ok(logs.some((l) => l.message === 'fake trigger ran' && l.fields.invocationId === 'fixed-id'));
  });

  it('fires the timer on its NCRONTAB schedule (from a %setting%)', async () => {
    type Tick = { timer: { isPastDue: boolean; schedule: { adjustForDST: boolean }; scheduleStatus: { last: string; next: string; lastUpdated: string } } };
    let ticks: Tick[] = [];
    const deadline = Date.now() + 5000;
    while (ticks.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      ticks = (await (await fetch(`${api}/ticks`)).json()) as Tick[];
    }
    assert.ok(ticks.length >= 2, `expected two ticks, got ${ticks.length}`);
    const t = ticks[1]!.timer;
    assert.equal(t.isPastDue, false);
    assert.deepEqual(t.schedule, { adjustForDST: true });
    assert.ok(Date.parse(t.scheduleStatus.next) > Date.parse(t.scheduleStatus.last));
    assert.equal(t.scheduleStatus.last, ticks[0]!.timer.scheduleStatus.next);
  });

  it('on stop, lets in-flight requests finish, refuses new ones and stops the extensions', async () => {
    const slow = fetch(`${api}/slow?ms=400`).then(async (r) => ({ status: r.status, text: await r.text() }));
    // Stop only once the handler runs (its log line), so the request is surely in flight.
    const deadline = Date.now() + 10_000;
    while (!logs.some((l) => l.message === 'slow request started')) {
      assert.ok(Date.now() < deadline, 'the slow request never started');
      await new Promise((r) => setTimeout(r, 10));
    }
    const stopped = host.stop();
    const done = await slow;
    await stopped;
    assert.deepEqual(done, { status: 200, text: 'slow done' });
    await assert.rejects(fetch(`${api}/things`));
    assert.deepEqual(ext.events.slice(-1), ['stop']);
    assert.ok(ext.stopGrace > 0 && ext.stopGrace <= 3000);
  });
});
