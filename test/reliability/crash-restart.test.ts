// kill -9 of Conveyor while several pipelines run at once: the local host CLI runs as a child
// process; it is SIGKILLed during builds, during deployments and at a random moment, then
// restarted on the same state folder (same Azurite data and ports). Afterwards every run has
// a correct final state, every environment serves exactly what its ledger `current` says,
// revisions are 1..n without gap or duplicate, deployments of one environment never overlap,
// and no process is left behind (Azurite exits with its host; no build step outlives a run).
// Further kill points: while prod waits for an approval (approved after the restart), right
// after approvals were sent, and during rollbacks requested through the API. Kill points wait
// for what the API shows; the random delays come from a seed that a failure names
// (CONVEYOR_TEST_SEED repeats it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSampleService, findFreePorts, type SampleService } from '../support/sample-service.js';
import { served } from '../e2e/conveyor-support.js';
import { seededRandom } from '../support/seeded-random.js';
import {
  FINAL_RUN_STATUSES,
  ledgerInvariants,
  ledgerOf,
  processesMentioning,
  spawnConveyorHost,
  stopAllEnvironments,
  twoEnvPipeline,
  waitGone,
  type ChildHost,
} from '../support/reliability-host.js';

const SECRET = 'crash-test-webhook-secret-9f3a';
const ALICE = 'token-crash-alice-000000000001';
const APPS = 5;
const ENVS = ['dev', 'prod'] as const;

interface AppUnderTest {
  name: string;
  sample: SampleService;
  ports: { dev: number; prod: number };
  runs: string[];
}

let root: string;
let host: ChildHost;
const apps: AppUnderTest[] = [];
const hostPids: number[] = [];
const random = seededRandom();

async function start(): Promise<ChildHost> {
  host = await spawnConveyorHost({
    root,
    env: { CRASH_WEBHOOK_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify({ [ALICE]: { id: 'alice@example.com' } }) },
  });
  hostPids.push(host.pid);
  return host;
}

async function push(app: AppUnderTest, commit: string): Promise<string> {
  const hook = await app.sample.pushWebhook({ secret: SECRET, commit });
  const res = await fetch(`${host.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const body = (await res.json()) as { runId: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  app.runs.push(body.runId);
  return body.runId;
}

/** The run as the API shows it now (undefined while it cannot be read). */
async function readRun(id: string): Promise<any> {
  const res = await host.api(`/api/runs/${id}`).catch(() => undefined);
  if (res?.status !== 200) {
    await res?.body?.cancel();
    return undefined;
  }
  return res.json();
}

/** Polls the runs until `when` holds for one of them; returns what it saw. Fails after `timeoutMs`. */
async function waitForMoment(runIds: string[], when: (run: any) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  const last = new Map<string, unknown>();
  while (Date.now() < until) {
    for (const id of runIds) {
      const run = await readRun(id);
      if (!run) continue;
      last.set(id, { status: run.status, customStatus: run.orchestration?.customStatus, environments: run.environments });
      if (when(run)) return `${id}: ${JSON.stringify(run.orchestration?.customStatus)}`;
    }
    await new Promise((r) => setTimeout(r, 40));
  }
  throw new Error(`the moment to kill (${what}) was not seen in ${timeoutMs} ms; last seen: ${JSON.stringify(Object.fromEntries(last))}`);
}

/** What changes while a run progresses. */
const progressOf = (run: any) => JSON.stringify([run.status, run.orchestration?.customStatus, run.environments]);

/** Polls the runs until one of them has changed since the first look (the host works on them). */
async function waitForProgress(runIds: string[], timeoutMs = 30_000): Promise<string> {
  const first = new Map<string, string>();
  for (const id of runIds) {
    const run = await readRun(id);
    if (run) first.set(id, progressOf(run));
  }
  return waitForMoment(runIds, (run) => first.has(run.runId) && progressOf(run) !== first.get(run.runId), 'a run progressing after the restart', timeoutMs);
}

/**
 * The invariants after every round: ledger gap-free and non-overlapping, one record per run and
 * environment, `current` as expected and served by the environment, no stray processes.
 */
async function checkInvariants(expected: Record<string, { dev: string; prod: string }>): Promise<void> {
  const ledger = ledgerOf(host.connectionString);
  for (const app of apps) {
    for (const env of ENVS) {
      const { problems, records } = await ledgerInvariants(ledger, app.name, env);
      assert.deepEqual(problems, [], `${app.name}/${env} ledger invariants`);
      // Exactly one deployment record per run and environment: nothing lost, nothing doubled.
      for (const runId of app.runs) {
        const mine = records.filter((r) => r.runId === runId && r.kind === 'deploy');
        assert.equal(mine.length, 1, `${app.name}/${env} has one record of ${runId}: ${JSON.stringify(records.map((r) => [r.revision, r.runId, r.status]))}`);
      }
      const current = await ledger.current(app.name, env);
      assert.equal(current?.commit, expected[app.name]![env], `${app.name}/${env} current is the expected commit`);
      const version = await served(app.ports[env]);
      assert.equal(version?.commit, current?.commit, `${app.name}/${env} serves what the ledger's current says`);
      assert.equal(version?.revision, String(current?.revision), `${app.name}/${env} serves the current revision`);
    }
  }

  // No orphans: besides the live host and its Azurite, only the current environments'
  // processes run from the test folder (no build step, no old revision, no old Azurite).
  const expectedReleaseDirs = new Set<string>();
  for (const app of apps) {
    for (const env of ENVS) {
      const state = JSON.parse(readFileSync(join(root, 'data', 'targets', 'process', app.name, env, 'state.json'), 'utf8')) as { releaseDir: string; status: string };
      assert.equal(state.status, 'running');
      expectedReleaseDirs.add(state.releaseDir);
    }
  }
  const straysNow = () => processesMentioning(root).filter(
    (p) => p.pid !== host.pid && p.pid !== host.azurite?.pid && ![...expectedReleaseDirs].some((d) => p.cwd === d || p.cwd.startsWith(`${d}/`)),
  );
  // A process stopped a moment ago may still be exiting: give it until the deadline.
  const until = Date.now() + 5000;
  let strays = straysNow();
  while (strays.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    strays = straysNow();
  }
  assert.deepEqual(strays, [], 'no orphaned processes');
}

/** kill -9, check Azurite follows its host, restart. */
async function crashAndRestart(): Promise<void> {
  const { azuriteExitedMs } = await host.kill9();
  assert.notEqual(azuriteExitedMs, undefined, 'Azurite exits by itself once its host is killed');
  await start();
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'conveyor-crash-'));
  const ports = await findFreePorts(APPS * 2);
  for (let i = 0; i < APPS; i++) {
    const p = { dev: ports[i * 2]!, prod: ports[i * 2 + 1]! };
    // A build that takes a moment, so a kill can land inside it.
    const sample = await createSampleService({ pipelineYaml: twoEnvPipeline({ ports: p, build: 'sleep 0.4 && mkdir -p dist && cp server.js dist/' }) });
    apps.push({ name: `crash-${i}`, sample, ports: p, runs: [] });
  }
  await start();
  for (const app of apps) {
    const res = await host.api(`/api/apps/${app.name}`, {
      method: 'PUT',
      key: 'admin',
      json: { repoUrl: app.sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'CRASH_WEBHOOK_SECRET' },
    });
    assert.equal(res.status, 201, await res.text());
  }
});

after(async () => {
  await host?.stop().catch(() => undefined);
  if (root) await stopAllEnvironments(root).catch(() => undefined);
  for (const app of apps) await app.sample.dispose();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('kill -9 during concurrent pipelines', () => {
  const rounds: { name: string; when: (run: any) => boolean }[] = [
    { name: 'during builds', when: (r) => r.orchestration?.customStatus?.stage === 'build' },
    { name: 'during deployments', when: (r) => r.orchestration?.customStatus?.stage === 'promote' },
    { name: 'at a random moment', when: () => false },
  ];

  for (const [index, round] of rounds.entries()) {
    test(`round ${index + 1}: killed ${round.name}, restarted, every run ends correctly`, () => random.reportingSeed(async () => {
      const commits = await Promise.all(apps.map((a) => (index === 0 ? a.sample.head() : a.sample.commitChange(`round ${index + 1} of ${a.name}`))));
      const runIds = await Promise.all(apps.map((a, i) => push(a, commits[i]!)));

      let moment: string;
      if (index === 2) {
        const delay = random.int(300, 2800);
        await new Promise((r) => setTimeout(r, delay));
        moment = `random delay of ${delay} ms`;
      } else {
        moment = await waitForMoment(runIds, round.when, round.name);
      }
      const azuriteBefore = host.azurite!.pid;
      const { azuriteExitedMs } = await host.kill9();
      assert.notEqual(azuriteExitedMs, undefined, `Azurite (pid ${azuriteBefore}) exits by itself once its host is killed`);

      await start();
      // A second kill while the restarted host works on the runs: recovery itself must survive a crash.
      if (index === 1) {
        moment += `; again at ${await waitForProgress(runIds)}`;
        assert.notEqual((await host.kill9()).azuriteExitedMs, undefined);
        await start();
      }

      const finals = await Promise.all(runIds.map((id) => host.waitForRun(id, (r) => FINAL_RUN_STATUSES.includes(r.status), 120_000)));
      for (const run of finals) {
        assert.equal(run.status, 'Succeeded', `${run.runId} (killed at: ${moment}): ${JSON.stringify(run, null, 2)}`);
        for (const env of ENVS) assert.equal(run.environments[env].status, 'Succeeded', `${run.runId} ${env}`);
      }

      await checkInvariants(Object.fromEntries(apps.map((a, i) => [a.name, { dev: commits[i]!, prod: commits[i]! }])));
      for (const pid of hostPids.slice(0, -1)) assert.equal(await waitGone(pid, 1000) !== undefined, true, `old host ${pid} is gone`);
    }));
  }

  test('round 4: killed while prod waits for approval, approved after the restart, killed again mid-deploy', async () => {
    const gated = (p: { dev: number; prod: number }) =>
      twoEnvPipeline({ ports: p, prodExtra: '    approval: { approvers: [alice@example.com], timeout: 1h }\n' });
    const commits = await Promise.all(apps.map((a) => a.sample.commitPipeline(gated(a.ports), `gate prod of ${a.name}`)));
    const runIds = await Promise.all(apps.map((a, i) => push(a, commits[i]!)));
    const waiting = (r: any) => r.environments?.prod?.status === 'Pending' && r.environments.prod.approval?.waitingSince !== undefined;
    await Promise.all(runIds.map((id) => host.waitForRun(id, waiting, 120_000)));
    await crashAndRestart();

    // Still waiting after the restart; approve everything, then kill while prod deploys.
    for (const id of runIds) {
      const run = await host.waitForRun(id, waiting, 60_000);
      assert.equal(run.status, 'Running');
      const res = await host.api(`/api/runs/${id}/environments/prod/approval`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}` }, json: { decision: 'approve' } });
      assert.equal(res.status, 202, await res.text());
    }
    // Killed once an approval was taken and its run goes on to deploy prod.
    await waitForMoment(runIds, (r) => r.environments?.prod?.approval?.decisions?.length > 0 && !FINAL_RUN_STATUSES.includes(r.status), 'an approved run deploying prod');
    await crashAndRestart();

    const finals = await Promise.all(runIds.map((id) => host.waitForRun(id, (r) => FINAL_RUN_STATUSES.includes(r.status), 120_000)));
    for (const run of finals) {
      assert.equal(run.status, 'Succeeded', JSON.stringify(run, null, 2));
      assert.deepEqual(run.environments.prod.approval.decisions.map((d: any) => d.by), ['alice@example.com'], 'the approval survived the crash, once');
    }
    await checkInvariants(Object.fromEntries(apps.map((a, i) => [a.name, { dev: commits[i]!, prod: commits[i]! }])));
  });

  test('round 5: killed during rollbacks requested through the API; every rollback completes once', () => random.reportingSeed(async () => {
    const ledger = ledgerOf(host.connectionString);
    const before = await Promise.all(apps.map(async (a) => ({ current: (await ledger.current(a.name, 'dev'))!, target: (await ledger.lastGood(a.name, 'dev', { before: (await ledger.current(a.name, 'dev'))!.revision }))! })));
    const operations: string[] = [];
    for (const app of apps) {
      const res = await host.api(`/api/apps/${app.name}/environments/dev/rollback`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}` }, json: { reason: 'crash test' } });
      const body = (await res.json()) as { statusUrl: string };
      assert.equal(res.status, 202, JSON.stringify(body));
      operations.push(new URL(body.statusUrl).pathname);
    }
    await new Promise((r) => setTimeout(r, random.int(200, 1000)));
    await crashAndRestart();
    for (const path of operations) {
      let op: any;
      for (let i = 0; i < 600; i++) {
        const res = await host.api(path).catch(() => undefined);
        if (res?.status === 200) {
          op = await res.json();
          if (['Succeeded', 'Failed', 'Errored', 'Aborted'].includes(op.status)) break;
        } else await res?.body?.cancel();
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(op?.status, 'Succeeded', `${path}: ${JSON.stringify(op)}`);
    }
    for (const [i, app] of apps.entries()) {
      const history = (await ledgerInvariants(ledger, app.name, 'dev')).records;
      const rollbacks = history.filter((r) => r.kind === 'rollback' && r.revision > before[i]!.current.revision);
      assert.equal(rollbacks.length, 1, `${app.name}: exactly one rollback record`);
      assert.equal(rollbacks[0]!.rolledBackTo, before[i]!.target.revision);
    }
    await checkInvariants(Object.fromEntries(apps.map((a, i) => [a.name, { dev: before[i]!.target.commit, prod: before[i]!.current.commit }])));
  }));
});
