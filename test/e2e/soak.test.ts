// Soak time with the durable test clock: dev declares `soak: 30m`, so staging is
// promoted only after the revision has run in dev for 30 minutes and passed its checks again;
// a newer run arriving during the soak waits for it (it does not restart it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { served, startConveyor, type ConveyorUnderTest, processEnvironmentYaml, pushCommit } from './conveyor-support.js';

const SECRET = 'soak-webhook-secret-222333';
let conveyor: ConveyorUnderTest;
let sample: SampleService;

function pipeline(ports: Record<string, number>): string {
  const env = (name: string, extra = '') => processEnvironmentYaml(name, ports[name], extra);
  return `build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev', '    soak: 30m\n')}${env('staging')}`;
}

const push = (commit: string): Promise<string> => pushCommit(conveyor, sample, SECRET, commit);

async function advance(ms: number): Promise<void> {
  const res = await fetch(`${conveyor.origin}/runtime/webhooks/durabletask/test-clock/advance?ms=${ms}&code=${conveyor.host.keys.master}`, { method: 'POST' });
  assert.equal(res.status, 200, await res.text());
}

before(async () => {
  sample = await createSampleService();
  await sample.commitPipeline(pipeline(sample.ports));
  conveyor = await startConveyor({ testClock: true, env: { SOAK_SECRET: SECRET, CONVEYOR_RECONCILE_SCHEDULE: 'off' } });
  const res = await conveyor.api('/api/apps/soaky', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'SOAK_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

test('soak then promote; a newer run waits for the soak instead of restarting it', async () => {
  const first = await sample.head();
  const run = await push(first);
  const soaking = await conveyor.waitForRun(run, (r) => r.progress?.dev?.step === 'soaking');
  assert.ok(Date.parse(soaking.progress.dev.until) - Date.parse(soaking.progress.dev.since) >= 30 * 60_000 - 1000);
  assert.equal((await served(sample.ports.dev))?.commit, first);
  assert.equal(await served(sample.ports.staging), undefined, 'staging not promoted during the soak');

  // A newer commit arrives while dev soaks: it waits for its turn.
  const second = await sample.commitChange('second');
  const newer = await push(second);
  await conveyor.waitForRun(newer, (r) => r.progress?.dev?.step === 'waiting-for-lock');
  assert.equal((await served(sample.ports.dev))?.commit, first, 'the soaking revision is not replaced');

  await advance(31 * 60_000);
  const done = await conveyor.waitForRun(run);
  assert.equal(done.status, 'Succeeded', JSON.stringify(done));
  assert.equal(done.environments.staging.status, 'Succeeded');

  // Then the newer run deploys dev and soaks in turn; staging follows after its soak.
  await conveyor.waitForRun(newer, (r) => r.progress?.dev?.step === 'soaking');
  assert.equal((await served(sample.ports.dev))?.commit, second);
  assert.equal((await served(sample.ports.staging))?.commit, first);
  await advance(31 * 60_000);
  assert.equal((await conveyor.waitForRun(newer)).status, 'Succeeded');
  assert.equal((await served(sample.ports.staging))?.commit, second);
});
