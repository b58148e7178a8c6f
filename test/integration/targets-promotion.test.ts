// The real `promotion` orchestrator (lock, deploy, the durable verification loop and its
// policy, recording, automatic rollback) driven against the real sample service on three
// ports: the real `deployArtifact` activity (artifact cache, digest-verified archive,
// extraction, the `process` target) and the real `verifyEnvironment` activity (HTTP checks).
// The ledger and run records are in-memory fakes of their ports; the durable runtime is the
// generator driver (test/support/orchestrator-driver.ts) with durable timers waiting for real.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployArtifact } from '../../functions/activities/deploy-artifact.activity.js';
import { verifyEnvironment } from '../../functions/activities/verify-environment.activity.js';
import { promotionOrchestrator } from '../../orchestrations/promotion.orchestrator.js';
import { ArtifactCache, packArtifact } from '../../shared/artifacts/index.js';
import type { PromotionInput, PromotionResult } from '../../shared/contracts/activities.js';
import type { EnvironmentSpec, PipelineSpec } from '../../shared/domain/pipeline.js';
import { promotionInstanceId, runIdFor } from '../../shared/domain/ids.js';
import { parsePipelineSpec } from '../../shared/pipeline/parse-pipeline.js';
import { SecretRegistry } from '../../shared/secrets/index.js';
import { ProcessTarget, TargetRegistry } from '../../shared/targets/index.js';
import { coordinationActivities, emptyWorldState, lockOperation, type WorldActivities, type WorldState } from '../support/conveyor-world.js';
import { InMemoryLedger } from '../support/fakes.js';
import { drive, type World } from '../support/orchestrator-driver.js';
import { createSampleService, type SampleService } from '../support/sample-service.js';

let svc: SampleService;
let tmp: string;
let target: ProcessTarget;
let pipeline: PipelineSpec;
/** Packed archives by digest: the artifact store the cache downloads from. */
const archives = new Map<string, string>();

before(async () => {
  svc = await createSampleService({ retries: 2, interval: '100ms' });
  tmp = await mkdtemp(join(tmpdir(), 'conveyor-promotion-'));
  target = new ProcessTarget({ root: join(tmp, 'targets'), stopGraceMs: 2_000 });
  pipeline = parsePipelineSpec(await svc.git('show', `${svc.initialCommit}:.conveyor/pipeline.yaml`));
});

after(async () => {
  for (const env of pipeline?.environments ?? []) await target.stop('sample', env.name).catch(() => undefined);
  await rm(tmp, { recursive: true, force: true });
  await svc.dispose();
});

/** Builds a commit with the sample's build step and packs its artifact; returns the digest. */
async function build(commit: string): Promise<string> {
  const dir = join(tmp, 'builds', commit);
  await svc.buildCommit(commit, dir);
  const file = join(tmp, `${commit}.tar.gz`);
  const packed = await packArtifact(dir, pipeline.build.artifact, file);
  archives.set(packed.digest, file);
  return packed.digest;
}

function world(): World<WorldState> {
  const secrets = new SecretRegistry();
  const activities: WorldActivities<WorldState> = {
    ...coordinationActivities<WorldState>(),
    deployArtifact: (state, input) =>
      deployArtifact({
        artifactCache: new ArtifactCache(join(tmp, 'artifact-cache'), {
          download: async (digest, dest) => {
            await copyFile(archives.get(digest)!, dest);
            return 0;
          },
        }),
        targets: new TargetRegistry([target]),
        ledger: new InMemoryLedger(state.ledger),
        sealed: { openAll: async () => ({}) },
        secrets,
      })(input),
    verifyEnvironment: (_state, input) => verifyEnvironment(input),
    loadPipeline: () => assert.fail('not called by a promotion'),
    buildArtifact: () => assert.fail('not called by a promotion'),
    runTests: () => assert.fail('not called by a promotion'),
  };
  const state = emptyWorldState();
  return {
    initial: () => state,
    activity: (s, name, input) => (activities as Record<string, (st: WorldState, i: unknown) => unknown>)[name]!(s, input),
    entity: lockOperation,
  };
}

async function promote(w: World<WorldState>, env: EnvironmentSpec, commit: string, digest: string): Promise<PromotionResult> {
  const runId = runIdFor('sample', commit);
  const input: PromotionInput = {
    subject: { app: 'sample', runId, requestedAt: new Date().toISOString(), repoUrl: svc.dir, commit, branch: 'main', pusher: { id: 'pat@example.com' } },
    digest,
    environment: env,
  };
  const result = await drive(promotionOrchestrator, input, w, { instanceId: promotionInstanceId(runId, env.name), start: new Date().toISOString(), realTimers: true });
  assert.equal(result.status, 'completed', result.error);
  return result.output as PromotionResult;
}

async function servedCommit(env: EnvironmentSpec): Promise<string | null> {
  if (env.target.type !== 'process') return null;
  try {
    const res = await fetch(`http://127.0.0.1:${env.target.port}/version`);
    return ((await res.json()) as { commit: string }).commit;
  } catch {
    return null;
  }
}

test('a good commit goes through dev, staging and prod; a broken one fails in dev, is rolled back there, and goes no further', async () => {
  const w = world();
  const good = svc.initialCommit;
  const goodDigest = await build(good);
  for (const env of pipeline.environments) {
    const { isolation, ...result } = await promote(w, env, good, goodDigest);
    assert.deepEqual(result, { environment: env.name, status: 'Succeeded', revision: 1 }, env.name);
    // The service's isolation is reported with the result (what the run record shows).
    assert.equal(isolation?.network, 'on', env.name);
    assert.ok(isolation && ['bubblewrap', 'unsandboxed'].includes(isolation.runner), `${env.name}: ${JSON.stringify(isolation)}`);
  }
  for (const env of pipeline.environments) assert.equal(await servedCommit(env), good, env.name);

  const bad = await svc.commitBrokenHealth();
  const badDigest = await build(bad);
  const [dev] = pipeline.environments;
  const result = await promote(w, dev!, bad, badDigest);
  assert.equal(result.status, 'Failed');
  assert.equal(result.revision, 2);
  assert.equal(result.rolledBackTo, 1, 'automatic rollback to the last good revision');
  assert.match(result.reason ?? '', /did not pass within 3 tries \(3 failed\); last failure: expected status 200, got 500/);

  const ledger = new InMemoryLedger(w.initial().ledger);
  const failed = await ledger.get('sample', 'dev', 2);
  assert.equal(failed.verification.length, 3, 'one try and two retries, recorded');
  assert.ok(await ledger.badMarker('sample', 'dev', 2), 'the failed revision is marked bad');
  const rollback = await ledger.get('sample', 'dev', 3);
  assert.deepEqual([rollback.kind, rollback.status, rollback.rolledBackTo, rollback.digest], ['rollback', 'Succeeded', 1, goodDigest]);
  assert.equal(await servedCommit(dev!), good, 'dev serves the previous commit again');
  for (const env of pipeline.environments.slice(1)) assert.equal(await servedCommit(env), good, `${env.name} untouched`);
  const status = await target.status('sample', 'dev');
  assert.equal(status.commit, good);
  assert.equal(status.healthy, true);
});
