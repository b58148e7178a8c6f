// The incident: v1 and v2 approved into prod; v3 waits at the prod gate; a rollback to
// v1 completes without anyone deciding v3's approval (it never waits behind an approval); prod is
// frozen, recorded by whom and why; approving v3 does not deploy it until prod is unfrozen; the
// digest rolled back away from is quarantined in prod, so a revert of the revert carrying the
// same artifact is refused there (and only there). Under `concurrency: latest`, a run that got its
// approval and then waits on a freeze is superseded by a newer run (naming it); the unfreeze
// deploys only the newer one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { served, startConveyor, type ConveyorUnderTest, processEnvironmentYaml, pushCommit } from './conveyor-support.js';

const SECRET = 'incident-webhook-secret-4321';
const TOKENS = {
  'token-alice-0000000000000001': { id: 'alice@example.com' },
  'token-bob-000000000000000002': { id: 'bob@example.com' },
  'token-carol-0000000000000003': { id: 'carol@example.com' },
};
const as = (who: 'alice' | 'bob' | 'carol') => ({ authorization: `Bearer ${Object.keys(TOKENS).find((t) => t.includes(`-${who}-`))}` });

let conveyor: ConveyorUnderTest;
let sample: SampleService;

function pipeline(ports: Record<string, number>): string {
  const env = (name: string, extra = '') => processEnvironmentYaml(name, ports[name], extra);
  return `build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev')}${env('prod', '    approval: { approvers: [carol@example.com], required: 1, timeout: 24h }\n')}`;
}

const push = (commit: string): Promise<string> => pushCommit(conveyor, sample, SECRET, commit);

const waitingForApproval = (run: any) => run.environments?.prod?.status === 'Pending' && run.environments.prod.approval?.waitingSince !== undefined;

async function approveProd(runId: string): Promise<void> {
  const res = await conveyor.api(`/api/runs/${runId}/environments/prod/approval`, { method: 'POST', headers: as('carol'), json: { decision: 'approve' } });
  assert.equal(res.status, 202, await res.text());
}

async function release(message: string): Promise<{ runId: string; commit: string }> {
  const commit = await sample.commitChange(message);
  const runId = await push(commit);
  await conveyor.waitForRun(runId, waitingForApproval);
  await approveProd(runId);
  const done = await conveyor.waitForRun(runId);
  assert.equal(done.status, 'Succeeded', JSON.stringify(done));
  return { runId, commit };
}

async function prodView(): Promise<any> {
  return ((await (await conveyor.api('/api/apps/shop')).json()) as any).environments.find((e: any) => e.name === 'prod');
}

before(async () => {
  sample = await createSampleService();
  await sample.commitPipeline(pipeline(sample.ports));
  conveyor = await startConveyor({ env: { SHOP_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify(TOKENS) } });
  const res = await conveyor.api('/api/apps/shop', {
    method: 'PUT',
    key: 'admin',
    // alice is on call: the environment policy lets her roll prod back (default: prod's approvers).
    json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'SHOP_SECRET', policy: { environments: { prod: { rollback: ['alice@example.com', 'carol@example.com'] } } } },
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

test('the incident: rollback during a pending approval, freeze, unfreeze, quarantine', async () => {
  const v1 = await release('v1');
  const v2 = await release('v2');
  const v1Revision = (await conveyor.waitForRun(v1.runId)).environments.prod.revision;
  const v2Digest = (await conveyor.waitForRun(v2.runId)).digest;
  assert.equal((await served(sample.ports.prod))?.commit, v2.commit);

  // v3 reaches prod and waits for its approval.
  const v3commit = await sample.commitChange('v3');
  const v3 = await push(v3commit);
  await conveyor.waitForRun(v3, waitingForApproval);

  // The rollback to v1 does not wait for v3's approval: nobody decides it, and it completes.
  const started = await conveyor.api('/api/apps/shop/environments/prod/rollback', { method: 'POST', headers: as('alice'), json: { toRevision: v1Revision, reason: 'incident 42' } });
  assert.equal(started.status, 202, await started.clone().text());
  const opPath = new URL(((await started.json()) as any).statusUrl).pathname;
  let op: any;
  for (let i = 0; i < 600 && !['Succeeded', 'Failed', 'Errored', 'Aborted'].includes(op?.status); i++) {
    op = await (await conveyor.api(opPath)).json();
    if (!['Succeeded', 'Failed', 'Errored', 'Aborted'].includes(op.status)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(op.status, 'Succeeded', JSON.stringify(op));
  assert.equal((await served(sample.ports.prod))?.commit, v1.commit, 'prod serves v1 again');
  assert.ok(waitingForApproval(await conveyor.waitForRun(v3, () => true)), 'v3 still waits for its approval');

  // prod is frozen, by whom and why.
  const frozen = await prodView();
  assert.equal(frozen.freeze.kind, 'rollback');
  assert.equal(frozen.freeze.by.id, 'alice@example.com');
  assert.match(frozen.freeze.reason, /incident 42/);

  // Approving v3 does not deploy it: it waits, saying why.
  await approveProd(v3);
  const waiting = await conveyor.waitForRun(v3, (r) => r.progress?.prod?.step === 'frozen');
  assert.match(waiting.progress.prod.reason, /frozen by alice@example.com .*incident 42/);
  assert.equal((await served(sample.ports.prod))?.commit, v1.commit, 'still v1 while frozen');

  // Unfreezing needs the right to roll back: bob (not on the policy's rollback list) may not...
  const notBob = await conveyor.api('/api/apps/shop/environments/prod/unfreeze', { method: 'POST', headers: as('bob'), json: { reason: 'fix verified' } });
  assert.equal(notBob.status, 403, await notBob.clone().text());
  assert.equal((await conveyor.waitForRun(v3, (r) => r.progress?.prod?.step === 'frozen')).progress.prod.step, 'frozen', 'still frozen');
  // ...carol (on it) lets v3 through at once.
  const unfrozen = await conveyor.api('/api/apps/shop/environments/prod/unfreeze', { method: 'POST', headers: as('carol'), json: { reason: 'fix verified' } });
  assert.equal(unfrozen.status, 200, await unfrozen.clone().text());
  assert.equal(((await unfrozen.json()) as any).woke, v3);
  const v3done = await conveyor.waitForRun(v3);
  assert.equal(v3done.status, 'Succeeded', JSON.stringify(v3done));
  assert.equal((await served(sample.ports.prod))?.commit, v3commit);
  assert.equal((await prodView()).freeze, undefined);

  // A revert of the revert: a new commit whose artifact is v2's digest, quarantined in prod.
  const revert = await sample.commitChange('v2');
  const again = await push(revert);
  const refused = await conveyor.waitForRun(again);
  assert.equal(refused.digest, v2Digest, 'the same artifact digest as v2');
  assert.equal(refused.environments.dev.status, 'Succeeded', 'dev never rolled v2 back, so it takes it');
  assert.equal(refused.environments.prod.status, 'Failed');
  assert.match(refused.environments.prod.reason, /quarantined in prod: revision \d+ .* rolled back by alice@example.com/);
  assert.equal((await served(sample.ports.prod))?.commit, v3commit, 'prod untouched');

  // Rolling prod back to v2's revision is refused too, unless forced.
  const v2Revision = (await conveyor.waitForRun(v2.runId)).environments.prod.revision;
  const back = await conveyor.api('/api/apps/shop/environments/prod/rollback', { method: 'POST', headers: as('alice'), json: { toRevision: v2Revision } });
  assert.equal(back.status, 202, await back.clone().text());
  const backPath = new URL(((await back.json()) as any).statusUrl).pathname;
  let backOp: any;
  for (let i = 0; i < 600 && !['Succeeded', 'Failed', 'Errored', 'Aborted'].includes(backOp?.status); i++) {
    backOp = await (await conveyor.api(backPath)).json();
    if (!['Succeeded', 'Failed', 'Errored', 'Aborted'].includes(backOp.status)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(backOp.status, 'Failed', JSON.stringify(backOp));
  assert.match(backOp.reason, /quarantined in prod.*force/);
  assert.equal((await served(sample.ports.prod))?.commit, v3commit, 'prod untouched by the refused rollback');
});

test('a manual freeze needs a reason and an identity; it is recorded and shown', async () => {
  assert.equal((await conveyor.api('/api/apps/shop/environments/prod/freeze', { method: 'POST', json: { reason: 'x' } })).status, 401);
  assert.equal((await conveyor.api('/api/apps/shop/environments/prod/freeze', { method: 'POST', headers: as('bob'), json: {} })).status, 400);
  assert.equal((await conveyor.api('/api/apps/shop/environments/nowhere/freeze', { method: 'POST', headers: as('bob'), json: { reason: 'x' } })).status, 404);
  const res = await conveyor.api('/api/apps/shop/environments/prod/freeze', { method: 'POST', headers: as('bob'), json: { reason: 'change freeze for the sale' } });
  assert.equal(res.status, 201, await res.clone().text());
  const again = await conveyor.api('/api/apps/shop/environments/prod/freeze', { method: 'POST', headers: as('alice'), json: { reason: 'other' } });
  assert.equal(again.status, 200);
  assert.equal(((await again.json()) as any).freeze.by.id, 'bob@example.com', 'the first freeze stays');
  const view = await prodView();
  assert.deepEqual([view.freeze.kind, view.freeze.by.id, view.freeze.reason], ['manual', 'bob@example.com', 'change freeze for the sale']);
  assert.equal((await conveyor.api('/api/apps/shop/environments/prod/unfreeze', { method: 'POST', headers: as('alice'), json: {} })).status, 200);
});

test('concurrency latest: a run approved and then waiting on a freeze is superseded by a newer run; after the unfreeze only the newer one deploys', async () => {
  const before = (await served(sample.ports.prod))?.commit;
  const frozen = await conveyor.api('/api/apps/shop/environments/prod/freeze', { method: 'POST', headers: as('bob'), json: { reason: 'release freeze' } });
  assert.equal(frozen.status, 201, await frozen.clone().text());

  // The older run gets its approval, then waits on the freeze (approved, not deployed).
  const olderCommit = await sample.commitChange('freeze-older');
  const older = await push(olderCommit);
  await conveyor.waitForRun(older, waitingForApproval);
  await approveProd(older);
  const waiting = await conveyor.waitForRun(older, (r) => r.progress?.prod?.step === 'frozen');
  assert.match(waiting.progress.prod.reason, /frozen by bob@example\.com .*release freeze/);

  // A newer run reaches prod: the older one's wait is moot.
  const newerCommit = await sample.commitChange('freeze-newer');
  const newer = await push(newerCommit);
  const superseded = await conveyor.waitForRun(older);
  assert.equal(superseded.status, 'Superseded', JSON.stringify(superseded));
  assert.equal(superseded.environments.prod.status, 'Superseded');
  assert.equal(superseded.environments.prod.reason, `superseded by run ${newer} while waiting for prod to be unfrozen`);
  assert.equal((await served(sample.ports.prod))?.commit, before, 'prod untouched while frozen');

  // The newer run is approved and waits on the same freeze; the unfreeze wakes only it.
  await conveyor.waitForRun(newer, waitingForApproval);
  await approveProd(newer);
  await conveyor.waitForRun(newer, (r) => r.progress?.prod?.step === 'frozen');
  const unfrozen = await conveyor.api('/api/apps/shop/environments/prod/unfreeze', { method: 'POST', headers: as('carol'), json: { reason: 'freeze over' } });
  assert.equal(unfrozen.status, 200, await unfrozen.clone().text());
  assert.equal(((await unfrozen.json()) as any).woke, newer);
  const done = await conveyor.waitForRun(newer);
  assert.equal(done.status, 'Succeeded', JSON.stringify(done));
  assert.equal((await served(sample.ports.prod))?.commit, newerCommit);

  // The ledger: the newer run's deployment is the newest record and the older run deployed nowhere in prod.
  const history = (await (await conveyor.api('/api/apps/shop/environments/prod/history')).json()) as any;
  assert.equal(history.records[0].runId, newer);
  assert.equal(history.records[0].commit, newerCommit);
  assert.deepEqual(history.records.filter((r: any) => r.runId === older || r.commit === olderCommit), []);
});
