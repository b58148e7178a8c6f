// Deploy targets that misbehave, on the embedded default (process target), and what the user
// sees afterwards (docs/reliability.md "Misbehaving deployments"):
// - a service that never listens: the deployment fails at the start timeout, is recorded
//   Failed, and the environment is rolled back to the last good revision;
// - a service that hangs (accepts connections, never answers, ignores SIGTERM): verification
//   times out, the revision is recorded Failed, rolled back, and the hung process is killed;
// - a service that crashes after passing verification: the run is Succeeded (it was
//   verified), and the read API reports the environment as not running / not healthy; the
//   next push deploys normally.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { served, startConveyor, type ConveyorUnderTest } from '../e2e/conveyor-support.js';
import { createSampleService, findFreePorts, sampleServerSource, type SampleService } from '../support/sample-service.js';
import { ledgerOf, processesMentioning } from '../support/reliability-host.js';

const SECRET = 'misbehaving-targets-secret-555';
let conveyor: ConveyorUnderTest;
let sample: SampleService;
let ports: { dev: number; prod: number };
let good: string;

function pipeline(): string {
  const env = (name: 'dev' | 'prod') => `  - name: ${name}
    target: { type: process, start: node dist/server.js, port: ${ports[name]}, startTimeout: 3s }
    verify:
      - http: { path: /healthz, expect: 200, timeout: 1s, retries: 2, interval: 100ms }
`;
  return `build:\n  command: mkdir -p dist && cp server.js dist/\n  artifact: [dist]\nenvironments:\n${env('dev')}${env('prod')}`;
}

/** Commits `server.js` with the given source; returns the sha. */
async function commitServer(source: string, message: string): Promise<string> {
  await writeFile(join(sample.dir, 'server.js'), source);
  await sample.git('add', 'server.js');
  await sample.git('commit', '--quiet', '--no-verify', '--no-gpg-sign', '-m', message);
  return sample.head();
}

async function pushAndWait(commit: string): Promise<any> {
  const hook = await sample.pushWebhook({ secret: SECRET, commit });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const body = (await res.json()) as { runId: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return conveyor.waitForRun(body.runId, undefined, 120_000);
}

before(async () => {
  const [dev, prod] = await findFreePorts(2);
  ports = { dev: dev!, prod: prod! };
  sample = await createSampleService({ pipelineYaml: '# replaced below\n' });
  good = await sample.commitPipeline(pipeline(), 'real pipeline');
  conveyor = await startConveyor({ env: { MISBEHAVING_SECRET: SECRET } });
  const res = await conveyor.api('/api/apps/wobbly', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'MISBEHAVING_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
  const run = await pushAndWait(good);
  assert.equal(run.status, 'Succeeded', JSON.stringify(run));
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

async function devHistory(): Promise<[number, string, string, string][]> {
  const { records } = await ledgerOf(conveyor.host.storage!.connectionString).history('wobbly', 'dev');
  return records.map((r) => [r.revision, r.kind, r.status, r.commit]);
}

describe('misbehaving deploy targets', () => {
  test('a service that never listens: deployment fails at the start timeout, recorded, rolled back', async () => {
    const bad = await commitServer(`'use strict';\n// Never binds its port.\nsetInterval(() => {}, 1000);\n`, 'never listens');
    const run = await pushAndWait(bad);
    assert.equal(run.status, 'Failed', JSON.stringify(run));
    assert.match(run.reason, /deployment to dev failed: port \d+ did not accept connections within 3000 ms/);
    assert.match(run.reason, /rolled back to revision 1/);
    assert.equal(run.environments.prod.status, 'Skipped');
    assert.deepEqual(await devHistory(), [
      [3, 'rollback', 'Succeeded', good],
      [2, 'deploy', 'Failed', bad],
      [1, 'deploy', 'Succeeded', good],
    ]);
    assert.equal((await served(ports.dev))?.commit, good);
    assert.equal((await served(ports.prod))?.commit, good, 'prod untouched');
    assert.deepEqual(processesMentioning(join(conveyor.dataDir, 'targets', 'process', 'wobbly', 'dev', 'releases', '2')).map((p) => p.cmdline), [], 'the failed revision left no process');
  });

  test('a service that hangs (never answers, ignores SIGTERM): verification times out, rolled back, hung process killed', async () => {
    const hung = await commitServer(
      `'use strict';
// Accepts connections and never answers; ignores SIGTERM.
const net = require('node:net');
const sockets = [];
net.createServer((s) => sockets.push(s)).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {});
`,
      'hangs',
    );
    const run = await pushAndWait(hung);
    assert.equal(run.status, 'Failed', JSON.stringify(run));
    assert.match(run.reason, /verification failed in dev/);
    assert.match(run.reason, /rolled back to revision 3/);
    const history = await devHistory();
    assert.deepEqual(history.slice(0, 2), [
      [5, 'rollback', 'Succeeded', good],
      [4, 'deploy', 'Failed', hung],
    ]);
    const record = await ledgerOf(conveyor.host.storage!.connectionString).get('wobbly', 'dev', 4);
    assert.equal(record.verification.length, 3, 'one try plus two retries, all recorded');
    assert.equal((await served(ports.dev))?.commit, good);
    assert.deepEqual(processesMentioning(join(conveyor.dataDir, 'targets', 'process', 'wobbly', 'dev', 'releases', '4')).map((p) => p.cmdline), [], 'the hung process was killed');
  });

  test('a service that crashes after passing verification: run Succeeded, the read API shows it down, the next push recovers', async () => {
    const crashy = await commitServer(
      sampleServerSource({ healthStatus: 200, message: 'crashes soon' }) + `\nsetTimeout(() => process.exit(3), 2500).unref();\n`,
      'crashes after verification',
    );
    const run = await pushAndWait(crashy);
    assert.equal(run.status, 'Succeeded', 'verification passed before the crash');
    const ledger = ledgerOf(conveyor.host.storage!.connectionString);
    assert.equal((await ledger.current('wobbly', 'dev'))?.commit, crashy);
    assert.equal((await ledger.current('wobbly', 'prod'))?.commit, crashy);
    // Wait for both to have crashed, then ask what runs where.
    const crashDeadline = Date.now() + 10_000;
    while ((await served(ports.dev)) || (await served(ports.prod))) {
      assert.ok(Date.now() < crashDeadline, 'both environments crashed within 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const app = (await (await conveyor.api('/api/apps/wobbly')).json()) as { environments: { name: string; running: boolean; healthy: boolean; commit: string }[] };
    for (const env of app.environments) {
      assert.equal(env.commit, crashy, `${env.name}: the ledger still says what was deployed`);
      assert.equal(env.running, false, `${env.name} is reported not running`);
      assert.equal(env.healthy, false, `${env.name} is reported not healthy`);
    }
    const fixed = await commitServer(sampleServerSource({ healthStatus: 200, message: 'fixed' }), 'fixed');
    const next = await pushAndWait(fixed);
    assert.equal(next.status, 'Succeeded', JSON.stringify(next));
    assert.equal((await served(ports.dev))?.commit, fixed);
    assert.equal((await served(ports.prod))?.commit, fixed);
  });
});
