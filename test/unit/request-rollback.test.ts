// Requesting a rollback and registering apps, as use-cases over Conveyor's in-memory fakes: the
// rules any adapter (HTTP today, a CLI tomorrow) gets, without a host or storage.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppRecord } from '../../shared/apps/index.js';
import type { RollbackInput } from '../../shared/contracts/activities.js';
import type { DeploymentOutcome } from '../../shared/domain/deployment.js';
import { NotFoundError } from '../../shared/errors.js';
import { recordDeployment } from '../../shared/use-cases/record-deployment.use-case.js';
import { registerApp, removeApp } from '../../shared/use-cases/register-app.use-case.js';
import { operationView, requestRollback, type RequestRollbackPorts } from '../../shared/use-cases/request-rollback.use-case.js';
import { InMemoryLedger, InMemoryRunStore } from '../support/fakes.js';

const commit = (n: number) => String(n).repeat(40).slice(0, 40);
const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const shop: AppRecord = { name: 'shop', repoUrl: 'https://example.com/shop.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'S', pipelinePath: '.conveyor/pipeline.yaml', createdAt: 't', updatedAt: 't' };
const ann = { id: 'ann@example.com', name: 'Ann', groups: ['release'] };

async function world(app: AppRecord = shop) {
  const ledger = new InMemoryLedger();
  const deployed = (revision: number, over: Partial<DeploymentOutcome> = {}): DeploymentOutcome => ({
    app: 'shop', environment: 'prod', revision, commit: commit(revision), digest: digest(revision), runId: `shop.${commit(revision)}`, kind: 'deploy', status: 'Succeeded', verification: [], requestedBy: { id: 'pat@example.com' }, startedAt: 't0', finishedAt: 't1', ...over,
  });
  await recordDeployment(ledger, deployed(1));
  await recordDeployment(ledger, deployed(2, { status: 'Failed', reason: 'verification failed' }));
  await recordDeployment(ledger, deployed(3));
  const started: { id: string; input: RollbackInput }[] = [];
  const ports: RequestRollbackPorts = {
    apps: { get: async (name) => (name === app.name ? { value: app } : Promise.reject(new NotFoundError(`no app ${name}`))) },
    ledger,
    runs: new InMemoryRunStore(),
    startRollback: async (id, input) => void started.push({ id, input }),
    newId: () => 'op-1',
    now: () => new Date('2026-11-30T12:00:00.000Z'),
  };
  return { ports, started };
}

describe('requesting a rollback', () => {
  test('the last good revision before the current one is the default; the orchestration starts with who asked, whole', async () => {
    const w = await world();
    const outcome = await requestRollback(w.ports, { app: 'shop', environment: 'prod', who: ann, force: false, reason: 'customers report errors' });
    assert.deepEqual(outcome, { ok: true, operationId: 'rollback.shop.prod.op-1' });
    assert.deepEqual(w.started[0]!.input, {
      operationId: 'rollback.shop.prod.op-1', app: 'shop', environment: 'prod', repoUrl: shop.repoUrl, pipelinePath: shop.pipelinePath, force: false,
      reason: 'customers report errors', requestedBy: { id: 'ann@example.com', name: 'Ann' }, requestedAt: '2026-11-30T12:00:00.000Z',
    });
  });

  const refusals: [string, Partial<Parameters<typeof requestRollback>[1]>, AppRecord, string, RegExp][] = [
    ['someone outside the policy\'s rollback list', {}, { ...shop, policy: { environments: { prod: { rollback: ['group:ops'] } } } }, 'forbidden', /ann@example.com may not roll prod back: the app's policy \(rollback\) allows group:ops/],
    ['an environment never deployed', { environment: 'staging' }, shop, 'not-found', /shop has no deployed environment "staging"/],
    ['a failed revision without force', { toRevision: 2 }, shop, 'conflict', /revision 2/],
  ];
  for (const [what, over, app, code, reason] of refusals) {
    test(`refused, nothing started: ${what}`, async () => {
      const w = await world(app);
      const outcome = await requestRollback(w.ports, { app: 'shop', environment: 'prod', who: ann, force: false, ...over });
      assert.equal(outcome.ok, false);
      assert.equal(!outcome.ok && outcome.code, code);
      assert.match(!outcome.ok ? outcome.reason : '', reason);
      assert.deepEqual(w.started, []);
    });
  }

  test('a policy that names the caller lets them, and break-glass is carried with who and when', async () => {
    const w = await world({ ...shop, policy: { environments: { prod: { rollback: ['group:release'] } } } });
    const outcome = await requestRollback(w.ports, { app: 'shop', environment: 'prod', who: ann, force: true, toRevision: 2, breakGlass: { reason: 'outage' } });
    assert.equal(outcome.ok, true);
    assert.deepEqual(w.started[0]!.input.breakGlass, { by: 'ann@example.com', name: 'Ann', groups: ['release'], reason: 'outage', at: '2026-11-30T12:00:00.000Z' });
  });

  test('the operation view speaks the status vocabulary and shows the result once done', () => {
    const input = { app: 'shop', environment: 'prod', requestedBy: { id: 'ann@example.com' }, requestedAt: 't' };
    assert.equal(operationView('op', { runtimeStatus: 'Failed', input }).status, 'Errored');
    assert.equal(operationView('op', { runtimeStatus: 'Terminated', input }).status, 'Aborted');
    const done = operationView('op', { runtimeStatus: 'Completed', input, output: { status: 'Succeeded', rolledBackTo: 1, revision: 4 } });
    assert.deepEqual([done.status, done.rolledBackTo, done.revision, done.requestedBy], ['Succeeded', 1, 4, { id: 'ann@example.com' }]);
  });
});

describe('registering apps', () => {
  function registry() {
    const apps = new Map<string, { value: AppRecord; etag: string }>();
    let invalidated = 0;
    const ports = {
      appIndex: { invalidate: () => void invalidated++ },
      apps: {
        get: async (name: string) => apps.get(name) ?? Promise.reject(new NotFoundError(`no app ${name}`)),
        create: async (input: Parameters<typeof registerApp>[1]['changes'] & { name: string }, by?: string) => {
          const value = { ...shop, ...input, createdBy: by } as AppRecord;
          apps.set(input.name, { value, etag: '1' });
          return { value, etag: '1' };
        },
        update: async (name: string, changes: object, etag: string) => {
          const found = apps.get(name)!;
          if (found.etag !== etag) throw new Error('412');
          const next = { value: { ...found.value, ...changes } as AppRecord, etag: String(Number(etag) + 1) };
          apps.set(name, next);
          return next;
        },
        delete: async (name: string) => void apps.delete(name),
      },
    };
    return { ports, apps, invalidated: () => invalidated };
  }

  test('a new name is created, a known one updated (conditionally when asked), and the webhook index refreshed each time', async () => {
    const r = registry();
    const created = await registerApp(r.ports as never, { name: 'shop', changes: { repoUrl: shop.repoUrl, provider: 'github', branches: ['main'], webhookSecretSetting: 'S' }, by: 'admin@example.com' });
    assert.deepEqual([created.created, created.etag], [true, '1']);
    const updated = await registerApp(r.ports as never, { name: 'shop', changes: { branches: ['main', 'release'] } });
    assert.deepEqual([updated.created, updated.value.branches, updated.etag], [false, ['main', 'release'], '2']);
    await assert.rejects(registerApp(r.ports as never, { name: 'shop', changes: { branches: ['x'] }, ifMatch: '1' }), /412/);
    await removeApp(r.ports as never, 'shop');
    assert.equal(r.apps.size, 0);
    assert.equal(r.invalidated(), 4);
  });
});
