// Secrets never appear in anything Conveyor writes: with a webhook secret, a git token
// (CONVEYOR_GIT_TOKEN) and an API token registered, and build/test steps that print all
// three (assembled at run time, so the pipeline file itself never holds them), the suite runs
// pipelines (one succeeding, one whose build fails right after printing them, an approval and
// a rollback), then searches every line the host process wrote, every blob of every container
// in Azurite, every file under the state and data folders (Azurite's own files, the SQLite
// task hub and its WAL, the git cache, releases and their logs) and the API's answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createSampleService, findFreePorts, type SampleService } from '../support/sample-service.js';
import { dumpBlobs, filesUnder, spawnConveyorHost, stopAllEnvironments, type ChildHost } from '../support/reliability-host.js';

const WEBHOOK_SECRET = ['secrets-test-webhook-', 'S3cr3t-value-91'];
const GIT_TOKEN = ['ghp_secretsTest', 'GitToken0123456789abcd'];
const API_TOKEN = ['api-token-secrets-', 'test-approver-0042'];
const SECRETS = [WEBHOOK_SECRET, GIT_TOKEN, API_TOKEN].map((parts) => parts.join(''));

let root: string;
let host: ChildHost;
let sample: SampleService;
const responses: string[] = [];

/** A step that prints every secret, each assembled from two halves at run time. */
const printSecrets = (stream: '' | '>&2') =>
  `A='${WEBHOOK_SECRET[0]}'; B='${WEBHOOK_SECRET[1]}'; C='${GIT_TOKEN[0]}'; D='${GIT_TOKEN[1]}'; E='${API_TOKEN[0]}'; F='${API_TOKEN[1]}'; echo "webhook=$A$B git=$C$D api=$E$F" ${stream}; printf 'one secret in two writes: %s' "$A"; sleep 0.2; printf '%s tail\\n' "$B"`;

function pipeline(ports: number[], failBuild: boolean): string {
  return `build:
  command: ${JSON.stringify(`${printSecrets('')}; mkdir -p dist && cp server.js dist/${failBuild ? ' && exit 3' : ''}`)}
  artifact: [dist]
test:
  command: ${JSON.stringify(printSecrets('>&2'))}
environments:
  - name: dev
    target: { type: process, start: node dist/server.js, port: ${ports[0]} }
    verify:
      - http: { path: /healthz, retries: 3, interval: 100ms }
  - name: prod
    target: { type: process, start: node dist/server.js, port: ${ports[1]} }
    verify:
      - http: { path: /healthz, retries: 3, interval: 100ms }
    approval: { approvers: [approver@example.com], timeout: 1h }
`;
}

async function api(path: string, init: Parameters<ChildHost['api']>[1] = {}): Promise<{ status: number; text: string }> {
  const res = await host.api(path, init);
  const text = await res.text();
  responses.push(`${path} -> ${res.status} ${JSON.stringify([...res.headers])} ${text}`);
  return { status: res.status, text };
}

async function push(commit: string): Promise<string> {
  const hook = await sample.pushWebhook({ secret: SECRETS[0]!, commit });
  const res = await fetch(`${host.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const text = await res.text();
  responses.push(text);
  assert.equal(res.status, 202, text);
  return (JSON.parse(text) as { runId: string }).runId;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'conveyor-secrets-'));
  const ports = await findFreePorts(2);
  sample = await createSampleService({ pipelineYaml: pipeline(ports, false) });
  host = await spawnConveyorHost({
    root,
    env: {
      SECRETS_WEBHOOK: SECRETS[0]!,
      CONVEYOR_GIT_TOKEN: SECRETS[1]!,
      CONVEYOR_API_TOKENS: JSON.stringify({ [SECRETS[2]!]: { id: 'approver@example.com' } }),
    },
  });
  const put = await api('/api/apps/vault', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'SECRETS_WEBHOOK' },
  });
  assert.equal(put.status, 201, put.text);

  // A run that prints the secrets in build and test, is approved with the API token, deploys.
  const first = await push(await sample.head());
  await host.waitForRun(first, (r) => r.environments?.prod?.approval?.waitingSince !== undefined);
  const approval = await api(`/api/runs/${first}/environments/prod/approval`, { method: 'POST', headers: { authorization: `Bearer ${SECRETS[2]}` }, json: { decision: 'approve' } });
  assert.equal(approval.status, 202, approval.text);
  assert.equal((await host.waitForRun(first)).status, 'Succeeded');
  // A second good run, so dev can be rolled back with the API token.
  const second = await push(await sample.commitChange('second'));
  await host.waitForRun(second, (r) => r.environments?.prod?.approval?.waitingSince !== undefined);
  const rollback = await api('/api/apps/vault/environments/dev/rollback', { method: 'POST', headers: { authorization: `Bearer ${SECRETS[2]}` }, json: { reason: 'secrets test' } });
  assert.equal(rollback.status, 202, rollback.text);
  const op = JSON.parse(rollback.text) as { statusUrl: string };
  const opDeadline = Date.now() + 60_000;
  let opStatus = await api(new URL(op.statusUrl).pathname);
  while (!/"status":"(Succeeded|Failed|Errored|Aborted)"/.test(opStatus.text)) {
    assert.ok(Date.now() < opDeadline, `the rollback did not finish in 60 s: ${opStatus.status} ${opStatus.text}`);
    await new Promise((r) => setTimeout(r, 100));
    opStatus = await api(new URL(op.statusUrl).pathname);
  }
  assert.match(opStatus.text, /"status":"Succeeded"/, 'the rollback succeeded');
  // A run whose build fails right after printing the secrets: the failure reason carries the output tail.
  const broken = await push(await sample.commitPipeline(pipeline(ports, true), 'failing build'));
  const failed = await host.waitForRun(broken);
  assert.equal(failed.status, 'Failed');
  responses.push(JSON.stringify(failed));

  for (const path of [
    `/api/runs/${first}`, `/api/runs/${first}/logs/build`, `/api/runs/${first}/logs/test`, `/api/runs/${broken}`, `/api/runs/${broken}/logs/build`,
    '/api/apps', '/api/apps/vault', '/api/apps/vault/runs', '/api/apps/vault/environments/dev/history', '/api/apps/vault/environments/prod/history', '/api/openapi.json',
  ]) await api(path);
});

after(async () => {
  await host?.stop().catch(() => undefined);
  if (root) await stopAllEnvironments(root).catch(() => undefined);
  await sample?.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Where a secret occurs in `data` (as UTF-8 text or base64), or undefined. */
function leak(data: Buffer): string | undefined {
  for (const s of SECRETS) {
    if (data.includes(Buffer.from(s))) return s;
    if (data.includes(Buffer.from(Buffer.from(s).toString('base64').slice(0, 20)))) return `${s} (base64)`;
  }
  return undefined;
}

describe('secrets never written anywhere', () => {
  test('the steps really printed them: the logs hold the redaction marker where each secret was', async () => {
    const log = await api(`/api/apps/vault/runs`);
    assert.equal(log.status, 200);
    const runId = (JSON.parse(log.text) as { runs: { runId: string; status: string }[] }).runs.find((r) => r.status === 'Succeeded')!.runId;
    const build = await api(`/api/runs/${runId}/logs/build`);
    assert.equal(build.status, 200, build.text);
    assert.match(build.text, /webhook=\*\*\* git=\*\*\* api=\*\*\*/);
    assert.match(build.text, /one secret in two writes: \*\*\* tail/, 'redaction holds across separate writes');
    const testLog = await api(`/api/runs/${runId}/logs/test`);
    assert.match(testLog.text, /webhook=\*\*\* git=\*\*\* api=\*\*\*/);
  });

  test('no API response holds a secret', () => {
    const found = responses.map((r) => [r.slice(0, 120), leak(Buffer.from(r))]).filter(([, l]) => l);
    assert.deepEqual(found, []);
  });

  test('no line the host process wrote holds a secret', async () => {
    // Read the log files (stdout and stderr of every host instance) once they hold every line
    // the host wrote so far (the test process writes them behind).
    const written = host.lines.length;
    const logLines = () => filesUnder(join(root, 'logs')).reduce((n, f) => n + readFileSync(f, 'utf8').split('\n').length - 1, 0);
    const flushDeadline = Date.now() + 10_000;
    while (logLines() < written) {
      assert.ok(Date.now() < flushDeadline, `the log files hold ${logLines()} of the ${written} lines the host wrote`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const files = filesUnder(join(root, 'logs'));
    assert.ok(files.length >= 1);
    const text = files.map((f) => readFileSync(f)).concat(Buffer.from(host.lines.join('\n')));
    assert.ok(host.lines.length > 10, 'the host did log');
    for (const t of text) assert.equal(leak(t), undefined);
  });

  test('no blob in any container holds a secret (archives searched unpacked too)', async () => {
    const blobs = await dumpBlobs(host.connectionString, true);
    assert.ok(blobs.size > 10, `${blobs.size} blobs`);
    const found: string[] = [];
    for (const [name, { content }] of blobs) {
      let l = leak(content!);
      if (!l && name.endsWith('.tar.gz')) l = leak(gunzipSync(content!));
      if (l) found.push(`${name}: ${l}`);
    }
    assert.deepEqual(found, []);
  });

  test('no file under the state and data folders holds a secret (Azurite files, SQLite task hub + WAL, git cache, releases)', async () => {
    const files = [...filesUnder(join(root, 'state')), ...filesUnder(join(root, 'data'))];
    assert.ok(files.some((f) => f.includes('durable')), 'the task hub is among them');
    assert.ok(files.some((f) => f.includes('azurite')), "Azurite's files are among them");
    const found: string[] = [];
    for (const f of files) {
      let data: Buffer;
      try {
        data = readFileSync(f);
      } catch {
        continue; // removed meanwhile (a WAL checkpoint, a temp file)
      }
      let l = leak(data);
      if (!l && f.endsWith('.gz')) l = leak(gunzipSync(data));
      if (l) found.push(`${f.slice(root.length)}: ${l}`);
    }
    assert.deepEqual(found, []);
  });
});
