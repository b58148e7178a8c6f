// Approvals and rollbacks end to end through HTTP: approvals (listed user, group, N-of-M, self-approval, reject,
// timeout with the test clock), the rollback API (default, to a revision, refusing a bad one,
// force), newer-commit-wins and queue policies, 401/403, and the read APIs checked against what
// actually serves on the environment ports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { served, startConveyor, type ConveyorUnderTest, processEnvironmentYaml, pushCommit } from './conveyor-support.js';

const SECRET = 'approvals-webhook-secret-0987';
const TOKENS = {
  'token-alice-0000000000000001': { id: 'alice@example.com', name: 'Alice' },
  'token-bob-000000000000000002': { id: 'bob@example.com', groups: ['release-managers'] },
  'token-carol-0000000000000003': { id: 'carol@example.com' },
  'token-mallory-00000000000004': { id: 'mallory@example.com' },
  // The sample repository's pusher, in the release-managers group.
  'token-pusher-000000000000005': { id: 'conveyor-test@example.com', groups: ['release-managers'] },
};
const as = (who: 'alice' | 'bob' | 'carol' | 'mallory' | 'pusher') => ({ authorization: `Bearer ${Object.keys(TOKENS).find((t) => t.includes(`-${who}-`))}` });
const HOUR = 3600_000;

let conveyor: ConveyorUnderTest;
let sample: SampleService;

function pipeline(ports: Record<string, number>, stagingConcurrency: 'latest' | 'queue' = 'latest'): string {
  const env = (name: string, extra = '') => processEnvironmentYaml(name, ports[name], extra);
  return `build:
  command: echo "building $CONVEYOR_COMMIT" && mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev')}${env('staging', `    concurrency: ${stagingConcurrency}\n    approval: { approvers: [alice@example.com, group:release-managers], required: 2, timeout: 1h }\n`)}${env('prod', '    approval: { approvers: [carol@example.com], required: 1, timeout: 24h }\n')}`;
}

const push = (commit: string): Promise<string> => pushCommit(conveyor, sample, SECRET, commit);

const waiting = (env: string) => (run: any) => run.environments?.[env]?.status === 'Pending' && run.environments[env].approval?.waitingSince !== undefined;

async function approve(runId: string, env: string, who: Parameters<typeof as>[0], decision: 'approve' | 'reject' = 'approve', comment?: string) {
  return conveyor.api(`/api/runs/${runId}/environments/${env}/approval`, { method: 'POST', headers: as(who), json: { decision, ...(comment ? { comment } : {}) } });
}

async function advanceClock(ms: number): Promise<void> {
  const res = await fetch(`${conveyor.origin}/runtime/webhooks/durabletask/test-clock/advance?ms=${ms}&code=${conveyor.host.keys.master}`, { method: 'POST' });
  assert.equal(res.status, 200, await res.text());
}

async function rollback(env: string, body: unknown, who: Parameters<typeof as>[0] | null = 'alice') {
  return conveyor.api(`/api/apps/gated/environments/${env}/rollback`, { method: 'POST', headers: who ? as(who) : {}, json: body });
}

async function waitOperation(statusUrl: string): Promise<any> {
  const path = new URL(statusUrl).pathname;
  for (let i = 0; i < 600; i++) {
    const op = (await (await conveyor.api(path)).json()) as any;
    if (['Succeeded', 'Failed', 'Errored', 'Aborted'].includes(op.status)) return op;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('operation did not finish');
}

before(async () => {
  sample = await createSampleService();
  await sample.commitPipeline(pipeline(sample.ports));
  conveyor = await startConveyor({ testClock: true, env: { GATED_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify(TOKENS) } });
  const res = await conveyor.api('/api/apps/gated', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'GATED_SECRET' },
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

describe('approvals', () => {
  let runA: string;
  let commitA: string;

  test('staging waits for two distinct approvers; refusals for non-approvers, self-approval and missing identity', async () => {
    commitA = await sample.head();
    runA = await push(commitA);
    const run = await conveyor.waitForRun(runA, waiting('staging'));
    assert.equal(run.status, 'Running');
    assert.equal(run.environments.dev.status, 'Succeeded');
    const gate = run.environments.staging.approval;
    assert.deepEqual(gate.approvers, ['alice@example.com', 'group:release-managers']);
    assert.equal(gate.required, 2);
    assert.ok(Date.parse(gate.until) - Date.parse(gate.waitingSince) === HOUR, 'waits until the timeout');
    assert.equal((await served(sample.ports.staging)), undefined, 'nothing deployed to staging yet');

    const noKey = await conveyor.api(`/api/runs/${runA}/environments/staging/approval`, { method: 'POST', key: 'none', headers: as('alice'), json: { decision: 'approve' } });
    assert.equal(noKey.status, 401);
    const noIdentity = await conveyor.api(`/api/runs/${runA}/environments/staging/approval`, { method: 'POST', json: { decision: 'approve' } });
    assert.equal(noIdentity.status, 401);
    assert.equal(noIdentity.headers.get('content-type'), 'application/problem+json');
    const badToken = await conveyor.api(`/api/runs/${runA}/environments/staging/approval`, { method: 'POST', headers: { authorization: 'Bearer nope-nope-nope-nope' }, json: { decision: 'approve' } });
    assert.equal(badToken.status, 401);
    assert.equal((await approve(runA, 'staging', 'mallory')).status, 403, 'not listed');
    const self = await approve(runA, 'staging', 'pusher');
    assert.equal(self.status, 403, 'the pusher may not approve their own change');
    assert.match(((await self.json()) as any).detail, /own change/);
    assert.equal((await approve(runA, 'dev', 'alice')).status, 409, 'dev is not waiting');
    assert.equal((await approve(runA, 'nowhere', 'alice')).status, 404);
    assert.equal((await approve('gated.0000000000000000000000000000000000000000', 'staging', 'alice')).status, 404);
    const badBody = await conveyor.api(`/api/runs/${runA}/environments/staging/approval`, { method: 'POST', headers: as('alice'), json: { decision: 'maybe' } });
    assert.equal(badBody.status, 400);

    const first = await approve(runA, 'staging', 'alice', 'approve', 'looks good');
    assert.equal(first.status, 202, await first.text());
    const afterOne = await conveyor.waitForRun(runA, (r) => r.environments.staging.approval.decisions.length === 1);
    assert.equal(afterOne.environments.staging.status, 'Pending', 'one of two approvals is not enough');
    assert.equal((await approve(runA, 'staging', 'alice')).status, 409, 'the same approver twice');

    assert.equal((await approve(runA, 'staging', 'bob')).status, 202, 'a group member approves');
    const atProd = await conveyor.waitForRun(runA, waiting('prod'));
    assert.equal(atProd.environments.staging.status, 'Succeeded');
    assert.equal((await served(sample.ports.staging))?.commit, commitA);
    const decisions = atProd.environments.staging.approval.decisions;
    assert.deepEqual(decisions.map((d: any) => [d.by, d.decision]), [['alice@example.com', 'approve'], ['bob@example.com', 'approve']]);
    assert.equal(decisions[0].comment, 'looks good');
  });

  test('a rejection ends the run Failed, saying by whom and why', async () => {
    const res = await approve(runA, 'prod', 'carol', 'reject', 'not during the freeze');
    assert.equal(res.status, 202);
    const run = await conveyor.waitForRun(runA);
    assert.equal(run.status, 'Failed');
    assert.match(run.reason, /rejected by carol@example.com: not during the freeze/);
    assert.equal(run.environments.prod.approval.outcome, 'rejected');
    assert.equal(await served(sample.ports.prod), undefined, 'prod was not deployed');
    assert.equal((await approve(runA, 'prod', 'carol')).status, 409, 'no pending approval any more');
  });

  test('an approval that is never given times out (test clock) and the run ends Aborted', async () => {
    const commitB = await sample.commitChange('second');
    const runB = await push(commitB);
    await conveyor.waitForRun(runB, waiting('staging'));
    await approve(runB, 'staging', 'alice');
    await approve(runB, 'staging', 'bob');
    await conveyor.waitForRun(runB, waiting('prod'));
    await advanceClock(25 * HOUR);
    const run = await conveyor.waitForRun(runB);
    assert.equal(run.status, 'Aborted');
    assert.match(run.reason, /timed out/);
    assert.equal(run.environments.prod.approval.outcome, 'timed-out');
  });
});

describe('newer commits win', () => {
  test('a run waiting for approval is superseded when a newer run reaches the same environment', async () => {
    const older = await push(await sample.commitChange('older'));
    await conveyor.waitForRun(older, waiting('staging'));
    const newerCommit = await sample.commitChange('newer');
    const newer = await push(newerCommit);
    const olderRun = await conveyor.waitForRun(older);
    assert.equal(olderRun.status, 'Superseded');
    assert.match(olderRun.reason, new RegExp(`superseded by run ${newer.replace('.', '\\.')}`));
    await conveyor.waitForRun(newer, waiting('staging'));
    await approve(newer, 'staging', 'alice');
    await approve(newer, 'staging', 'bob');
    await conveyor.waitForRun(newer, waiting('prod'));
    await approve(newer, 'prod', 'carol');
    const done = await conveyor.waitForRun(newer);
    assert.equal(done.status, 'Succeeded', JSON.stringify(done));
    for (const env of ['dev', 'staging', 'prod'] as const) assert.equal((await served(sample.ports[env]))?.commit, newerCommit, `${env} runs the newest commit`);
  });

  test('with concurrency: queue, a newer run waits for the older one instead of superseding it', async () => {
    await sample.commitPipeline(pipeline(sample.ports, 'queue'));
    const first = await push(await sample.head());
    await conveyor.waitForRun(first, waiting('staging'));
    const secondCommit = await sample.commitChange('queued second');
    const second = await push(secondCommit);
    await conveyor.waitForRun(second, (r) => r.progress?.staging?.step === 'waiting-for-lock');
    assert.equal((await conveyor.waitForRun(first, () => true)).status, 'Running', 'the first run is not superseded');
    await approve(first, 'staging', 'alice');
    await approve(first, 'staging', 'bob');
    await conveyor.waitForRun(first, waiting('prod'));
    await approve(first, 'prod', 'carol');
    assert.equal((await conveyor.waitForRun(first)).status, 'Succeeded');
    await conveyor.waitForRun(second, waiting('staging'));
    await approve(second, 'staging', 'alice');
    await approve(second, 'staging', 'bob');
    await conveyor.waitForRun(second, waiting('prod'));
    await approve(second, 'prod', 'carol');
    assert.equal((await conveyor.waitForRun(second)).status, 'Succeeded');
    assert.equal((await served(sample.ports.prod))?.commit, secondCommit);
  });

  test('no two deployments of one environment ever overlap', async () => {
    for (const env of ['dev', 'staging', 'prod']) {
      const records = ((await (await conveyor.api(`/api/apps/gated/environments/${env}/history?pageSize=200`)).json()) as any).records;
      const spans = records.map((r: any) => [Date.parse(r.startedAt), Date.parse(r.finishedAt)]).sort((a: number[], b: number[]) => a[0]! - b[0]!);
      for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `${env}: deployment ${i} starts after the previous one finished`);
    }
  });
});

describe('rollback API', () => {
  test('refusals: no identity 401, unknown environment or revision 404, nothing earlier 409', async () => {
    assert.equal((await rollback('dev', {}, null)).status, 401);
    assert.equal((await rollback('nowhere', {})).status, 404);
    assert.equal((await rollback('dev', { toRevision: 999 })).status, 404);
    assert.equal((await rollback('dev', { toRevision: 'one' })).status, 400);
    const ok = await conveyor.api('/api/apps/nope/environments/dev/rollback', { method: 'POST', headers: as('alice'), json: {} });
    assert.equal(ok.status, 404);
  });

  test('default: the previous good revision is redeployed, verified and recorded as a rollback by whom and why', async () => {
    const before = ((await (await conveyor.api('/api/apps/gated')).json()) as any).environments.find((e: any) => e.name === 'dev');
    const res = await rollback('dev', { reason: 'customer reports' });
    const text = await res.text();
    assert.equal(res.status, 202, text);
    const { statusUrl } = JSON.parse(text);
    const op = await waitOperation(statusUrl);
    assert.equal(op.status, 'Succeeded', JSON.stringify(op));
    const history = ((await (await conveyor.api('/api/apps/gated/environments/dev/history?pageSize=50')).json()) as any).records;
    const newest = history[0];
    assert.equal(newest.kind, 'rollback');
    assert.equal(newest.requestedBy.id, 'alice@example.com');
    assert.match(newest.reason, /requested by alice@example.com: customer reports/);
    const target = history.find((r: any) => r.revision === newest.rolledBackTo);
    assert.ok(target.revision < before.revision && target.status === 'Succeeded');
    assert.equal((await served(sample.ports.dev))?.commit, target.commit, 'dev serves the rolled-back commit');
    // The rollback froze dev, recorded by whom and why, until someone allowed to roll back unfreezes it.
    const dev = ((await (await conveyor.api('/api/apps/gated')).json()) as any).environments.find((e: any) => e.name === 'dev');
    assert.equal(dev.freeze.kind, 'rollback');
    assert.equal(dev.freeze.by.id, 'alice@example.com');
    assert.match(dev.freeze.reason, /customer reports/);
    assert.equal((await conveyor.api('/api/apps/gated/environments/dev/unfreeze', { method: 'POST', json: {} })).status, 401);
    const unfrozen = await conveyor.api('/api/apps/gated/environments/dev/unfreeze', { method: 'POST', headers: as('bob'), json: { reason: 'fixed' } });
    assert.equal(unfrozen.status, 200, await unfrozen.clone().text());
    assert.equal((await conveyor.api('/api/apps/gated/environments/dev/unfreeze', { method: 'POST', headers: as('bob'), json: {} })).status, 409);
  });

  test('a bad revision is refused unless forced; a named good revision is redeployed', async () => {
    const broken = await sample.commitBrokenHealth();
    const run = await conveyor.waitForRun(await push(broken));
    assert.equal(run.status, 'Failed');
    const badRevision = run.environments.dev.revision;
    const refused = await rollback('dev', { toRevision: badRevision });
    assert.equal(refused.status, 409);
    assert.match(((await refused.json()) as any).detail, /marked bad/);

    const forced = await rollback('dev', { toRevision: badRevision, force: true, reason: 'reproduce the bug' });
    assert.equal(forced.status, 202);
    const op = await waitOperation(((await forced.json()) as any).statusUrl);
    assert.equal(op.status, 'Failed', 'the broken build fails verification again');
    assert.equal(op.rolledBackTo, badRevision);

    const good = await rollback('dev', { toRevision: 1 });
    assert.equal(good.status, 202);
    assert.equal((await waitOperation(((await good.json()) as any).statusUrl)).status, 'Succeeded');
    const rev1 = ((await (await conveyor.api('/api/apps/gated/environments/dev/history?pageSize=200')).json()) as any).records.find((r: any) => r.revision === 1);
    assert.equal((await served(sample.ports.dev))?.commit, rev1.commit);
  });
});

describe('read APIs', () => {
  test('the environment matrix, in promotion order, matches what each port serves', async () => {
    const appRes = await conveyor.api('/api/apps/gated');
    assert.equal(appRes.status, 200);
    const app = (await appRes.json()) as any;
    assert.deepEqual(app.environments.map((e: any) => e.name), ['dev', 'staging', 'prod']);
    for (const env of app.environments) {
      assert.equal((await served(sample.ports[env.name as 'dev']))?.commit, env.commit, `${env.name} serves what the matrix says`);
      assert.equal(env.healthy, true);
    }
    const list = (await (await conveyor.api('/api/apps')).json()) as any;
    assert.ok(list.apps.some((a: any) => a.name === 'gated' && a.environments.length === 3));
  });

  test('history and runs page newest first; logs and the OpenAPI document are served', async () => {
    const page1 = (await (await conveyor.api('/api/apps/gated/environments/dev/history?pageSize=2')).json()) as any;
    assert.equal(page1.records.length, 2);
    assert.ok(page1.records[0].revision > page1.records[1].revision);
    assert.ok(page1.continuation);
    const page2 = (await (await conveyor.api(`/api/apps/gated/environments/dev/history?pageSize=2&continuation=${encodeURIComponent(page1.continuation)}`)).json()) as any;
    assert.ok(page2.records[0].revision < page1.records[1].revision);
    assert.equal((await conveyor.api('/api/apps/gated/environments/dev/history?pageSize=0')).status, 400);

    const runs = (await (await conveyor.api('/api/apps/gated/runs?pageSize=3')).json()) as any;
    assert.equal(runs.runs.length, 3);
    assert.ok(Date.parse(runs.runs[0].createdAt) >= Date.parse(runs.runs[1].createdAt));

    const log = await conveyor.api(`/api/runs/${runs.runs[0].runId}/logs/build`);
    assert.equal(log.status, 200);
    assert.match(await log.text(), new RegExp(`building ${runs.runs[0].commit}`));
    assert.equal((await conveyor.api(`/api/runs/${runs.runs[0].runId}/logs/deploy`)).status, 404);

    const doc = (await (await conveyor.api('/api/openapi.json')).json()) as any;
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/apps/{app}/environments/{env}/rollback', '/runs/{runId}/environments/{env}/approval', '/runs/{runId}/logs/{step}']) assert.ok(doc.paths[p], p);
    assert.equal((await conveyor.api('/api/openapi.json', { key: 'none' })).status, 401);
  });

  test('registering apps needs the admin key', async () => {
    const body = { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'GATED_SECRET' };
    assert.equal((await conveyor.api('/api/apps/other', { method: 'PUT', json: body })).status, 401, 'function key is not enough');
    assert.equal((await conveyor.api('/api/apps/other', { method: 'PUT', key: 'admin', json: { ...body, webhookSecretSetting: 'ghp_abcdefghijklmnop1234567890' } })).status, 400, 'a secret value instead of a setting name');
    assert.equal((await conveyor.api('/api/apps/other', { method: 'PUT', key: 'admin', json: body })).status, 201);
    assert.equal((await conveyor.api('/api/apps/other', { method: 'DELETE' })).status, 401);
    assert.equal((await conveyor.api('/api/apps/other', { method: 'DELETE', key: 'admin' })).status, 204);
    assert.equal((await conveyor.api('/api/apps/other')).status, 404);
  });
});
