// Racing webhooks: the same push delivered ten times at once (same and different delivery
// ids) starts exactly one run; twenty different commits pushed within a second end in the
// documented deterministic outcome (docs/reliability.md): with the environment lock's
// "newest wins" (`concurrency: latest`), every environment ends up serving the newest pushed
// commit, the newest run succeeds, every older run either succeeded before it or was
// superseded (never Failed/Errored), and no two deployments of an environment overlap.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { served, startConveyor, type ConveyorUnderTest } from '../e2e/conveyor-support.js';
import { createSampleService, SAMPLE_ENVIRONMENTS, type SampleService } from '../support/sample-service.js';
import { FINAL_RUN_STATUSES, ledgerInvariants, ledgerOf } from '../support/reliability-host.js';

const SECRET = 'races-webhook-secret-abcdef-12';
let conveyor: ConveyorUnderTest;
let sample: SampleService;

async function deliver(hook: { body: Buffer; headers: Record<string, string> }, provider = 'github'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${conveyor.origin}/api/webhooks/${provider}`, { method: 'POST', headers: hook.headers, body: hook.body });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  sample = await createSampleService({ retries: 5, interval: '100ms' });
  conveyor = await startConveyor({ env: { RACES_SECRET: SECRET } });
  const res = await conveyor.api('/api/apps/races', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'RACES_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

describe('racing webhooks', () => {
  test('one push delivered ten times concurrently (same and fresh delivery ids) starts exactly one run', async () => {
    const commit = await sample.head();
    const same = await sample.pushWebhook({ secret: SECRET, commit, deliveryId: 'f0000000-0000-4000-8000-000000000001' });
    const hooks = await Promise.all(Array.from({ length: 10 }, (_, i) => (i < 5 ? same : sample.pushWebhook({ secret: SECRET, commit }))));
    const results = await Promise.all(hooks.map((h) => deliver(h)));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 200, 200, 202], JSON.stringify(results));
    assert.deepEqual(new Set(results.map((r) => r.body.runId)), new Set([`races.${commit}`]));
    const run = await conveyor.waitForRun(`races.${commit}`);
    assert.equal(run.status, 'Succeeded', JSON.stringify(run));
    const runs = ((await (await conveyor.api('/api/apps/races/runs')).json()) as { runs: { runId: string }[] }).runs;
    assert.equal(runs.length, 1);
  });

  test('twenty commits pushed within a second: the newest wins everywhere, older runs succeed or are superseded', async () => {
    const commits: string[] = [];
    for (let i = 1; i <= 20; i++) commits.push(await sample.commitChange(`burst ${i}`));
    const hooks = await Promise.all(commits.map((c) => sample.pushWebhook({ secret: SECRET, commit: c })));
    const runIds: string[] = [];
    const ackMs: number[] = [];
    // In push order (each request answered before the next is sent), as a git server sends them.
    for (const h of hooks) {
      const t0 = Date.now();
      const r = await deliver(h);
      ackMs.push(Date.now() - t0);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      runIds.push(r.body.runId);
    }
    if (process.env.CONVEYOR_TEST_VERBOSE) process.stderr.write(`burst acknowledgements (ms): ${ackMs.join(' ')}\n`);

    const finals = await Promise.all(runIds.map((id) => conveyor.waitForRun(id, (r) => FINAL_RUN_STATUSES.includes(r.status), 180_000)));
    const newest = finals[finals.length - 1]!;
    const summary = finals.map((r, i) => `#${i + 1} ${r.status}${r.reason ? ` (${String(r.reason).slice(0, 120)})` : ''}`).join('\n');
    assert.equal(newest.status, 'Succeeded', summary);
    for (const r of finals) assert.ok(['Succeeded', 'Superseded'].includes(r.status), `${r.runId}: ${r.status}\n${summary}`);

    const ledger = ledgerOf(conveyor.host.storage!.connectionString);
    for (const env of SAMPLE_ENVIRONMENTS) {
      const { problems, records } = await ledgerInvariants(ledger, 'races', env);
      assert.deepEqual(problems, [], `${env}: deployments are gap-free and never overlap`);
      const current = await ledger.current('races', env);
      assert.equal(current?.commit, commits[19], `${env} ends on the newest commit\n${summary}\n${records.map((r) => `${r.revision} ${r.commit.slice(0, 8)} ${r.runId.slice(-8)} ${r.status}`).join('\n')}`);
      assert.equal((await served(sample.ports[env]))?.commit, commits[19], `${env} serves the newest commit`);
      // Order of what was deployed follows push order: an older commit never lands after a newer one.
      const order = records.filter((r) => r.kind === 'deploy').map((r) => commits.indexOf(r.commit));
      assert.deepEqual(order, [...order].sort((a, b) => a - b), `${env}: deployments in push order: ${order.join(',')}`);
    }
  });
});
