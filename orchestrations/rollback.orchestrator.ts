/**
 * `rollback`: redeploys a recorded artifact to an environment on request. It takes only the
 * environment's deploy slot (it waits for a deployment in progress, never for a promotion's
 * approval, and is never superseded), freezes the environment and quarantines the digest it
 * rolls back away from. Verifies it like a deployment and records a new revision saying it is
 * a rollback to which revision, by whom and why. The environment's target and checks come from the pipeline file at the commit being
 * redeployed, so the artifact starts the way it was built to.
 */
import type * as df from 'durable-functions';
import type { RollbackInput, RollbackResult } from '../shared/contracts/activities.js';
import { call, errorMessage, nowIso } from './activity-call.js';
import { deployVerifyRecord } from './deployment.js';
import { acquireSlot, releaseLock } from './environment-lock.js';

/** Custom status of a rollback. */
export interface RollbackStatus {
  step: 'waiting-for-lock' | 'finding-revision' | 'deploying' | 'verifying' | 'recording' | 'done';
  since: string;
  holder?: string;
  rolledBackTo?: number;
}

export function* rollbackOrchestrator(context: df.OrchestrationContext): Generator<df.Task, RollbackResult, unknown> {
  const input = context.df.getInput<RollbackInput>();
  const step = (s: RollbackStatus['step'], extra: Partial<RollbackStatus> = {}) =>
    context.df.setCustomStatus({ step: s, since: nowIso(context), ...extra } satisfies RollbackStatus);
  const instanceId = context.df.instanceId;

  step('waiting-for-lock');
  // Only the deploy slot: a rollback never waits for a promotion's approval, only for a
  // deployment in progress.
  const lock = yield* acquireSlot(
    context,
    input.app,
    input.environment,
    { instanceId, runId: input.operationId, requestedAt: input.requestedAt, kind: 'rollback', policy: 'queue' },
    (wait) => step('waiting-for-lock', { holder: wait.holder }),
  );
  if (!lock.acquired) return { status: 'Failed', reason: `superseded by ${lock.supersededBy}` };
  try {
    step('finding-revision');
    const target = yield* call(context, 'findRollbackTarget', {
      app: input.app,
      environment: input.environment,
      toRevision: input.toRevision,
      force: input.force,
    });
    if (!target.ok) return { status: 'Failed', reason: target.reason };
    // Deploy windows: a rollback enters a closed window only by break-glass or the policy flag
    // (a freeze never holds it back: it is what sets one).
    const gate = yield* call(context, 'checkEnvironmentGate', {
      app: input.app,
      environment: input.environment,
      kind: 'rollback',
      digest: target.digest,
      force: input.force,
      now: nowIso(context),
      ...(input.breakGlass ? { breakGlass: input.breakGlass } : {}),
    });
    if (gate.state === 'refused') return { status: 'Failed', reason: gate.reason, rolledBackTo: target.revision };
    if (gate.state !== 'open') {
      const refused = gate.state === 'closed' && gate.breakGlassRefused ? ` (break-glass refused: ${gate.breakGlassRefused})` : '';
      return { status: 'Failed', reason: `${gate.reason}${refused}; rollbacks enter a closed deploy window only by break-glass or when the policy allows it` };
    }
    // A requested rollback freezes the environment (later runs wait until someone unfreezes it)
    // and quarantines the digest it rolls back away from.
    yield* call(context, 'freezeAfterRollback', {
      app: input.app,
      environment: input.environment,
      by: input.requestedBy.id,
      reason: `rollback to revision ${target.revision}${input.reason ? `: ${input.reason}` : ''}`,
      freeze: true,
      quarantine: 'current',
      keepDigest: target.digest,
    });

    const loaded = yield* call(context, 'loadPipeline', {
      app: input.app,
      repoUrl: input.repoUrl,
      commit: target.commit,
      pipelinePath: input.pipelinePath,
    });
    if (!loaded.ok) return { status: 'Failed', reason: `the pipeline file at revision ${target.revision}'s commit cannot be used: ${loaded.reason}`, rolledBackTo: target.revision };
    const env = loaded.spec.environments.find((e) => e.name === input.environment);
    if (!env) return { status: 'Failed', reason: `the pipeline file at commit ${target.commit.slice(0, 12)} has no environment ${input.environment}`, rolledBackTo: target.revision };

    const glass = gate.breakGlass ? `; entered a closed deploy window by break-glass of ${gate.breakGlass.by}: ${gate.breakGlass.reason}` : '';
    const why = `rollback to revision ${target.revision} requested by ${input.requestedBy.id}${input.reason ? `: ${input.reason}` : ''}${glass}`;
    const result = yield* deployVerifyRecord(
      context,
      {
        app: input.app,
        environment: input.environment,
        runId: input.operationId,
        commit: target.commit,
        digest: target.digest,
        kind: 'rollback',
        rolledBackTo: target.revision,
        target: env.target,
        checks: env.verify,
        requestedBy: input.requestedBy,
        note: why,
      },
      (s) => step(s, { rolledBackTo: target.revision }),
    );
    step('done', { rolledBackTo: target.revision });
    const common = { rolledBackTo: target.revision, commit: target.commit, ...(result.revision !== undefined ? { revision: result.revision } : {}) };
    if (result.outcome === 'succeeded') return { status: 'Succeeded', reason: why, ...common };
    if (result.outcome === 'deploy-failed') return { status: 'Failed', reason: `rollback deployment failed: ${result.reason}`, ...common };
    return { status: 'Failed', reason: `verification failed after the rollback: ${result.reason}`, ...common };
  } catch (err) {
    return { status: 'Errored', reason: errorMessage(err) };
  } finally {
    yield* releaseLock(context, input.app, input.environment, instanceId);
  }
}
