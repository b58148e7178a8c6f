/**
 * The durable rollout loop for targets whose deployments roll out after `deploy` returns
 * (kubernetes): read the rollout once per activity call, wait on a durable timer between reads,
 * stop when it is complete, failed (e.g. ProgressDeadlineExceeded), or past the environment's
 * rollout timeout. No sleeping inside activities.
 */
import type * as df from 'durable-functions';
import type { TargetSpec } from '../shared/domain/pipeline.js';
import { call } from './activity-call.js';

/** How the rollout ended. */
export interface RolloutOutcome {
  passed: boolean;
  /** The last status read (why it failed, or what completed). */
  message: string;
  /** Status reads made. */
  reads: number;
}

/** Waits for the rollout of `revision`; targets without rollouts pass at once. */
export function* awaitRollout(
  context: df.OrchestrationContext,
  a: { app: string; environment: string; target: TargetSpec; revision: number },
): Generator<df.Task, RolloutOutcome, unknown> {
  if (a.target.type === 'process') return { passed: true, message: 'no rollout', reads: 0 };
  const { rolloutTimeoutMs, rolloutPollMs } = a.target;
  const deadline = context.df.currentUtcDateTime.getTime() + rolloutTimeoutMs;
  for (let reads = 1; ; reads++) {
    const r = yield* call(context, 'readRollout', { app: a.app, environment: a.environment, target: a.target, revision: a.revision });
    if (r.state === 'complete') return { passed: true, message: r.message, reads };
    if (r.state === 'failed') return { passed: false, message: r.message, reads };
    const now = context.df.currentUtcDateTime.getTime();
    if (now >= deadline) return { passed: false, message: `the rollout did not complete within ${Math.round(rolloutTimeoutMs / 1000)}s: ${r.message}`, reads };
    yield context.df.createTimer(new Date(Math.min(deadline, now + rolloutPollMs)));
  }
}
