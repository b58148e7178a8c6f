// Use-cases of shared/ with in-memory fakes of Conveyor's own ports (test/support/fakes.ts):
// recording runs, choosing a rollback target, the environment matrix, the app index and the
// local artifact cache. No Azurite: the storage adapters have their own integration tests.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppIndex, type AppRecord } from '../../shared/apps/index.js';
import { ArtifactCache } from '../../shared/artifacts/index.js';
import type { DeploymentOutcome } from '../../shared/domain/deployment.js';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import { TargetRegistry } from '../../shared/targets/index.js';
import { environmentMatrix } from '../../shared/use-cases/environment-matrix.use-case.js';
import { recordDeployment } from '../../shared/use-cases/record-deployment.use-case.js';
import { createRun, recordRunPatch } from '../../shared/use-cases/record-run.use-case.js';
import { findRollbackTarget } from '../../shared/use-cases/rollback-target.use-case.js';
import { startRun } from '../../shared/use-cases/start-run.use-case.js';
import type { PipelineInput } from '../../shared/contracts/activities.js';
import { FakeTarget, InMemoryApps, InMemoryLedger, InMemoryRunStore } from '../support/fakes.js';

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const commit = (n: number) => String(n).repeat(40).slice(0, 40);
function outcome(revision: number, over: Partial<DeploymentOutcome> = {}): DeploymentOutcome {
  return { app: 'shop', environment: 'prod', revision, commit: commit(revision), digest: digest(revision), runId: `shop.${commit(revision)}`, kind: 'deploy', status: 'Succeeded', verification: [], requestedBy: { id: 'pat@example.com', name: 'Pat' }, startedAt: 't0', finishedAt: `t${revision}`, ...over };
}

describe('recording runs', () => {
  test('the webhook creates a Pending run; a second creation (redelivery) leaves it alone', async () => {
    const runs = new InMemoryRunStore();
    await createRun(runs, { app: 'shop', runId: 'shop.abcdef0', commit: 'abcdef0', branch: 'main', pusher: { id: 'pat@example.com' } });
    await recordRunPatch(runs, 'shop', 'shop.abcdef0', { status: 'Running' });
    await createRun(runs, { app: 'shop', runId: 'shop.abcdef0', commit: 'abcdef0' });
    assert.equal((await runs.get('shop', 'shop.abcdef0')).value.status, 'Running');
  });

  test('a patch for a missing run creates it from what the patch carries', async () => {
    const runs = new InMemoryRunStore();
    await recordRunPatch(runs, 'shop', 'shop.abcdef0', { status: 'Running', commit: 'abcdef0', branch: 'main', stages: { load: { status: 'Running' } } });
    const { value } = await runs.get('shop', 'shop.abcdef0');
    assert.equal(value.status, 'Running');
    assert.equal(value.commit, 'abcdef0');
    assert.equal(value.branch, 'main');
    assert.deepEqual(value.stages, { load: { status: 'Running' } });
  });

  test('losing a creation race to another writer is retried as an update, keeping both writes', async () => {
    const runs = new InMemoryRunStore();
    const create = runs.create.bind(runs);
    runs.create = async (run) => {
      // Another writer creates the record between our failed update and our create.
      await create({ app: run.app, runId: run.runId, status: 'Pending', commit: 'abcdef0', branch: 'main' });
      return create(run);
    };
    await recordRunPatch(runs, 'shop', 'shop.abcdef0', { environments: { dev: { status: 'Running' } } });
    const { value } = await runs.get('shop', 'shop.abcdef0');
    assert.equal(value.branch, 'main');
    assert.deepEqual(value.environments, { dev: { status: 'Running' } });
  });

  test('other store errors are not swallowed', async () => {
    const runs = new InMemoryRunStore();
    runs.update = async () => {
      throw new Error('storage unavailable');
    };
    await assert.rejects(recordRunPatch(runs, 'shop', 'shop.abcdef0', {}), /storage unavailable/);
  });
});

describe('starting runs', () => {
  const app = { name: 'shop', repoUrl: 'https://github.com/acme/shop.git', pipelinePath: '.conveyor/pipeline.yaml' };
  const request = { app, commit: 'ABCDEF0123', branch: 'main', pusher: { id: 'pat@example.com' }, trigger: 'webhook' as const, requestedAt: 't0' };
  function pipelines(live = new Set<string>()) {
    const started: { id: string; input: PipelineInput }[] = [];
    return {
      started,
      live,
      exists: async (id: string) => live.has(id),
      start: async (id: string, input: PipelineInput) => {
        if (live.has(id)) throw new Error('409: instance is live');
        live.add(id);
        started.push({ id, input });
      },
    };
  }

  test('creates the Pending run record, then starts the pipeline under the run id', async () => {
    const runs = new InMemoryRunStore();
    const p = pipelines();
    assert.deepEqual(await startRun({ runs, pipelines: p }, request), { status: 'started', runId: 'shop.abcdef0123' });
    assert.equal((await runs.get('shop', 'shop.abcdef0123')).value.status, 'Pending');
    assert.equal((await runs.get('shop', 'shop.abcdef0123')).value.trigger, 'webhook');
    assert.deepEqual(p.started[0]!.input.subject, { app: 'shop', runId: 'shop.abcdef0123', requestedAt: 't0', repoUrl: app.repoUrl, commit: 'ABCDEF0123', branch: 'main', pusher: { id: 'pat@example.com' } });
  });

  test('a commit that has a run, or loses the start race, is a duplicate; other start faults are thrown', async () => {
    const runs = new InMemoryRunStore();
    assert.equal((await startRun({ runs, pipelines: pipelines(new Set(['shop.abcdef0123'])) }, request)).status, 'duplicate');
    const racing = pipelines();
    racing.start = async (id) => {
      racing.live.add(id); // the other trigger's start landed first
      throw new Error('409: instance is live');
    };
    assert.equal((await startRun({ runs, pipelines: racing }, request)).status, 'duplicate');
    const broken = pipelines();
    broken.start = async () => {
      throw new Error('durable backend unavailable');
    };
    await assert.rejects(startRun({ runs: new InMemoryRunStore(), pipelines: broken }, request), /unavailable/);
  });
});

describe('recording deployments', () => {
  test('a failed deploy is marked bad; a failed rollback is not; re-recording is idempotent', async () => {
    const ledger = new InMemoryLedger();
    await recordDeployment(ledger, outcome(1));
    await recordDeployment(ledger, outcome(2, { status: 'Failed', reason: 'verification failed: 500' }));
    await recordDeployment(ledger, outcome(2, { status: 'Failed', reason: 'verification failed: 500' }));
    await recordDeployment(ledger, outcome(3, { kind: 'rollback', rolledBackTo: 1, status: 'Failed', digest: digest(1), runId: 'rollback.shop.prod.x' }));
    assert.equal((await ledger.badMarker('shop', 'prod', 2))?.reason, 'verification failed: 500');
    assert.equal(await ledger.badMarker('shop', 'prod', 3), undefined);
    assert.equal(await ledger.latestRevision('shop', 'prod'), 3);
    const stored = await ledger.get('shop', 'prod', 1);
    assert.equal(stored.digest, digest(1), 'digest is stored as digest');
    assert.deepEqual(stored.requestedBy, { id: 'pat@example.com', name: 'Pat' }, 'the whole actor is stored, name included');
  });

  test('a different deployment under a taken revision is a conflict', async () => {
    const ledger = new InMemoryLedger();
    await recordDeployment(ledger, outcome(1));
    await assert.rejects(recordDeployment(ledger, outcome(1, { runId: 'shop.other' })), ConflictError);
  });
});

describe('rollback target', () => {
  async function history(): Promise<InMemoryLedger> {
    const ledger = new InMemoryLedger();
    await recordDeployment(ledger, outcome(1));
    await recordDeployment(ledger, outcome(2));
    await recordDeployment(ledger, outcome(3, { status: 'Failed', reason: 'boom' }));
    await ledger.markBad('shop', 'prod', 2, 'found a bug later');
    return ledger;
  }
  const request = { app: 'shop', environment: 'prod' };

  test('by default: the last good revision before the current one, skipping bad ones', async () => {
    assert.deepEqual(await findRollbackTarget(await history(), request), { ok: true, revision: 1, commit: commit(1), digest: digest(1) });
  });
  test('an environment never deployed has nothing to roll back', async () => {
    assert.deepEqual(await findRollbackTarget(new InMemoryLedger(), request), { ok: false, code: 'never-deployed', reason: 'prod was never deployed' });
  });
  test('no good revision before the current one', async () => {
    const ledger = new InMemoryLedger();
    await recordDeployment(ledger, outcome(1));
    assert.deepEqual(await findRollbackTarget(ledger, request), { ok: false, code: 'no-good-revision', reason: 'prod has no good revision before revision 1 to roll back to' });
  });
  test('a named bad or failed revision is refused unless forced; a missing one is not found', async () => {
    const ledger = await history();
    assert.equal((await findRollbackTarget(ledger, { ...request, toRevision: 2 })).ok, false);
    assert.equal((await findRollbackTarget(ledger, { ...request, toRevision: 3 })).ok, false);
    assert.deepEqual(await findRollbackTarget(ledger, { ...request, toRevision: 3, force: true }), { ok: true, revision: 3, commit: commit(3), digest: digest(3) });
    await assert.rejects(findRollbackTarget(ledger, { ...request, toRevision: 9 }), NotFoundError);
  });
});

describe('environment matrix', () => {
  test('environments in the promotion order of the newest run, with the target\'s view and drift', async () => {
    const ledger = new InMemoryLedger();
    for (const environment of ['prod', 'dev', 'old']) await recordDeployment(ledger, outcome(1, { environment }));
    const runs = new InMemoryRunStore();
    await runs.create({ app: 'shop', runId: 'shop.abcdef0', status: 'Succeeded', commit: 'abcdef0', environmentOrder: ['dev', 'prod'] });
    const target = new FakeTarget();
    target.statuses.set('shop/dev', { app: 'shop', environment: 'dev', state: 'running', running: true, healthy: true, revision: 1, commit: commit(1), details: {} });
    target.statuses.set('shop/prod', { app: 'shop', environment: 'prod', state: 'running', running: true, healthy: true, revision: 7, commit: commit(7), details: {} });
    const views = await environmentMatrix({ ledger, runs, targets: new TargetRegistry([target]) }, 'shop');
    assert.deepEqual(views.map((v) => v.name), ['dev', 'prod', 'old']);
    assert.deepEqual(views.map((v) => [v.healthy, v.running]), [[true, true], [false, false], [false, false]]);
    assert.equal(views[1]!.actual?.revision, 7, 'prod runs something else than the ledger says (drift)');
    assert.equal(views[0]!.finishedAt, 't1');
  });
});

describe('app index', () => {
  const app = (name: string, repoUrl: string): AppRecord => ({ name, repoUrl, provider: 'github', branches: ['main'], webhookSecretSetting: 'S', pipelinePath: '.conveyor/pipeline.yaml', createdAt: 't', updatedAt: 't' });

  test('finds apps by any spelling of their repository URL, once each, and tells onLoad about every app', async () => {
    const apps = new InMemoryApps([app('shop', 'https://github.com/Acme/Shop.git'), app('shop-admin', 'https://github.com/acme/shop'), app('blog', 'https://github.com/acme/blog')]);
    const seen: string[] = [];
    const index = new AppIndex(apps, (all) => seen.push(...all.map((a) => a.name)));
    const found = await index.find(['https://github.com/acme/shop.git', 'https://GITHUB.com/acme/shop']);
    assert.deepEqual(found.map((a) => a.name).sort(), ['shop', 'shop-admin']);
    assert.deepEqual(seen.sort(), ['blog', 'shop', 'shop-admin']);
  });

  test('serves its copy within the refresh interval; invalidate forces a reload', async () => {
    const apps = new InMemoryApps([app('shop', 'https://github.com/acme/shop')]);
    const index = new AppIndex(apps, () => undefined, 60_000);
    await index.find(['https://github.com/acme/shop']);
    apps.apps = [];
    assert.equal((await index.find(['https://github.com/acme/shop'])).length, 1, 'cached');
    assert.equal(apps.lists, 1);
    index.invalidate();
    assert.equal((await index.find(['https://github.com/acme/shop'])).length, 0, 'reloaded');
    assert.equal(apps.lists, 2);
  });
});

describe('artifact cache', () => {
  test('downloads a digest once and keeps only the most recently used archives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-cache-'));
    try {
      const downloads: string[] = [];
      const store = {
        download: async (d: string, file: string) => {
          downloads.push(d);
          await writeFile(file, d);
          return d.length;
        },
      };
      const cache = new ArtifactCache(dir, store, 2);
      const a = await cache.archive(digest(1) as `sha256:${string}`);
      await cache.archive(digest(1) as `sha256:${string}`);
      assert.deepEqual(downloads, [digest(1)], 'the second deployment of a digest reads the local copy');
      await utimes(a, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      await cache.archive(digest(2) as `sha256:${string}`);
      await cache.archive(digest(3) as `sha256:${string}`);
      const left = (await readdir(dir)).sort();
      assert.equal(left.length, 2);
      assert.ok(!left.includes(`${'1'.repeat(64)}.tar.gz`), 'the least recently used archive was pruned');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
