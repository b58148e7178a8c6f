// The building blocks of a promotion, wired by hand the way the promotion orchestration wires
// them (deploy -> one HTTP try at a time -> the pure policy decides -> rollback on failure),
// against the real sample service on three ports. No durable runtime here: waits are plain
// timers, because only the orchestration may own durable ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePipelineSpec } from '../../shared/pipeline/parse-pipeline.js';
import type { EnvironmentSpec, PipelineSpec, ProcessTargetSpec } from '../../shared/domain/pipeline.js';
import { decideVerification, type CheckTry } from '../../shared/domain/verification.js';
import { ProcessTarget } from '../../shared/targets/process.target.js';
import { runHttpCheck } from '../../shared/verify/http-check.js';
import { createSampleService, type SampleService } from '../support/sample-service.js';

let svc: SampleService;
let tmp: string;
let target: ProcessTarget;
let pipeline: PipelineSpec;

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

async function deploy(env: EnvironmentSpec, commit: string) {
  const build = join(tmp, 'builds', commit);
  await svc.buildCommit(commit, build);
  return target.deploy({
    app: 'sample',
    environment: env.name,
    revision: commit.slice(0, 12),
    commit,
    artifactDigest: `sha256:${commit}`,
    spec: env.target as ProcessTargetSpec,
    materialize: (dest) => cp(join(build, 'dist'), join(dest, 'dist'), { recursive: true }),
  });
}

async function verify(env: EnvironmentSpec, baseUrl: string): Promise<{ passed: boolean; reason: string; tries: CheckTry[] }> {
  const tries: CheckTry[] = [];
  for (const check of env.verify) {
    const own: CheckTry[] = [];
    for (;;) {
      const decision = decideVerification(check, own);
      if (decision.done) {
        if (!decision.passed) return { passed: false, reason: decision.reason, tries };
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, decision.waitMs));
      const t = await runHttpCheck(baseUrl, check);
      own.push(t);
      tries.push(t);
    }
  }
  return { passed: true, reason: 'all checks passed', tries };
}

async function servedCommit(env: EnvironmentSpec): Promise<string | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${(env.target as ProcessTargetSpec).port}/version`);
    return ((await res.json()) as { commit: string }).commit;
  } catch {
    return null;
  }
}

test('a good commit goes through dev, staging and prod; a broken one fails in dev, is rolled back there, and goes no further', async () => {
  const good = svc.initialCommit;
  for (const env of pipeline.environments) {
    const d = await deploy(env, good);
    assert.ok(d.ok, d.ok ? '' : `${d.reason}\n${d.logTail}`);
    const v = await verify(env, d.baseUrl);
    assert.equal(v.passed, true, v.reason);
  }
  for (const env of pipeline.environments) assert.equal(await servedCommit(env), good, env.name);

  const bad = await svc.commitBrokenHealth();
  const [dev] = pipeline.environments;
  const d = await deploy(dev!, bad);
  assert.ok(d.ok, 'the broken build starts and listens');
  const v = await verify(dev!, d.baseUrl);
  assert.equal(v.passed, false);
  assert.equal(v.tries.length, 3, 'one try and two retries');
  assert.match(v.reason, /did not pass within 3 tries \(3 failed\); last failure: expected status 200, got 500/);

  // Automatic rollback: the last good revision is redeployed and verified again.
  const back = await deploy(dev!, good);
  assert.ok(back.ok);
  assert.equal((await verify(dev!, back.baseUrl)).passed, true);
  assert.equal(await servedCommit(dev!), good, 'dev serves the previous commit again');
  for (const env of pipeline.environments.slice(1)) assert.equal(await servedCommit(env), good, `${env.name} untouched`);
  const status = await target.status('sample', 'dev');
  assert.equal(status.commit, good);
  assert.equal(status.healthy, true);
});
