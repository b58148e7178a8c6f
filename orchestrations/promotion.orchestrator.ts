/**
 * `promotion`: one environment of one run. Deploys the run's artifact digest, verifies it with
 * durable retries, records the outcome in the ledger, and on a failed verification rolls the
 * environment back to its last good revision (unless the environment says `rollback: manual`).
 */
import type * as df from 'durable-functions';
import type { PromotionInput, PromotionResult } from '../shared/contracts/activities.js';
import type { RunEnvironmentRecord } from '../shared/domain/run.js';
import { awaitApproval } from './approval.js';
import { acquireLock, lockPhase, releaseLock } from './environment-lock.js';
import { call, errorMessage, nowIso } from './activity-call.js';
import { deployVerifyRecord } from './deployment.js';

/** Custom status a promotion shows while it works. */
export interface PromotionStatus {
  environment: string;
  step: 'waiting-for-lock' | 'waiting-for-approval' | 'deploying' | 'verifying' | 'recording' | 'rolling-back' | 'done';
  since: string;
  revision?: number;
  /** While waiting for the lock: the run holding it and our place in line. */
  holder?: string;
  position?: number;
}

export function* promotionOrchestrator(context: df.OrchestrationContext): Generator<df.Task, PromotionResult, unknown> {
  const input = context.df.getInput<PromotionInput>();
  const { subject, environment: env } = input;
  const step = (s: PromotionStatus['step'], extra: Partial<PromotionStatus> = {}) =>
    context.df.setCustomStatus({ environment: env.name, step: s, since: nowIso(context), ...extra } satisfies PromotionStatus);
  const recordEnv = (patch: Partial<RunEnvironmentRecord>) =>
    call(context, 'recordRun', { app: subject.app, runId: subject.runId, patch: { environments: { [env.name]: { status: 'Running', ...patch } } } });
  const instanceId = context.df.instanceId;

  step('waiting-for-lock');
  let lastWait: string | undefined;
  const lock = yield* acquireLock(
    context,
    subject.app,
    env.name,
    { instanceId, runId: subject.runId, requestedAt: subject.requestedAt, kind: 'promotion', policy: env.concurrency },
    (wait) => {
      step('waiting-for-lock', { holder: wait.holder, position: wait.position });
      lastWait = wait.holder;
    },
  );
  if (!lock.acquired) {
    return { environment: env.name, status: 'Superseded', reason: `superseded by run ${lock.supersededBy} while waiting for ${env.name}${lastWait ? ` (held by ${lastWait})` : ''}` };
  }
  try {
    if (env.approval) {
      step('waiting-for-approval');
      yield* lockPhase(context, subject.app, env.name, instanceId, 'approval');
      const gate = yield* awaitApproval(context, env.approval, subject.pusher.id, (approval) =>
        recordEnv({ status: approval.outcome === undefined ? 'Pending' : 'Running', approval }),
      );
      if (gate.outcome === 'rejected') {
        return { environment: env.name, status: 'Failed', reason: `approval for ${env.name} rejected by ${gate.by}${gate.comment ? `: ${gate.comment}` : ''}` };
      }
      if (gate.outcome === 'timed-out') {
        return { environment: env.name, status: 'Aborted', reason: `approval for ${env.name} timed out at ${gate.record.until} (waited since ${gate.record.waitingSince})` };
      }
      if (gate.outcome === 'superseded') {
        return { environment: env.name, status: 'Superseded', reason: `superseded by run ${gate.by} while waiting for approval of ${env.name}` };
      }
      yield* lockPhase(context, subject.app, env.name, instanceId, 'deploying');
    }
    return yield* deployAndVerify(context, input, step);
  } catch (err) {
    return { environment: env.name, status: 'Errored', reason: errorMessage(err) };
  } finally {
    yield* releaseLock(context, subject.app, env.name, instanceId);
  }
}

function* deployAndVerify(
  context: df.OrchestrationContext,
  input: PromotionInput,
  step: (s: PromotionStatus['step'], extra?: Partial<PromotionStatus>) => void,
): Generator<df.Task, PromotionResult, unknown> {
  const { subject, digest, environment: env } = input;
  const result = yield* deployVerifyRecord(
    context,
    {
      app: subject.app,
      environment: env.name,
      runId: subject.runId,
      commit: subject.commit,
      digest,
      kind: 'deploy',
      target: env.target,
      checks: env.verify,
      requestedBy: subject.pusher,
    },
    (s, revision) => step(s, { revision }),
  );
  if (result.outcome === 'succeeded') {
    step('done', { revision: result.revision });
    return { environment: env.name, status: 'Succeeded', revision: result.revision };
  }
  const failure = result.outcome === 'verification-failed' ? `verification failed in ${env.name}: ${result.reason}` : `deployment to ${env.name} failed: ${result.reason}`;
  if (result.revision === undefined) {
    return { environment: env.name, status: 'Failed', reason: `${failure}; nothing was deployed, so ${env.name} still runs what it ran before` };
  }
  if (env.rollback !== 'auto') {
    return { environment: env.name, status: 'Failed', reason: `${failure}; automatic rollback is off for ${env.name}`, revision: result.revision };
  }
  step('rolling-back', { revision: result.revision });
  const rolledBack = yield* redeployLastGood(context, input, result.revision);
  return {
    environment: env.name,
    status: 'Failed',
    reason: `${failure}; ${rolledBack.summary}`,
    revision: result.revision,
    ...(rolledBack.target !== undefined ? { rolledBackTo: rolledBack.target } : {}),
  };
}

/** Redeploys the environment's last good revision after a failed one. */
function* redeployLastGood(
  context: df.OrchestrationContext,
  input: PromotionInput,
  failedRevision: number,
): Generator<df.Task, { summary: string; target?: number }, unknown> {
  const { subject, environment: env } = input;
  const target = yield* call(context, 'findRollbackTarget', { app: subject.app, environment: env.name });
  if (!target.ok) return { summary: `not rolled back: ${target.reason}` };
  const result = yield* deployVerifyRecord(
    context,
    {
      app: subject.app,
      environment: env.name,
      runId: subject.runId,
      commit: target.commit,
      digest: target.digest,
      kind: 'rollback',
      rollbackOf: target.revision,
      target: env.target,
      checks: env.verify,
      requestedBy: { id: 'system', name: 'automatic rollback' },
      note: `automatic rollback to revision ${target.revision} after revision ${failedRevision} failed`,
    },
    () => undefined,
  );
  if (result.outcome === 'succeeded') {
    return { summary: `rolled back to revision ${target.revision} (commit ${target.commit.slice(0, 12)}) as revision ${result.revision}`, target: target.revision };
  }
  return { summary: `rollback to revision ${target.revision} failed too: ${result.reason}`, target: target.revision };
}
