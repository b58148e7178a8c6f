// The storage emulator goes away in the middle of a run and comes back on the same ports and
// data: Conveyor pauses (the storage SDK's retries, then the activities' durable retry
// policy) and resumes; the run finishes Succeeded, API calls made during the outage are
// answered once storage is back (or refused with problem+json, never a crash), and nothing
// recorded before the outage is lost or changed (docs/reliability.md "Storage outage").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type RunningAzurite } from '../../local/storage/azurite.js';
import { served, startConveyor, type ConveyorUnderTest } from '../e2e/conveyor-support.js';
import { createSampleService, findFreePorts, type SampleService } from '../support/sample-service.js';
import { dumpBlobs, ledgerInvariants, ledgerOf, twoEnvPipeline } from '../support/reliability-host.js';

const SECRET = 'storage-outage-secret-0000777';
let dir: string;
let azurite: RunningAzurite;
let ports: { blob: number; queue: number; table: number };
let conveyor: ConveyorUnderTest;
let sample: SampleService;
let envPorts: { dev: number; prod: number };

async function push(commit: string): Promise<string> {
  const hook = await sample.pushWebhook({ secret: SECRET, commit });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const body = (await res.json()) as { runId: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.runId;
}

interface Refused {
  at: number;
  method: string;
  path: string;
}

/** Listens on a port and drops (resets) every connection, noting the request it carried. */
async function dropConnections(port: number): Promise<{ refused(): Refused[]; close(): Promise<void> }> {
  const refused: Refused[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    const drop = (data?: Buffer) => {
      clearTimeout(timer);
      const [method = '', path = ''] = (data?.toString('latin1').split('\r\n', 1)[0] ?? '').split(' ');
      refused.push({ at: Date.now(), method, path });
      socket.resetAndDestroy();
    };
    const timer = setTimeout(drop, 1000);
    socket.once('data', drop);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { refused: () => [...refused], close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The same request refused at two moments at least a second apart (a retry after a back-off). */
function refusedAgain(requests: Refused[]): boolean {
  return requests.some((a) => requests.some((b) => b.path === a.path && b.at - a.at >= 1000));
}

async function waitUntil(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conveyor-outage-'));
  const [blob, queue, table, dev, prod] = await findFreePorts(5);
  ports = { blob: blob!, queue: queue!, table: table! };
  envPorts = { dev: dev!, prod: prod! };
  azurite = await startAzurite({ location: join(dir, 'azurite'), blobPort: ports.blob, queuePort: ports.queue, tablePort: ports.table });
  sample = await createSampleService({ pipelineYaml: twoEnvPipeline({ ports: envPorts, build: 'sleep 1.5 && mkdir -p dist && cp server.js dist/' }) });
  // A storage connection configured: the host starts no Azurite of its own.
  conveyor = await startConveyor({ env: { OUTAGE_SECRET: SECRET, AzureWebJobsStorage: azurite.connectionString } });
  assert.equal(conveyor.host.storage, undefined);
  const res = await conveyor.api('/api/apps/outage', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'OUTAGE_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
  const first = await conveyor.waitForRun(await push(await sample.head()));
  assert.equal(first.status, 'Succeeded');
});

after(async () => {
  await conveyor?.dispose();
  await azurite?.stop();
  await sample?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('storage outage mid-run', () => {
  test('the run pauses while storage is down and resumes when it is back; nothing recorded is lost', async () => {
    const before = await dumpBlobs(azurite.connectionString);
    const commit = await sample.commitChange('during the outage');
    const runId = await push(commit);
    await conveyor.waitForRun(runId, (r) => r.orchestration?.customStatus?.stage === 'build');

    await azurite.stop();
    // While storage is down its port drops every connection, so the test sees the outage being
    // felt instead of guessing how long that takes.
    const down = await dropConnections(ports.blob);
    // Calls made while storage is down: answered once it is back, or refused cleanly.
    let settled = false;
    const during = conveyor.api(`/api/runs/${runId}`).then(async (res) => ({ status: res.status, type: res.headers.get('content-type'), body: await res.text() }));
    void during.finally(() => (settled = true));
    const health = await conveyor.api('/api/health');
    assert.equal(health.status, 200, 'the host itself stays up');
    // Storage comes back once the API call's read was refused (it is in flight) and a request of
    // the run (a write or probe: the API only reads) was refused, retried by the storage SDK after
    // its back-off and refused again (the run is paused).
    await waitUntil(() => settled || down.refused().some((r) => r.method === 'GET'), 60_000, 'the API call to reach the unavailable storage');
    await waitUntil(() => refusedAgain(down.refused().filter((r) => r.method !== 'GET')), 60_000, 'a request of the run to be refused, retried and refused again');
    await down.close();
    azurite = await startAzurite({ location: join(dir, 'azurite'), blobPort: ports.blob, queuePort: ports.queue, tablePort: ports.table });

    const answered = await during;
    assert.ok(answered.status === 200 || (answered.status >= 400 && /problem\+json/.test(answered.type ?? '')), JSON.stringify(answered));
    const run = await conveyor.waitForRun(runId, undefined, 180_000);
    assert.equal(run.status, 'Succeeded', JSON.stringify(run, null, 2));
    assert.equal((await served(envPorts.dev))?.commit, commit);
    assert.equal((await served(envPorts.prod))?.commit, commit);

    // Everything recorded before the outage is still there, byte for byte (the current pointers
    // and the derived metrics index and matrix snapshots are meant to move on; run records are re-read by design).
    const after = await dumpBlobs(azurite.connectionString);
    const lost = [...before.entries()].filter(([name, { sha256 }]) => after.get(name)?.sha256 !== sha256 && !name.includes('/runs') && !name.endsWith('current.json') && !name.includes('/metrics-index/') && !name.includes('/matrix/'));
    assert.deepEqual(lost.map(([n]) => n), []);
    const ledger = ledgerOf(azurite.connectionString);
    for (const env of ['dev', 'prod']) {
      const { problems, records } = await ledgerInvariants(ledger, 'outage', env);
      assert.deepEqual(problems, []);
      assert.deepEqual(records.map((r) => [r.revision, r.status]), [[1, 'Succeeded'], [2, 'Succeeded']]);
    }
  });
});
