// Conveyor's core job end to end, through public HTTP only: a signed push webhook starts a
// durable pipeline that builds once, tests, and deploys + verifies dev -> staging -> prod on the
// embedded default (local host + Azurite + SQLite + the process target); a broken commit is
// rolled back automatically in dev and goes no further.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { served, startConveyor, type ConveyorUnderTest } from './conveyor-support.js';
import { DeploymentLedger } from '../../shared/ledger/index.js';
import { CONTAINERS, containerClient, listAllNames } from '../../shared/storage/blob-store.js';

const SECRET = 'e2e-webhook-secret-value-0123';
let conveyor: ConveyorUnderTest;
let sample: SampleService;
let ledger: DeploymentLedger;

async function push(commit?: string, overrides: { secret?: string } = {}) {
  const hook = await sample.pushWebhook({ secret: overrides.secret ?? SECRET, commit });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  return { res, body: (await res.json()) as any, hook };
}

before(async () => {
  sample = await createSampleService();
  conveyor = await startConveyor({ env: { SAMPLE_WEBHOOK_SECRET: SECRET } });
  const res = await conveyor.api('/api/apps/sample', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'SAMPLE_WEBHOOK_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
  ledger = new DeploymentLedger(containerClient(conveyor.host.storage!.connectionString, CONTAINERS.state));
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

describe('push to deploy', () => {
  let firstCommit: string;
  let firstRun: any;

  test('a signed push builds once, tests, and deploys + verifies dev, staging and prod in order', async () => {
    firstCommit = await sample.head();
    const { res, body } = await push(firstCommit);
    assert.equal(res.status, 202, JSON.stringify(body));
    assert.equal(body.runId, `sample.${firstCommit}`);
    assert.match(body.statusUrl, /\/api\/runs\/sample\./);

    firstRun = await conveyor.waitForRun(body.runId);
    assert.equal(firstRun.status, 'Succeeded', JSON.stringify(firstRun, null, 2));
    assert.equal(firstRun.stages.build.status, 'Succeeded');
    assert.equal(firstRun.stages.test.status, 'Succeeded');

    for (const env of ['dev', 'staging', 'prod'] as const) {
      const version = await served(sample.ports[env]);
      assert.equal(version?.commit, firstCommit, `${env} serves the pushed commit`);
      assert.equal(firstRun.environments[env].status, 'Succeeded');
    }
    const t = (env: string, k: 'startedAt' | 'finishedAt') => Date.parse(firstRun.environments[env][k]);
    assert.ok(t('dev', 'finishedAt') <= t('staging', 'startedAt'), 'staging starts after dev is verified');
    assert.ok(t('staging', 'finishedAt') <= t('prod', 'startedAt'), 'prod starts after staging is verified');

    // One revision per environment, all of the same artifact digest (build once, promote many).
    const digests = new Set<string>();
    for (const env of ['dev', 'staging', 'prod']) {
      const history = await ledger.history('sample', env);
      assert.equal(history.records.length, 1, `${env} has one revision`);
      assert.equal(history.records[0]!.commit, firstCommit);
      assert.equal(history.records[0]!.status, 'Succeeded');
      digests.add(history.records[0]!.digest);
    }
    assert.equal(digests.size, 1, 'every environment deployed the same digest');
    assert.equal(firstRun.digest, [...digests][0]);

    // The build ran once: one build log for the run, and exactly one stored artifact.
    const logs = containerClient(conveyor.host.storage!.connectionString, CONTAINERS.logs);
    const logNames = await listAllNames(logs, `sample/${body.runId}/`);
    assert.deepEqual(logNames.filter((n) => /build/.test(n)), [`sample/${body.runId}/build.log`]);
    const artifacts = containerClient(conveyor.host.storage!.connectionString, CONTAINERS.artifacts);
    assert.equal((await listAllNames(artifacts, 'artifacts/')).filter((n) => n.endsWith('.tar.gz')).length, 1);
  });

  test('redelivering the same webhook starts no second run', async () => {
    const hook = await sample.pushWebhook({ secret: SECRET, commit: firstCommit });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
      const body = (await res.json()) as any;
      assert.equal(res.status, 200);
      assert.equal(body.status, 'duplicate');
      assert.equal(body.runId, `sample.${firstCommit}`);
    }
    assert.equal((await ledger.history('sample', 'dev')).records.length, 1, 'no second deployment');
  });

  test('a commit whose health check fails is rolled back in dev; staging and prod are untouched', async () => {
    const broken = await sample.commitBrokenHealth();
    const { res, body } = await push(broken);
    assert.equal(res.status, 202);
    const run = await conveyor.waitForRun(body.runId);
    assert.equal(run.status, 'Failed');
    assert.match(run.reason, /verification failed in dev/);
    assert.match(run.reason, /rolled back to revision 1/);
    assert.equal(run.environments.dev.status, 'Failed');
    assert.equal(run.environments.staging.status, 'Skipped');
    assert.equal(run.environments.prod.status, 'Skipped');

    assert.equal((await served(sample.ports.dev))?.commit, firstCommit, 'dev serves the previous commit again');
    assert.equal((await served(sample.ports.staging))?.commit, firstCommit);
    assert.equal((await served(sample.ports.prod))?.commit, firstCommit);

    const dev = (await ledger.history('sample', 'dev')).records;
    assert.deepEqual(
      dev.map((r) => [r.revision, r.kind, r.status, r.commit]),
      [
        [3, 'rollback', 'Succeeded', firstCommit],
        [2, 'deploy', 'Failed', broken],
        [1, 'deploy', 'Succeeded', firstCommit],
      ],
    );
    assert.equal(dev[0]!.rolledBackTo, 1);
    assert.ok(await ledger.badMarker('sample', 'dev', 2), 'the failed revision is marked bad');
    assert.ok(dev[1]!.verification.length >= 1, 'verification tries are recorded');
    assert.equal((await ledger.current('sample', 'dev'))?.revision, 3);
    assert.equal((await ledger.history('sample', 'staging')).records.length, 1);
    assert.equal((await ledger.history('sample', 'prod')).records.length, 1);
  });

  test('DORA metrics count the deployments, the failure, the rollback and the lead time from the push', async () => {
    const res = await conveyor.api('/api/apps/sample/metrics?window=7d');
    assert.equal(res.status, 200);
    const metrics = (await res.json()) as any;
    assert.equal(metrics.window.text, '7d');
    assert.deepEqual(metrics.environments.map((e: any) => e.environment), ['dev', 'staging', 'prod'], 'promotion order');
    const [dev, staging, prod] = metrics.environments;
    assert.deepEqual(dev.deployments, { attempted: 2, succeeded: 1, perDay: 1 / 7, perWeek: 1 });
    assert.deepEqual(dev.changeFailureRate, { failures: 1, deployments: 2, rate: 0.5 });
    assert.deepEqual(dev.reworkRate, { rework: 1, records: 3, rate: 1 / 3 });
    const [rollback, failed, first] = (await ledger.history('sample', 'dev')).records;
    assert.deepEqual(dev.timeToRestore, { count: 1, p50Seconds: (Date.parse(rollback!.finishedAt) - Date.parse(failed!.finishedAt)) / 1000, p90Seconds: (Date.parse(rollback!.finishedAt) - Date.parse(failed!.finishedAt)) / 1000, unrestored: 0 });
    const lead = (Date.parse(first!.finishedAt) - Date.parse(firstRun.createdAt)) / 1000;
    assert.deepEqual(dev.leadTime, { count: 1, p50Seconds: lead, p90Seconds: lead });
    for (const env of [staging, prod]) {
      assert.equal(env.deployments.succeeded, 1);
      assert.equal(env.changeFailureRate.rate, 0);
      assert.equal(env.timeToRestore.count, 0);
    }
    assert.equal(dev.daily.reduce((n: number, d: any) => n + d.deployments, 0), 1);

    for (const bad of ['30', '0d', 'forever', '400d']) {
      const refused = await conveyor.api(`/api/apps/sample/metrics?window=${bad}`);
      assert.equal(refused.status, 400, bad);
      assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(((await refused.json()) as any).errors[0].path, 'window');
    }
    assert.equal((await conveyor.api('/api/apps/nope/metrics')).status, 404);
  });
});

describe('webhook refusals', () => {
  test('a bad signature is refused with 401 problem+json', async () => {
    const { res, body } = await push(undefined, { secret: 'not-the-secret-at-all' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(body.status, 401);
  });

  test('a signature over a different body is refused', async () => {
    const hook = await sample.pushWebhook({ secret: SECRET });
    const tampered = Buffer.from(hook.body.toString().replace('"deleted":false', '"deleted":false ')); 
    const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: tampered });
    assert.equal(res.status, 401);
  });

  test('an unknown repository is 404', async () => {
    const hook = await sample.pushWebhook({ secret: SECRET });
    const other = Buffer.from(hook.body.toString().split(sample.dir).join('/nowhere/else'));
    const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: other });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
  });

  test('malformed JSON is 400', async () => {
    const res = await fetch(`${conveyor.origin}/api/webhooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      body: '{"ref": "refs/heads/main", ',
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).status, 400);
  });

  test('an oversize body is 413', async () => {
    const res = await fetch(`${conveyor.origin}/api/webhooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
      body: Buffer.alloc(6 * 1024 * 1024, 0x20),
    });
    assert.equal(res.status, 413);
  });

  test('an unknown provider is 404 and a ping is 200', async () => {
    const res = await fetch(`${conveyor.origin}/api/webhooks/bitbucket`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 404);
    const ping = Buffer.from(JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1, repository: { full_name: 'local/sample-service', clone_url: sample.url } }));
    const { createHmac } = await import('node:crypto');
    const pong = await fetch(`${conveyor.origin}/api/webhooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(ping).digest('hex')}` },
      body: ping,
    });
    assert.equal(pong.status, 200);
    assert.equal(((await pong.json()) as any).status, 'pong');
  });
});
