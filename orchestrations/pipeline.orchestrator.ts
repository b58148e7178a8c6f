/**
 * `pipeline`: one run per commit. Loads the pipeline file at the commit, builds once (the
 * registry's image build first, when the file asks for one), tests,
 * then promotes the same artifact digest through the environments in declared order, each in
 * its own `promotion` sub-orchestration, and stops at the first environment that does not
 * succeed. The run record is kept up to date at every stage for the status API.
 */
import type * as df from 'durable-functions';
import type { Status } from '../shared/domain/status.js';
import type { PipelineInput, PromotionInput, PromotionResult, RunPatch } from '../shared/contracts/activities.js';
import type { PipelineResult } from '../shared/contracts/orchestrations.js';
import { promotionInstanceId } from '../shared/domain/ids.js';
import { call, callOrchestration, errorMessage, nowIso } from './activity-call.js';
import { buildImage } from './image-build.js';
import { mergeRunPatch, type StepIsolation } from '../shared/domain/run.js';

/** Custom status a pipeline shows while it works. */
export interface PipelineStatus {
  stage: 'load' | 'build' | 'test' | 'promote' | 'done';
  environment?: string;
  since: string;
}


/** The isolation a failed step ran with, when it ran at all (a validation failure has none). */
function isolationOf(failed: { ok: false; isolation?: StepIsolation }): { isolation?: StepIsolation } {
  return failed.isolation ? { isolation: failed.isolation } : {};
}

export function* pipelineOrchestrator(context: df.OrchestrationContext): Generator<df.Task, PipelineResult, unknown> {
  const { subject, pipelinePath } = context.df.getInput<PipelineInput>();
  const stage = (s: PipelineStatus['stage'], environment?: string) =>
    context.df.setCustomStatus({ stage: s, environment, since: nowIso(context) } satisfies PipelineStatus);
  // A stage's result and the next stage's start happen at the same moment: they are written
  // together (`later` holds a patch until the next `record`), halving run-record writes.
  let carry: RunPatch | undefined;
  const later = (patch: RunPatch) => {
    carry = mergeRunPatch(carry, patch);
  };
  const record = (patch: RunPatch) => {
    const merged = mergeRunPatch(carry, patch);
    carry = undefined;
    return call(context, 'recordRun', { app: subject.app, runId: subject.runId, patch: merged });
  };
  const environments: PromotionResult[] = [];

  const finish = function* (status: Status, reason?: string, digest?: string): Generator<df.Task, PipelineResult, unknown> {
    stage('done');
    yield* record({ status, reason, finishedAt: nowIso(context) });
    return { status, reason, digest, environments };
  };

  try {
    stage('load');
    yield* record({
      status: 'Running',
      commit: subject.commit,
      branch: subject.branch,
      pusher: subject.pusher,
      startedAt: nowIso(context),
      stages: { load: { status: 'Running', startedAt: nowIso(context) } },
    });
    const loaded = yield* call(context, 'loadPipeline', {
      app: subject.app,
      repoUrl: subject.repoUrl,
      commit: subject.commit,
      pipelinePath,
      branch: subject.branch,
    });
    if (!loaded.ok) {
      const reason = [loaded.reason, ...(loaded.details ?? [])].join('\n');
      later({ stages: { load: { status: 'Failed', reason, finishedAt: nowIso(context) } } });
      return yield* finish('Failed', `invalid pipeline file: ${reason}`);
    }
    const spec = loaded.spec;
    const order = spec.environments.map((e) => e.name);
    yield* record({
      environmentOrder: order,
      // Which environment policy rules apply, and why, is on the record from the start.
      environments: Object.fromEntries(spec.environments.map((e) => [e.name, { status: 'Pending' as const, ...(e.policy ? { policy: e.policy.decisions } : {}) }])),
      stages: {
        load: { status: 'Succeeded', finishedAt: nowIso(context) },
        build: { status: 'Running', startedAt: nowIso(context) },
      },
    });

    stage('build');
    // An image built by the registry comes first: its digest goes into the artifact, so every
    // environment (and every later rollback) pins that same image.
    let imageDigest: string | undefined;
    if (spec.build.image) {
      const image = yield* buildImage(context, subject, spec.build.image);
      if (!image.ok) {
        later({ stages: { build: { status: 'Failed', reason: `image build failed: ${image.reason}`, finishedAt: nowIso(context), ...(image.logName ? { logName: image.logName } : {}) } } });
        return yield* finish('Failed', `build failed: image build failed: ${image.reason}`);
      }
      imageDigest = image.digest;
    }
    const built = yield* call(context, 'buildArtifact', { subject, build: spec.build, keepWorkspace: spec.test !== undefined, ...(imageDigest ? { imageDigest } : {}) });
    if (!built.ok) {
      later({ stages: { build: { status: 'Failed', reason: built.reason, finishedAt: nowIso(context), ...isolationOf(built) } } });
      return yield* finish('Failed', `build failed: ${built.reason}`);
    }
    later({
      digest: built.digest,
      stages: { build: { status: 'Succeeded', finishedAt: nowIso(context), logName: built.logName, isolation: built.isolation } },
    });

    if (spec.test) {
      stage('test');
      yield* record({ stages: { test: { status: 'Running', startedAt: nowIso(context) } } });
      const tested = yield* call(context, 'runTests', { subject, build: spec.build, test: spec.test });
      if (!tested.ok) {
        later({ stages: { test: { status: 'Failed', reason: tested.reason, finishedAt: nowIso(context), ...isolationOf(tested) } } });
        return yield* finish('Failed', `tests failed: ${tested.reason}`, built.digest);
      }
      later({ stages: { test: { status: 'Succeeded', finishedAt: nowIso(context), logName: tested.logName, isolation: tested.isolation } } });
    }

    for (let i = 0; i < spec.environments.length; i++) {
      const env = spec.environments[i]!;
      stage('promote', env.name);
      yield* record({ environments: { [env.name]: { status: 'Running', startedAt: nowIso(context) } } });
      const promotionInput: PromotionInput = { subject, digest: built.digest, environment: env };
      const result = yield* callOrchestration(context, 'promotion', promotionInput, promotionInstanceId(subject.runId, env.name));
      environments.push(result);
      later({
        environments: {
          [env.name]: {
            status: result.status,
            reason: result.reason,
            revision: result.revision,
            rolledBackTo: result.rolledBackTo,
            ...(result.isolation ? { isolation: result.isolation } : {}),
            finishedAt: nowIso(context),
          },
        },
      });
      if (result.status !== 'Succeeded') {
        const skipped = spec.environments.slice(i + 1).map((e) => e.name);
        if (skipped.length > 0) {
          later({ environments: Object.fromEntries(skipped.map((name) => [name, { status: 'Skipped', reason: `${env.name} did not succeed` }])) });
        }
        return yield* finish(result.status, result.reason, built.digest);
      }
    }
    return yield* finish('Succeeded', undefined, built.digest);
  } catch (err) {
    // A fault that survived the retry policy: the run is Errored (technical), not Failed (verdict).
    const reason = errorMessage(err);
    try {
      return yield* finish('Errored', reason);
    } catch {
      return { status: 'Errored', reason, environments };
    }
  }
}
