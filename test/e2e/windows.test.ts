// Deploy windows with the durable test clock: prod has a holiday deny window in
// Europe/Berlin that ends on the morning after the spring DST change. A run reaching prod waits,
// saying until when (08:00 CEST = 06:00Z, not 07:00Z); break-glass is refused for someone the
// policy does not name and recorded for someone it does; the read API shows when prod next
// opens; under `concurrency: latest` a newer run supersedes one waiting for the window; a
// rollback requested in the window waits for it (freezing prod at once) and goes through when
// the clock passes the window's end; the run waiting behind it then waits for the unfreeze; a
// rollback waiting for a later window is let in at once by break-glass through
// POST /api/operations/{id}/break-glass and the ledger records who broke the glass, when and why.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { served, startConveyor, type ConveyorUnderTest, pushCommit } from './conveyor-support.js';

const SECRET = 'windows-webhook-secret-456789';
const TOKENS = {
  'token-alice-0000000000000001': { id: 'alice@example.com' },
  'token-bob-000000000000000002': { id: 'bob@example.com', groups: ['sre'] },
};
const as = (who: 'alice' | 'bob') => ({ authorization: `Bearer ${Object.keys(TOKENS).find((t) => t.includes(`-${who}-`))}` });
// 2026-11-01 00:00 Berlin + 148 days 8 hours = 2027-03-29 08:00 Berlin, the day after clocks go forward.
const WINDOW_END = '2027-03-29T06:00:00.000Z';

let conveyor: ConveyorUnderTest;
let sample: SampleService;

function pipeline(ports: Record<string, number>): string {
  const env = (name: string) => `  - name: ${name}
    target: { type: process, start: node dist/server.js, port: ${ports[name]}, startTimeout: 10s }
    verify:
      - http: { path: /healthz, expect: 200, timeout: 2s, retries: 2, interval: 100ms }
`;
  return `build:
  command: mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev')}${env('prod')}`;
}

const push = (commit: string): Promise<string> => pushCommit(conveyor, sample, SECRET, commit);

async function clockNow(): Promise<number> {
  const res = await fetch(`${conveyor.origin}/runtime/webhooks/durabletask/test-clock?code=${conveyor.host.keys.master}`);
  return Date.parse(((await res.json()) as any).now);
}

before(async () => {
  sample = await createSampleService();
  await sample.commitPipeline(pipeline(sample.ports));
  conveyor = await startConveyor({ testClock: true, env: { WIN_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify(TOKENS), CONVEYOR_RECONCILE_SCHEDULE: 'off' } });
  const res = await conveyor.api('/api/apps/win', {
    method: 'PUT',
    key: 'admin',
    json: {
      repoUrl: sample.url,
      provider: 'github',
      branches: ['main'],
      webhookSecretSetting: 'WIN_SECRET',
      // Deploy windows are part of the environment's policy, beside its approvers.
      policy: {
        environments: {
          prod: {
            deployWindow: {
              windows: [{ kind: 'deny', name: 'winter holiday', start: '2026-11-01T00:00', duration: '148d8h', timeZone: 'Europe/Berlin' }],
              breakGlass: ['group:sre'],
            },
          },
        },
      },
    },
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
});

test('a registration refuses a window it cannot evaluate (in the policy, and in the old top-level deployWindows field)', async () => {
  const inPolicy = await conveyor.api('/api/apps/win', {
    method: 'PUT',
    key: 'admin',
    json: { policy: { environments: { prod: { deployWindow: { windows: [{ kind: 'deny', rrule: 'FREQ=MINUTELY', start: '2026-11-01T00:00', duration: '1h', timeZone: 'Europe/Berlin' }] } } } } },
  });
  assert.equal(inPolicy.status, 400);
  assert.match(await inPolicy.text(), /HOURLY or coarser/);
  const res = await conveyor.api('/api/apps/win', {
    method: 'PUT',
    key: 'admin',
    json: { deployWindows: { prod: { windows: [{ kind: 'deny', rrule: 'FREQ=MINUTELY', start: '2026-11-01T00:00', duration: '1h', timeZone: 'Europe/Berlin' }] } } },
  });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /HOURLY or coarser/);
});

test('a run waits for the deny window across the DST change; break-glass is checked and recorded', async () => {
  assert.ok((await clockNow()) < Date.parse(WINDOW_END), 'the test starts inside the window');
  const v1 = await sample.head();
  const run = await push(v1);
  const waiting = await conveyor.waitForRun(run, (r) => r.progress?.prod?.step === 'waiting-for-window');
  assert.equal(waiting.progress.prod.until, WINDOW_END, '08:00 CEST, after the change to summer time');
  assert.match(waiting.progress.prod.reason, /winter holiday/);
  assert.equal((await served(sample.ports.dev))?.commit, v1, 'dev has no window');

  const refused = await conveyor.api(`/api/runs/${run}/environments/prod/break-glass`, { method: 'POST', headers: as('alice'), json: { reason: 'please' } });
  assert.equal(refused.status, 403);
  const glass = await conveyor.api(`/api/runs/${run}/environments/prod/break-glass`, { method: 'POST', headers: as('bob'), json: { reason: 'customer outage' } });
  assert.equal(glass.status, 202, await glass.clone().text());
  const done = await conveyor.waitForRun(run);
  assert.equal(done.status, 'Succeeded', JSON.stringify(done));
  assert.equal(done.environments.prod.breakGlass.by.id, 'bob@example.com');
  assert.equal(done.environments.prod.breakGlass.reason, 'customer outage');
  assert.equal((await served(sample.ports.prod))?.commit, v1);

  // The read API: prod is closed by the window and says when it opens.
  const prod = ((await (await conveyor.api('/api/apps/win')).json()) as any).environments.find((e: any) => e.name === 'prod');
  assert.equal(prod.gate.open, false);
  assert.equal(prod.gate.closedBy, 'deny-window');
  assert.equal(prod.gate.nextOpensAt, WINDOW_END);

  // concurrency: latest — a run waiting for the window is superseded by a newer run, which waits in its place.
  const v2 = await push(await sample.commitChange('v2'));
  await conveyor.waitForRun(v2, (r) => r.progress?.prod?.step === 'waiting-for-window');
  const v3commit = await sample.commitChange('v3');
  const v3 = await push(v3commit);
  const superseded = await conveyor.waitForRun(v2);
  assert.equal(superseded.status, 'Superseded', JSON.stringify(superseded));
  assert.equal(superseded.environments.prod.status, 'Superseded');
  assert.match(superseded.environments.prod.reason, new RegExp(`superseded by run ${v3} while waiting for a deploy window of prod`));
  await conveyor.waitForRun(v3, (r) => r.progress?.prod?.step === 'waiting-for-window');
  assert.equal((await conveyor.api(`/api/runs/${v3}/environments/prod/break-glass`, { method: 'POST', headers: as('bob'), json: { reason: 'the fix' } })).status, 202);
  assert.equal((await conveyor.waitForRun(v3)).status, 'Succeeded');
  assert.equal((await served(sample.ports.prod))?.commit, v3commit);
});

test('a rollback in a closed window waits for it to open (break-glass checked), freezing prod at once', async () => {
  const v4commit = await sample.commitChange('v4');
  const v4 = await push(v4commit);
  await conveyor.waitForRun(v4, (r) => r.progress?.prod?.step === 'waiting-for-window');
  const history = (await (await conveyor.api('/api/apps/win/environments/prod/history')).json()) as any;
  const first = history.records.at(-1);
  const started = await conveyor.api('/api/apps/win/environments/prod/rollback', { method: 'POST', headers: as('alice'), json: { toRevision: first.revision, reason: 'bad v3' } });
  assert.equal(started.status, 202, await started.clone().text());
  const opPath = new URL(((await started.json()) as any).statusUrl).pathname;
  const op = async (pred: (o: any) => boolean) => {
    for (let i = 0; i < 900; i++) {
      const o: any = await (await conveyor.api(opPath)).json();
      if (pred(o)) return o;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`operation ${opPath}: condition not reached`);
  };
  const waiting = await op((o) => o.progress?.step === 'waiting-for-window' || !['Pending', 'Running'].includes(o.status));
  assert.equal(waiting.progress.step, 'waiting-for-window', JSON.stringify(waiting));
  assert.equal(waiting.progress.until, WINDOW_END);
  assert.match(waiting.progress.reason, /winter holiday/);
  const prod = ((await (await conveyor.api('/api/apps/win')).json()) as any).environments.find((e: any) => e.name === 'prod');
  assert.equal(prod.freeze?.kind, 'rollback', 'frozen at once, so no run slips in when the window opens');
  assert.notEqual((await served(sample.ports.prod))?.commit, first.commit, 'not rolled back yet');
  const refused = await conveyor.api(`${opPath}/break-glass`, { method: 'POST', headers: as('alice'), json: { reason: 'please' } });
  assert.equal(refused.status, 403);

  // The window ends: the rollback goes through by itself; v4 then waits for the unfreeze.
  const now = await clockNow();
  const res = await fetch(`${conveyor.origin}/runtime/webhooks/durabletask/test-clock/advance?ms=${Date.parse(WINDOW_END) - now + 1000}&code=${conveyor.host.keys.master}`, { method: 'POST' });
  assert.equal(res.status, 200);
  const done = await op((o) => !['Pending', 'Running'].includes(o.status));
  assert.equal(done.status, 'Succeeded', JSON.stringify(done));
  assert.equal(done.rolledBackTo, first.revision);
  assert.equal((await served(sample.ports.prod))?.commit, first.commit);
  assert.equal((await conveyor.api(`${opPath}/break-glass`, { method: 'POST', headers: as('bob'), json: { reason: 'late' } })).status, 409);
  await conveyor.waitForRun(v4, (r) => r.progress?.prod?.step === 'frozen');
  assert.equal((await conveyor.api('/api/apps/win/environments/prod/unfreeze', { method: 'POST', headers: as('bob'), json: { reason: 'fixed' } })).status, 200);
  const after = await conveyor.waitForRun(v4);
  assert.equal(after.status, 'Succeeded', JSON.stringify(after));
  assert.equal(after.environments.prod.breakGlass, undefined);
  assert.equal((await served(sample.ports.prod))?.commit, v4commit);
});

test('the old top-level deployWindows field still registers windows: they land in the policy', async () => {
  const res = await conveyor.api('/api/apps/win-old', {
    method: 'PUT',
    key: 'admin',
    json: {
      repoUrl: sample.url,
      provider: 'github',
      branches: ['main'],
      webhookSecretSetting: 'WIN_SECRET',
      deployWindows: { prod: { windows: [{ kind: 'deny', name: 'old style', start: '2026-11-01T00:00', duration: '1h', timeZone: 'Europe/Berlin' }], breakGlass: ['group:sre'] } },
    },
  });
  assert.equal(res.status, 201, await res.text());
  const app = (await (await conveyor.api('/api/apps/win-old')).json()) as any;
  assert.equal(app.deployWindows, undefined);
  assert.equal(app.policy.environments.prod.deployWindow.windows[0].name, 'old style');
  assert.deepEqual(app.policy.environments.prod.deployWindow.breakGlass, ['group:sre']);
  assert.equal((await conveyor.api('/api/apps/win-old', { method: 'DELETE', key: 'admin' })).status, 204);
});

test('break-glass lets a rollback waiting for a closed window in at once: 202, deployed, recorded in the ledger (who, when, why), Succeeded', async () => {
  // After the holiday window: a new deny window over the present moment, same break-glass list.
  const now = await clockNow();
  assert.ok(now > Date.parse(WINDOW_END), 'the earlier test moved the clock past the holiday window');
  const reopened = '2027-06-01T06:00:00.000Z';
  const put = await conveyor.api('/api/apps/win', {
    method: 'PUT',
    key: 'admin',
    json: {
      policy: {
        environments: {
          prod: { deployWindow: { windows: [{ kind: 'deny', name: 'spring freeze', start: '2027-03-01T00:00', duration: '92d8h', timeZone: 'Europe/Berlin' }], breakGlass: ['group:sre'] } },
        },
      },
    },
  });
  assert.equal(put.status, 200, await put.clone().text());
  assert.ok(now < Date.parse(reopened));

  const servedBefore = (await served(sample.ports.prod))?.commit;
  const history = (await (await conveyor.api('/api/apps/win/environments/prod/history')).json()) as any;
  const first = history.records.at(-1);
  assert.notEqual(first.commit, servedBefore, 'prod runs something else than the rollback target');
  const started = await conveyor.api('/api/apps/win/environments/prod/rollback', { method: 'POST', headers: as('alice'), json: { toRevision: first.revision, reason: 'bad v4' } });
  assert.equal(started.status, 202, await started.clone().text());
  const { operationId, statusUrl } = (await started.json()) as any;
  const opPath = new URL(statusUrl).pathname;
  assert.equal(opPath, `/api/operations/${operationId}`);
  const op = async (pred: (o: any) => boolean) => {
    for (let i = 0; i < 600; i++) {
      const o: any = await (await conveyor.api(opPath)).json();
      if (pred(o)) return o;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`operation ${opPath}: condition not reached`);
  };
  const waiting = await op((o) => o.progress?.step === 'waiting-for-window' || !['Pending', 'Running'].includes(o.status));
  assert.equal(waiting.progress.step, 'waiting-for-window', JSON.stringify(waiting));
  assert.equal(waiting.progress.until, reopened);
  assert.match(waiting.progress.reason, /spring freeze/);
  assert.equal((await served(sample.ports.prod))?.commit, servedBefore, 'not rolled back while it waits');

  // bob is on the break-glass list (group:sre): the rollback goes in now, without the clock moving.
  const glass = await conveyor.api(`${opPath}/break-glass`, { method: 'POST', headers: as('bob'), json: { reason: 'incident 7: data loss' } });
  assert.equal(glass.status, 202, await glass.clone().text());
  const answer = (await glass.json()) as any;
  assert.equal(answer.operationId, operationId);
  assert.equal(answer.environment, 'prod');
  assert.equal(answer.breakGlass.by.id, 'bob@example.com');
  assert.equal(answer.breakGlass.reason, 'incident 7: data loss');
  assert.ok(!Number.isNaN(Date.parse(answer.breakGlass.at)));
  const done = await op((o) => !['Pending', 'Running'].includes(o.status));
  assert.equal(done.status, 'Succeeded', JSON.stringify(done));
  assert.equal(done.rolledBackTo, first.revision);
  assert.equal((await served(sample.ports.prod))?.commit, first.commit, 'prod serves the rollback target');
  assert.equal(await clockNow() < Date.parse(reopened), true, 'inside the window still');

  // The ledger's newest record is the rollback, saying who broke the glass, when and why.
  const after = (await (await conveyor.api('/api/apps/win/environments/prod/history')).json()) as any;
  const record = after.records[0];
  assert.deepEqual([record.kind, record.status, record.rolledBackTo, record.runId, record.commit], ['rollback', 'Succeeded', first.revision, operationId, first.commit]);
  assert.equal(record.requestedBy.id, 'alice@example.com');
  assert.ok(
    record.reason.includes(`entered a closed deploy window by break-glass of bob@example.com at ${answer.breakGlass.at}: incident 7: data loss`),
    record.reason,
  );
  assert.equal((await conveyor.api(`${opPath}/break-glass`, { method: 'POST', headers: as('bob'), json: { reason: 'again' } })).status, 409, 'no longer waiting');
  const unknown = operationId.replace(/[0-9a-f](?=[0-9a-f]*$)/, (c: string) => (c === '0' ? '1' : '0'));
  assert.equal((await conveyor.api(`/api/operations/${unknown}/break-glass`, { method: 'POST', headers: as('bob'), json: { reason: 'x' } })).status, 404, `no operation ${unknown}`);
  assert.equal((await conveyor.api('/api/apps/win/environments/prod/unfreeze', { method: 'POST', headers: as('bob'), json: { reason: 'incident 7 over' } })).status, 200);
});
