// Hostile input through public HTTP on the embedded default:
// - every endpoint fuzzed with fast-check (random bodies, wrong content types, invalid UTF-8,
//   deep nesting, `..` / `%2F` / control characters in path segments, any key, bogus
//   Authorization headers): never a 5xx,
//   every error is problem+json, and the stored state (every blob) is byte-identical after;
// - huge bodies and lying Content-Length: 413;
// - webhooks: wrong or missing signature, a signature over another body, a valid signature
//   for another app's repository, replayed deliveries;
// - pipeline files: anchor bombs, huge documents, wrong types, random YAML -> the run fails
//   with a recorded "invalid pipeline file" reason;
// - branch names and pusher fields full of shell metacharacters reach the build only as
//   environment variables (the build writes them to a file; marker files must not appear).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { startConveyor, type ConveyorUnderTest } from '../e2e/conveyor-support.js';
import { createSampleService, findFreePorts, type SampleService } from '../support/sample-service.js';
import { dumpRecordedBlobs, twoEnvPipeline } from '../support/reliability-host.js';
import { rawRequest, type RawResponse } from '../support/reliability-http.js';

const SECRET_A = 'hostile-secret-for-app-a-1111';
const SECRET_B = 'hostile-secret-for-app-b-2222';
let conveyor: ConveyorUnderTest;
let sampleA: SampleService;
let sampleB: SampleService;
let port: number;

async function register(name: string, sample: SampleService, setting: string, branches = ['main']): Promise<void> {
  const res = await conveyor.api(`/api/apps/${name}`, {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches, webhookSecretSetting: setting },
  });
  assert.equal(res.status, 201, await res.text());
}

before(async () => {
  const ports = await findFreePorts(4);
  sampleA = await createSampleService({ pipelineYaml: twoEnvPipeline({ ports: { dev: ports[0]!, prod: ports[1]! } }) });
  sampleB = await createSampleService({ pipelineYaml: twoEnvPipeline({ ports: { dev: ports[2]!, prod: ports[3]! } }) });
  conveyor = await startConveyor({ env: { HOSTILE_SECRET_A: SECRET_A, HOSTILE_SECRET_B: SECRET_B } });
  port = conveyor.host.port;
  await register('alpha', sampleA, 'HOSTILE_SECRET_A');
  await register('beta', sampleB, 'HOSTILE_SECRET_B');
});

after(async () => {
  await conveyor?.dispose();
  await sampleA?.dispose();
  await sampleB?.dispose();
});

/** Every endpoint of the API contract, with `{}` for path segments the fuzzer fills in. */
const ENDPOINTS: { method: string; path: string }[] = [
  { method: 'GET', path: '/api/health' },
  { method: 'POST', path: '/api/webhooks/{}' },
  { method: 'GET', path: '/api/apps' },
  { method: 'GET', path: '/api/apps/{}' },
  { method: 'PUT', path: '/api/apps/{}' },
  { method: 'DELETE', path: '/api/apps/{}' },
  { method: 'GET', path: '/api/apps/{}/runs' },
  { method: 'GET', path: '/api/apps/{}/environments/{}/history' },
  { method: 'POST', path: '/api/apps/{}/environments/{}/rollback' },
  { method: 'GET', path: '/api/runs/{}' },
  { method: 'GET', path: '/api/runs/{}/logs/{}' },
  { method: 'POST', path: '/api/runs/{}/environments/{}/approval' },
  { method: 'GET', path: '/api/operations/{}' },
  { method: 'GET', path: '/api/openapi.json' },
];

const nastySegments = [
  '..', '.', '%2e%2e', '%2E%2E%2F%2E%2E', '..%2F..%2F..%2Fetc%2Fpasswd', '%2F', 'a%2Fb', '%00', '%0d%0aSet-Cookie:%20x=1',
  '%C0%AE%C0%AE', '%FF%FE%FD', '%25', '%', '%zz', 'CON', 'x'.repeat(600), 'alpha.', 'alpha.0123456', 'alpha.zz', 'github',
  '%E2%80%AE', '~root', '$(id)', '%60id%60', ';ls', '*', '{app}', 'alpha%00', 'dev%2F..%2Fprod',
];
// Names of the registered apps are left out of mutating fuzz: a DELETE of "alpha" with the
// admin key is legitimate and would change the state on purpose.
const segment = fc.oneof(
  fc.constantFrom(...nastySegments),
  fc.string({ maxLength: 40, unit: 'grapheme' }).map((s) => encodeURIComponent(s)),
  fc.string({ maxLength: 20, unit: 'binary-ascii' }).map((s) => encodeURIComponent(s)),
).filter((s) => s !== 'alpha' && s !== 'beta' && s.length > 0);

const deep = (d: number, open: string, close: string, leaf = '1') => open.repeat(d) + leaf + close.repeat(d);
const body = fc.oneof(
  fc.constant(undefined),
  fc.json({ maxDepth: 4 }),
  fc.string({ maxLength: 300, unit: 'grapheme' }),
  fc.uint8Array({ maxLength: 1500 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 1, max: 20_000 }).map((d) => deep(d, '[', ']')),
  fc.integer({ min: 1, max: 9_000 }).map((d) => deep(d, '{"a":', '}')),
  fc.constant(Buffer.concat([Buffer.from('{"repoUrl":"'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('","provider":"github","branches":["main"],"webhookSecretSetting":"X"}')])),
  fc.constant(JSON.stringify({ repoUrl: 5, provider: 'svn', branches: 'main', webhookSecretSetting: ['x'] })),
  fc.constant(JSON.stringify({ decision: 'approve', comment: 'x'.repeat(70_000) })),
  fc.constant(JSON.stringify({ toRevision: -1, force: 'yes', __proto__: { polluted: true } })),
  fc.constant('{"constructor":{"prototype":{"polluted":true}}}'),
);
const contentType = fc.constantFrom(
  undefined, 'application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=zzz', 'application/problem+json', '*/*', 'application/xml', 'application/json; charset=latin1', 'garbage',
);
const keyChoice = fc.constantFrom<'none' | 'function' | 'admin' | 'wrong'>('none', 'function', 'admin', 'wrong');
const authorization = fc.constantFrom(undefined, 'Bearer not-a-token-at-all-000', `Bearer ${'x'.repeat(5000)}`, 'Basic Zm9vOmJhcg==', 'garbage', 'Bearer ');
const query = fc.constantFrom('', '?code=', '?code=wrong', '?pageSize=-1', '?pageSize=999999999', '?continuation=%00%FF', '?pageSize=abc&continuation=..%2F..', '?a=1&a=2');

function expectProblem(res: RawResponse, what: string): void {
  assert.ok(res.status < 500, `${what}: got ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
  if (res.status >= 400) {
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: ${res.status} is problem+json`);
    const doc = JSON.parse(res.body.toString('utf8')) as { status: number; title: string };
    assert.equal(doc.status, res.status, `${what}: problem status`);
    assert.equal(typeof doc.title, 'string');
  }
}

describe('every endpoint, fuzzed', () => {
  test('random requests never get a 5xx, errors are problem+json, and the stored state is unchanged', async () => {
    const before = await dumpRecordedBlobs(conveyor.host.storage!.connectionString);
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.array(segment, { minLength: 3, maxLength: 3 }), body, contentType, keyChoice, query, fc.boolean(), authorization, async (ep, segs, b, type, key, q, otherMethod, auth) => {
        let i = 0;
        const path = ep.path.replace(/\{\}/g, () => segs[i++]!) + q;
        const method = otherMethod ? (['PATCH', 'POST', 'PUT', 'DELETE', 'GET'] as const)[path.length % 5]! : ep.method;
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (auth !== undefined) headers.authorization = auth;
        if (key !== 'none') headers['x-functions-key'] = key === 'admin' ? conveyor.host.keys.master : key === 'function' ? conveyor.host.keys.function : 'not-a-key';
        if (ep.path.startsWith('/api/webhooks')) {
          headers['x-github-event'] = 'push';
          headers['x-hub-signature-256'] = `sha256=${'ab'.repeat(32)}`;
        }
        const res = await rawRequest({ port, method, path, headers, body: b });
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        const what = `${method} ${path.slice(0, 200)} (${type ?? 'no type'}, key ${key})`;
        expectProblem(res, what);
        // Nothing hostile may be accepted as a change.
        if (method !== 'GET') assert.ok(res.status >= 400, `${what} was accepted with ${res.status}`);
      }),
      { numRuns: 400, seed: 7_077 },
    );
    const after = await dumpRecordedBlobs(conveyor.host.storage!.connectionString);
    assert.deepEqual([...after.entries()].sort(), [...before.entries()].sort(), 'every blob is byte-identical');
    assert.ok((seen.get(404) ?? 0) + (seen.get(400) ?? 0) + (seen.get(401) ?? 0) > 100, `a spread of refusals: ${JSON.stringify([...seen])}`);
  });

  test('raw control characters and spaces in the request line are refused before any function runs', async () => {
    const before = await dumpRecordedBlobs(conveyor.host.storage!.connectionString);
    for (const path of ['/api/apps/a\x01b', '/api/apps/a b', '/api/runs/\x7f', '/api/apps/\u00e9\u0000']) {
      const res = await rawRequest({ port, method: 'DELETE', path, headers: { 'x-functions-key': conveyor.host.keys.master } });
      // Node's HTTP parser answers these itself (400, no body): they never reach Conveyor.
      assert.equal(res.status, 400, JSON.stringify(path));
    }
    assert.deepEqual([...(await dumpRecordedBlobs(conveyor.host.storage!.connectionString)).entries()].sort(), [...before.entries()].sort());
  });

  test('huge bodies and lying Content-Length get 413 problem+json', async () => {
    const admin = { 'x-functions-key': conveyor.host.keys.master, 'content-type': 'application/json' };
    const cases: { what: string; req: Parameters<typeof rawRequest>[0] }[] = [
      { what: '200 KiB app body', req: { port, method: 'PUT', path: '/api/apps/zeta', headers: admin, body: JSON.stringify({ repoUrl: sampleA.url, pad: 'x'.repeat(200 * 1024) }) } },
      { what: '6 MiB webhook', req: { port, method: 'POST', path: '/api/webhooks/github', headers: { 'content-type': 'application/json', 'x-github-event': 'push' }, body: Buffer.alloc(6 * 1024 * 1024, 0x20) } },
      { what: 'Content-Length of 10 GB with a tiny body', req: { port, method: 'PUT', path: '/api/apps/zeta', headers: { ...admin, 'content-length': '10000000000' }, body: '{}', omitLength: true, timeoutMs: 10_000 } },
      { what: 'deeply nested 60 KiB app body', req: { port, method: 'PUT', path: '/api/apps/zeta', headers: admin, body: deep(30_000, '[', ']') } },
    ];
    for (const c of cases) {
      const res = await rawRequest(c.req);
      expectProblem(res, c.what);
      assert.ok(res.status === 413 || (c.what.startsWith('deeply') && res.status === 400), `${c.what}: ${res.status}`);
    }
    assert.equal((await conveyor.api('/api/apps/zeta')).status, 404, 'nothing was registered');
  });
});

describe('webhook refusals', () => {
  async function post(b: Buffer | string, headers: Record<string, string>, provider = 'github'): Promise<{ status: number; body: any }> {
    const res = await fetch(`${conveyor.origin}/api/webhooks/${provider}`, { method: 'POST', headers, body: b });
    const text = await res.text();
    if (res.status >= 400) assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }
  const sign = (secret: string, b: Buffer) => `sha256=${createHmac('sha256', secret).update(b).digest('hex')}`;

  test('wrong, missing, foreign-body and other-app signatures are refused and start nothing', async () => {
    const before = await dumpRecordedBlobs(conveyor.host.storage!.connectionString);
    const hook = await sampleA.pushWebhook({ secret: SECRET_A });
    const withSig = (sig: string | undefined) => {
      const h = { ...hook.headers };
      if (sig === undefined) delete h['x-hub-signature-256'];
      else h['x-hub-signature-256'] = sig;
      return h;
    };
    const other = await sampleB.pushWebhook({ secret: SECRET_B });
    const cases: { what: string; body: Buffer; headers: Record<string, string>; provider?: string; expect: number[] }[] = [
      { what: 'wrong secret', body: hook.body, headers: withSig(sign('guess', hook.body)), expect: [401] },
      { what: 'no signature header', body: hook.body, headers: withSig(undefined), expect: [401] },
      { what: 'empty signature', body: hook.body, headers: withSig(''), expect: [401] },
      { what: 'sha1 signature', body: hook.body, headers: withSig(`sha1=${createHmac('sha1', SECRET_A).update(hook.body).digest('hex')}`), expect: [401] },
      { what: 'signature over a different body', body: Buffer.from(hook.body.toString().replace('"forced":false', '"forced":true')), headers: hook.headers, expect: [401] },
      { what: "app A's secret signing app B's repository", body: other.body, headers: { ...other.headers, 'x-hub-signature-256': sign(SECRET_A, other.body) }, expect: [401] },
      { what: "a GitLab-format delivery carrying app A's GitHub secret as its token", body: (await sampleA.pushWebhook({ provider: 'gitlab', secret: SECRET_A })).body, headers: (await sampleA.pushWebhook({ provider: 'gitlab', secret: SECRET_A })).headers, provider: 'gitlab', expect: [404] },
      { what: 'no event header', body: hook.body, headers: (({ 'x-github-event': _e, ...h }) => h)(hook.headers), expect: [400, 401] },
      { what: 'gitlab format with a wrong token', body: (await sampleA.pushWebhook({ provider: 'gitlab', secret: 'nope' })).body, headers: (await sampleA.pushWebhook({ provider: 'gitlab', secret: 'nope' })).headers, provider: 'gitlab', expect: [404] },
      { what: 'azure devops format with wrong credentials', body: (await sampleA.pushWebhook({ provider: 'azure-devops', secret: 'u:nope' })).body, headers: (await sampleA.pushWebhook({ provider: 'azure-devops', secret: 'u:nope' })).headers, provider: 'azure-devops', expect: [404] },
    ];
    for (const c of cases) {
      const res = await post(c.body, c.headers, c.provider);
      assert.ok(c.expect.includes(res.status), `${c.what}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const after = await dumpRecordedBlobs(conveyor.host.storage!.connectionString);
    assert.deepEqual([...after.entries()].sort(), [...before.entries()].sort(), 'nothing was written');
  });

  test('a delivery replayed ten times concurrently and later again starts exactly one run', async () => {
    const commit = await sampleA.commitChange('replayed delivery');
    const hook = await sampleA.pushWebhook({ secret: SECRET_A, commit });
    const results = await Promise.all(Array.from({ length: 10 }, () => post(hook.body, hook.headers)));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 202], JSON.stringify(results.map((r) => r.body)));
    assert.equal(new Set(results.map((r) => r.body.runId)).size, 1);
    const runId = results[0]!.body.runId as string;
    const run = await conveyor.waitForRun(runId);
    assert.equal(run.status, 'Succeeded', JSON.stringify(run));
    const replay = await post(hook.body, hook.headers);
    assert.equal(replay.status, 200);
    assert.equal(replay.body.status, 'duplicate');
    const listed = await conveyor.api('/api/apps/alpha/runs');
    if (listed.status === 200) {
      const runs = ((await listed.json()) as { runs: { runId: string }[] }).runs;
      assert.equal(runs.filter((r) => r.runId === runId).length, 1);
    } else await listed.body?.cancel();
    const history = await conveyor.api('/api/apps/alpha/environments/dev/history');
    if (history.status === 200) {
      const records = ((await history.json()) as { records: { runId: string }[] }).records;
      assert.equal(records.filter((r) => r.runId === runId).length, 1, 'one deployment of the replayed commit');
    } else await history.body?.cancel();
  });
});

describe('hostile pipeline files', () => {
  const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    .concat('bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`))
    .join('\n');
  const cases: { what: string; yaml: string | (() => string) }[] = [
    { what: 'a billion-laughs anchor bomb', yaml: `version: 1\n${bomb}\nbuild: *i\nenvironments: *i\n` },
    { what: 'a 1 MiB document', yaml: () => `version: 1\n# ${'x'.repeat(1024 * 1024)}\nbuild:\n  command: true\n  artifact: [dist]\nenvironments: []\n` },
    { what: 'wrong types everywhere', yaml: 'version: "one"\nbuild: make\nenvironments: dev\ntest: [1, 2]\n' },
    { what: 'nesting 5000 deep', yaml: `${'['.repeat(5000)}${']'.repeat(5000)}\n` },
    { what: 'not YAML at all', yaml: '\t- : : {\n\u0000\u0001 ]]]' },
    { what: 'an empty file', yaml: '' },
    { what: 'a CONVEYOR_ variable override and a path traversal artifact', yaml: 'version: 1\nbuild:\n  command: true\n  artifact: ["../../etc"]\n  env: { CONVEYOR_BRANCH: x }\nenvironments:\n  - name: dev\n    target: { type: process, start: "true", port: 80 }\n' },
    ...fc.sample(fc.object({ maxDepth: 3 }), { numRuns: 3, seed: 42 }).map((o, i) => ({ what: `random YAML #${i + 1}`, yaml: toYaml(o) })),
  ];

  for (const c of cases) {
    test(`${c.what}: the run fails with a recorded "invalid pipeline file" reason`, async () => {
      const yaml = typeof c.yaml === 'function' ? c.yaml() : c.yaml;
      const commit = await sampleB.commitPipeline(yaml, `hostile pipeline: ${c.what}`);
      const hook = await sampleB.pushWebhook({ secret: SECRET_B, commit });
      const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
      assert.equal(res.status, 202, await res.text());
      const run = await conveyor.waitForRun(`beta.${commit}`, undefined, 30_000);
      assert.equal(run.status, 'Failed', JSON.stringify(run));
      assert.match(run.reason, /^invalid pipeline file: /);
      assert.equal(run.stages.load.status, 'Failed');
      assert.ok(run.reason.length < 20_000, 'the recorded reason is bounded');
    });
  }
});

describe('untrusted values never reach a shell', () => {
  let out: string;
  let injSample: SampleService;
  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'conveyor-inj-'));
    const [p] = await findFreePorts(1);
    // The build runs in the step sandbox, which cannot write to the test's folder: it prints what it
    // saw to its log instead. An injected `touch` of a marker would run either on the host (the
    // marker appears) or inside the sandbox (where the test's folder does not exist, so touch
    // complains in the log): both are checked.
    const build = `printf 'branch=%s\\n' "$CONVEYOR_BRANCH" && printf 'pusher=%s\\n' "$CONVEYOR_PUSHER" && mkdir -p dist && cp server.js dist/`;
    injSample = await createSampleService({
      pipelineYaml: `version: 1\nbuild:\n  command: ${JSON.stringify(build)}\n  artifact: [dist]\nenvironments:\n  - name: dev\n    target: { type: process, start: node dist/server.js, port: ${p} }\n    verify:\n      - http: { path: /healthz, retries: 3, interval: 200ms }\n`,
    });
  });
  after(async () => {
    await injSample?.dispose();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  test('branch names, pusher names and e-mails, commit messages and authors full of shell metacharacters: only ever variables', async () => {
    const m = (n: number) => join(out, `marker-${n}`);
    const branches = [`x$(touch\${IFS}${m(1)})`, `y;touch\${IFS}${m(2)};#\`touch\${IFS}${m(3)}\`|&<>'"`];
    const pusher = { name: `\`touch ${m(4)}\` $(touch ${m(5)})`, email: `a$(touch\${IFS}${m(6)})@example.com;touch ${m(7)}` };
    const res = await conveyor.api('/api/apps/inj', {
      method: 'PUT',
      key: 'admin',
      json: { repoUrl: injSample.url, provider: 'github', branches, webhookSecretSetting: 'HOSTILE_SECRET_A' },
    });
    assert.equal(res.status, 201, await res.text());
    for (const [i, branch] of branches.entries()) {
      await injSample.git('checkout', '--quiet', '-b', branch);
      const commit = await injSample.commitChange(`hostile branch #${i + 1}: $(touch ${m(8)}) \`touch ${m(9)}\``);
      const hook = await injSample.pushWebhook({ secret: SECRET_A, commit, ref: `refs/heads/${branch}` });
      // Re-sign a payload whose pusher is hostile too.
      const payload = JSON.parse(hook.body.toString()) as { pusher: { name: string; email: string }; head_commit: { message: string; author: { name: string } } };
      payload.pusher = pusher;
      payload.head_commit.message = `$(touch ${m(10)}); \`touch ${m(10)}\``;
      payload.head_commit.author.name = `Eve $(touch ${m(11)})`;
      const b = Buffer.from(JSON.stringify(payload));
      const sent = await fetch(`${conveyor.origin}/api/webhooks/github`, {
        method: 'POST',
        headers: { ...hook.headers, 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET_A).update(b).digest('hex')}` },
        body: b,
      });
      const ack = (await sent.json()) as { runId: string };
      assert.equal(sent.status, 202, `branch #${i + 1}: ${JSON.stringify(ack)}`);
      const run = await conveyor.waitForRun(ack.runId);
      assert.equal(run.status, 'Succeeded', JSON.stringify(run));
      assert.equal(run.branch, branch, 'the run records the branch verbatim');
      const log = await (await conveyor.api(`/api/runs/${ack.runId}/logs/build`)).text();
      assert.ok(log.split('\n').includes(`branch=${branch}`), `the build saw the branch verbatim:\n${log}`);
      assert.ok(log.split('\n').includes(`pusher=${pusher.email}`), `the build saw the pusher verbatim:\n${log}`);
      assert.doesNotMatch(log, /touch:/, 'no injected command ran inside the sandbox either');
    }
    for (let n = 1; n <= 11; n++) assert.equal(existsSync(m(n)), false, `marker ${n} was never created: nothing was spliced into a command`);
  });
});
