// The authorization matrix (docs/reliability.md): every endpoint x {no key, function key,
// admin key} x {no identity, approver, non-approver} -> the expected status, through HTTP.
// Cells that pass authorization on a state-changing endpoint aim at something harmless where
// possible (a fresh app name, an unknown environment) so the matrix itself changes nothing
// that matters; the approval cells use a real run waiting for prod, and the approvers' two
// cells are the decisions that let it through.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startConveyor, type ConveyorUnderTest } from '../e2e/conveyor-support.js';
import { createSampleService, findFreePorts, type SampleService } from '../support/sample-service.js';

const SECRET = 'authz-matrix-webhook-secret-77';
const TOKENS = {
  'token-alice-approver-00000001': { id: 'alice@example.com', groups: ['approvers'] },
  'token-bob-approver-0000000002': { id: 'bob@example.com', groups: ['approvers'] },
  'token-mallory-nobody-0000003': { id: 'mallory@example.com', groups: ['developers'] },
};
type Key = 'none' | 'function' | 'admin';
type Who = 'none' | 'approver' | 'non-approver';
const KEYS: Key[] = ['none', 'function', 'admin'];
const WHO: Who[] = ['none', 'approver', 'non-approver'];

let conveyor: ConveyorUnderTest;
let sample: SampleService;
let runId: string;
let commit: string;

function pipeline(ports: number[]): string {
  return `build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
  - name: dev
    target: { type: process, start: node dist/server.js, port: ${ports[0]} }
    verify:
      - http: { path: /healthz, retries: 3, interval: 100ms }
  - name: prod
    target: { type: process, start: node dist/server.js, port: ${ports[1]} }
    verify:
      - http: { path: /healthz, retries: 3, interval: 100ms }
    approval: { approvers: [alice@example.com, bob@example.com], required: 2, timeout: 1h }
`;
}

async function push(c: string): Promise<string> {
  const hook = await sample.pushWebhook({ secret: SECRET, commit: c });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const body = (await res.json()) as { runId: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.runId;
}
const waitingForProd = (r: any) => {
  if (['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded'].includes(r.status)) throw new Error(`run ended before prod waited: ${JSON.stringify(r)}`);
  return r.environments?.prod?.status === 'Pending' && r.environments.prod.approval?.waitingSince !== undefined;
};

before(async () => {
  sample = await createSampleService();
  const ports = await findFreePorts(2);
  conveyor = await startConveyor({ env: { AUTHZ_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify(TOKENS) } });
  const res = await conveyor.api('/api/apps/authz', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'AUTHZ_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
  // Two runs: dev then has two revisions (a rollback target); the newer run waits for prod.
  await push(await sample.commitPipeline(pipeline(ports), 'gate prod'));
  commit = await sample.commitChange('second');
  runId = await push(commit);
  await conveyor.waitForRun(runId, waitingForProd);
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

/** One row: an endpoint and the expected status per cell, `[key][who]`. */
interface Row {
  name: string;
  method: string;
  path: string | ((key: Key, who: Who) => string);
  body?: (key: Key, who: Who) => unknown;
  headers?: () => Record<string, string>;
  rawBody?: () => Buffer;
  expect: Record<Key, Record<Who, number>>;
}

const all = (n: number): Record<Who, number> => ({ none: n, approver: n, 'non-approver': n });
const keyOnly = (ok: number): Row['expect'] => ({ none: all(401), function: all(ok), admin: all(ok) });
const adminOnly = (ok: number): Row['expect'] => ({ none: all(401), function: all(401), admin: all(ok) });
const anonymous = (ok: number): Row['expect'] => ({ none: all(ok), function: all(ok), admin: all(ok) });
const withIdentity = (approver: number, nonApprover: number): Row['expect'] => ({
  none: all(401),
  function: { none: 401, approver, 'non-approver': nonApprover },
  admin: { none: 401, approver, 'non-approver': nonApprover },
});

const ping = () => Buffer.from(JSON.stringify({ zen: 'Practicality beats purity.', hook_id: 7, repository: { full_name: 'local/sample-service', clone_url: sample.url } }));

export const ROWS: Row[] = [
  { name: 'liveness', method: 'GET', path: '/api/health', expect: anonymous(200) },
  {
    name: 'webhook (signed ping)',
    method: 'POST',
    path: '/api/webhooks/github',
    rawBody: ping,
    headers: () => ({ 'content-type': 'application/json', 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(ping()).digest('hex')}` }),
    expect: anonymous(200),
  },
  {
    name: 'webhook (unsigned push)',
    method: 'POST',
    path: '/api/webhooks/github',
    rawBody: () => Buffer.from(JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after: '1'.repeat(40), repository: { full_name: 'x', clone_url: sample.url }, pusher: { name: 'x' } })),
    headers: () => ({ 'content-type': 'application/json', 'x-github-event': 'push' }),
    expect: anonymous(401),
  },
  { name: 'list apps', method: 'GET', path: '/api/apps', expect: keyOnly(200) },
  { name: 'get app', method: 'GET', path: '/api/apps/authz', expect: keyOnly(200) },
  {
    name: 'register app',
    method: 'PUT',
    path: (k, w) => `/api/apps/extra-${k}-${w}`,
    body: () => ({ repoUrl: sample.url, provider: 'github', branches: ['release'], webhookSecretSetting: 'AUTHZ_SECRET' }),
    expect: adminOnly(201),
  },
  { name: 'delete app', method: 'DELETE', path: (k, w) => `/api/apps/extra-${k}-${w}`, expect: { none: all(401), function: all(401), admin: all(204) } },
  { name: 'list runs', method: 'GET', path: '/api/apps/authz/runs', expect: keyOnly(200) },
  { name: 'get run', method: 'GET', path: () => `/api/runs/${runId}`, expect: keyOnly(200) },
  { name: 'get build log', method: 'GET', path: () => `/api/runs/${runId}/logs/build`, expect: keyOnly(200) },
  { name: 'environment history', method: 'GET', path: '/api/apps/authz/environments/dev/history', expect: keyOnly(200) },
  { name: 'operation status (unknown id)', method: 'GET', path: '/api/operations/rollback.authz.dev.00000000-0000-0000-0000-000000000000', expect: keyOnly(404) },
  { name: 'OpenAPI document', method: 'GET', path: '/api/openapi.json', expect: keyOnly(200) },
  // Authorized rollback cells aim at an environment that does not exist: 404 proves the
  // caller got past authorization without rolling anything back.
  { name: 'rollback (unknown env)', method: 'POST', path: '/api/apps/authz/environments/nowhere/rollback', body: () => ({}), expect: withIdentity(404, 404) },
  // Approval cells before the approvers' own (which decide, and let prod through).
  { name: 'approval of prod', method: 'POST', path: () => `/api/runs/${runId}/environments/prod/approval`, body: () => ({ decision: 'approve', comment: 'matrix' }), expect: withIdentity(202, 403) },
];

function headersFor(key: Key, who: Who, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (key !== 'none') h['x-functions-key'] = key === 'admin' ? conveyor.host.keys.master : conveyor.host.keys.function;
  return h;
}
// The two approver cells use two different approvers (two distinct approvals are required).
const tokenFor = (key: Key, who: Who): string | undefined =>
  who === 'none' ? undefined : who === 'non-approver' ? 'token-mallory-nobody-0000003' : key === 'admin' ? 'token-bob-approver-0000000002' : 'token-alice-approver-00000001';

describe('authorization matrix', () => {
  test('every endpoint x key x identity answers the documented status', async () => {
    const failures: string[] = [];
    const table: string[] = [];
    for (const row of ROWS) {
      const cells: string[] = [];
      // Approver cells last within a row: they are the ones that change something.
      const order: [Key, Who][] = [];
      for (const who of ['none', 'non-approver', 'approver'] as Who[]) for (const key of KEYS) order.push([key, who]);
      const got = new Map<string, number>();
      for (const [key, who] of order) {
        const headers = headersFor(key, who, row.headers?.() ?? {});
        const token = tokenFor(key, who);
        if (token) headers.authorization = `Bearer ${token}`;
        let body: RequestInit['body'];
        if (row.rawBody) body = new Uint8Array(row.rawBody());
        else if (row.body) {
          headers['content-type'] = 'application/json';
          body = JSON.stringify(row.body(key, who));
        }
        const path = typeof row.path === 'function' ? row.path(key, who) : row.path;
        const res = await fetch(`${conveyor.origin}${path}`, { method: row.method, headers, body });
        const text = await res.text();
        got.set(`${key}/${who}`, res.status);
        const expected = row.expect[key][who];
        if (res.status !== expected) failures.push(`${row.name} [key ${key}, identity ${who}]: expected ${expected}, got ${res.status} ${text.slice(0, 200)}`);
        if (res.status >= 400) assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, `${row.name} ${key}/${who}`);
      }
      for (const key of KEYS) cells.push(WHO.map((w) => got.get(`${key}/${w}`)).join('/'));
      table.push(`${row.method} ${typeof row.path === 'function' ? row.path('function', 'none') : row.path}: ${cells.join(' | ')}`);
    }
    assert.deepEqual(failures, [], `\n${table.join('\n')}`);
    // The approvers' two decisions let prod through.
    const run = await conveyor.waitForRun(runId);
    assert.equal(run.status, 'Succeeded', JSON.stringify(run));
    assert.deepEqual(run.environments.prod.approval.decisions.map((d: any) => d.by).sort(), ['alice@example.com', 'bob@example.com']);
  });

  test('identity headers are not trusted without platform authentication', async () => {
    const c = await sample.commitChange('third');
    const id = await push(c);
    await conveyor.waitForRun(id, waitingForProd);
    const principal = Buffer.from(JSON.stringify({ auth_typ: 'aad', claims: [{ typ: 'email', val: 'alice@example.com' }, { typ: 'groups', val: 'approvers' }] })).toString('base64');
    const cases: { what: string; headers: Record<string, string>; expect: number }[] = [
      { what: 'a forged x-ms-client-principal (WEBSITE_AUTH_ENABLED is off)', headers: { 'x-ms-client-principal': principal }, expect: 401 },
      { what: 'an unknown bearer token', headers: { authorization: 'Bearer token-alice-approver-00000009' }, expect: 401 },
      { what: 'a token prefix', headers: { authorization: 'Bearer token-alice-approver' }, expect: 401 },
      { what: 'Basic instead of Bearer', headers: { authorization: `Basic ${Buffer.from('alice@example.com:x').toString('base64')}` }, expect: 401 },
      { what: 'the key as a token', headers: { authorization: `Bearer ${conveyor.host.keys.master}` }, expect: 401 },
    ];
    for (const c of cases) {
      const res = await conveyor.api(`/api/runs/${id}/environments/prod/approval`, { method: 'POST', key: 'admin', headers: c.headers, json: { decision: 'approve' } });
      assert.equal(res.status, c.expect, `${c.what}: ${await res.text()}`);
    }
    const run = (await (await conveyor.api(`/api/runs/${id}`)).json()) as any;
    assert.deepEqual(run.environments.prod.approval.decisions, [], 'no decision was recorded');
    const rb = await conveyor.api('/api/apps/authz/environments/dev/rollback', { method: 'POST', headers: { 'x-ms-client-principal': principal }, json: {} });
    assert.equal(rb.status, 401, 'a forged principal cannot roll back either');
  });

  test('a real rollback with the function key and an identity is accepted (202) and runs', async () => {
    const res = await conveyor.api('/api/apps/authz/environments/dev/rollback', { method: 'POST', headers: { authorization: 'Bearer token-mallory-nobody-0000003' }, json: { reason: 'matrix' } });
    const body = (await res.json()) as { statusUrl: string };
    assert.equal(res.status, 202, JSON.stringify(body));
    const path = new URL(body.statusUrl).pathname;
    let op: any;
    for (let i = 0; i < 300; i++) {
      op = await (await conveyor.api(path)).json();
      if (['Succeeded', 'Failed', 'Errored', 'Aborted'].includes(op.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(op.status, 'Succeeded', JSON.stringify(op));
  });
});
