/**
 * `promotion`: one environment of one run. Deploys the run's artifact digest, verifies it with
 * durable retries, records the outcome in the ledger, and on a failed verification rolls the
 * environment back to its last good revision (unless the environment says `rollback: manual`).
 */
import type * as df from 'durable-functions';
import type { ActivityOutput, PromotionInput, PromotionResult, VerifyAttempt } from '../shared/contracts/activities.js';
import { activity, errorMessage, nowIso } from './activity-call.js';
import { verifyAll } from './verification.js';

/** Custom status a promotion shows while it works. */
export interface PromotionStatus {
  environment: string;
  step: 'deploying' | 'verifying' | 'recording' | 'rolling-back' | 'done';
  since: string;
  revision?: number;
}

export function* promotionOrchestrator(context: df.OrchestrationContext): Generator<df.Task, PromotionResult, unknown> {
  const input = context.df.getInput() as PromotionInput;
  const { subject, digest, environment: env } = input;
  const step = (s: PromotionStatus['step'], revision?: number) =>
    context.df.setCustomStatus({ environment: env.name, step: s, since: nowIso(context), revision } satisfies PromotionStatus);

  try {
    step('deploying');
    const startedAt = nowIso(context);
    const deployed = (yield activity(context, 'deployArtifact', {
      app: subject.app,
      environment: env.name,
      runId: subject.runId,
      commit: subject.commit,
      digest,
      target: env.target,
      kind: 'deploy',
    })) as ActivityOutput<'deployArtifact'>;

    let failure: string;
    let failedRevision: number | undefined;
    let attempts: VerifyAttempt[] = [];
    if (deployed.ok) {
      step('verifying', deployed.revision);
      const verification = yield* verifyAll(context, deployed.baseUrl, env.verify);
      attempts = verification.attempts;
      step('recording', deployed.revision);
      yield activity(context, 'recordDeployment', {
        app: subject.app,
        environment: env.name,
        revision: deployed.revision,
        commit: subject.commit,
        digest,
        runId: subject.runId,
        kind: 'deploy',
        status: verification.passed ? 'Succeeded' : 'Failed',
        reason: verification.reason,
        verification: attempts,
        requestedBy: subject.pusher,
        startedAt,
        finishedAt: nowIso(context),
      });
      if (verification.passed) {
        step('done', deployed.revision);
        return { environment: env.name, status: 'Succeeded', revision: deployed.revision };
      }
      failure = `verification failed in ${env.name}: ${verification.reason}`;
      failedRevision = deployed.revision;
    } else {
      failure = `deployment to ${env.name} failed: ${deployed.reason}`;
      if ('revision' in deployed) {
        // The target did not come up: the attempt still gets its revision in the ledger.
        failedRevision = deployed.revision;
        yield activity(context, 'recordDeployment', {
          app: subject.app,
          environment: env.name,
          revision: deployed.revision,
          commit: subject.commit,
          digest,
          runId: subject.runId,
          kind: 'deploy',
          status: 'Failed',
          reason: [deployed.reason, ...(deployed.details ?? [])].join('\n'),
          verification: [],
          requestedBy: subject.pusher,
          startedAt,
          finishedAt: nowIso(context),
        });
      }
    }

    if (env.rollback !== 'auto') {
      return { environment: env.name, status: 'Failed', reason: `${failure}; automatic rollback is off for ${env.name}`, revision: failedRevision };
    }

    step('rolling-back', failedRevision);
    const rolledBack = yield* rollbackTo(context, input, failedRevision);
    return {
      environment: env.name,
      status: 'Failed',
      reason: `${failure}; ${rolledBack.summary}`,
      revision: failedRevision,
      rolledBackTo: rolledBack.revision,
    };
  } catch (err) {
    return { environment: env.name, status: 'Errored', reason: errorMessage(err) };
  }
}

/** Redeploys the environment's last good revision after a failure. */
function* rollbackTo(
  context: df.OrchestrationContext,
  input: PromotionInput,
  failedRevision: number | undefined,
): Generator<df.Task, { summary: string; revision?: number }, unknown> {
  const { subject, environment: env } = input;
  const target = (yield activity(context, 'findRollbackTarget', {
    app: subject.app,
    environment: env.name,
  })) as ActivityOutput<'findRollbackTarget'>;
  if (!target.ok) return { summary: `not rolled back: ${target.reason}` };

  const startedAt = nowIso(context);
  const deployed = (yield activity(context, 'deployArtifact', {
    app: subject.app,
    environment: env.name,
    runId: subject.runId,
    commit: target.commit,
    digest: target.digest,
    target: env.target,
    kind: 'rollback',
  })) as ActivityOutput<'deployArtifact'>;
  if (!deployed.ok) return { summary: `rollback to revision ${target.revision} failed: ${deployed.reason}` };

  const verification = yield* verifyAll(context, deployed.baseUrl, env.verify);
  yield activity(context, 'recordDeployment', {
    app: subject.app,
    environment: env.name,
    revision: deployed.revision,
    commit: target.commit,
    digest: target.digest,
    runId: subject.runId,
    kind: 'rollback',
    rollbackOf: target.revision,
    status: verification.passed ? 'Succeeded' : 'Failed',
    reason: verification.passed
      ? `automatic rollback to revision ${target.revision}${failedRevision === undefined ? '' : ` after revision ${failedRevision} failed`}`
      : verification.reason,
    verification: verification.attempts,
    requestedBy: { id: 'system', name: 'automatic rollback' },
    startedAt,
    finishedAt: nowIso(context),
  });
  if (!verification.passed) {
    return { summary: `rollback to revision ${target.revision} did not pass verification: ${verification.reason}`, revision: deployed.revision };
  }
  return { summary: `rolled back to revision ${target.revision} (commit ${target.commit.slice(0, 12)}) as revision ${deployed.revision}`, revision: deployed.revision };
}
