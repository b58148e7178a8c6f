/**
 * `rollback`: redeploys a recorded artifact to an environment on request. It takes only the
 * environment's deploy slot (it waits for a deployment in progress, never for a promotion's
 * approval, and is never superseded), freezes the environment and quarantines the digest it
 * rolls back away from. In a closed deploy window it waits durably (without the slot) for the
 * window to open, unless break-glass or the policy flag lets it in. Verifies it like a
 * deployment and records a new revision saying it is a rollback to which revision, by whom and
 * why (and, when it entered a closed window by break-glass, who broke the glass, when and why).
 * The environment's target and checks come from the pipeline file at the commit being
 * redeployed, so the artifact starts the way it was built to.
 */
import type * as df from 'durable-functions';
import { isBreakGlassRequest, type RollbackInput, type RollbackResult } from '../shared/contracts/activities.js';
import { BREAK_GLASS_EVENT } from '../shared/contracts/orchestrations.js';
import type { BreakGlass } from '../shared/domain/windows.js';
import { call, errorMessage, nowIso } from './activity-call.js';
import { deployVerifyRecord } from './deployment.js';
import { acquireSlot, releaseLock } from './environment-lock.js';

/** Custom status of a rollback. */
export interface RollbackStatus {
  step: 'waiting-for-lock' | 'finding-revision' | 'waiting-for-window' | 'deploying' | 'verifying' | 'recording' | 'done';
  since: string;
  holder?: string;
  rolledBackTo?: number;
  /** While waiting for a deploy window: why, and when it opens if known. */
  reason?: string;
  until?: string;
}

/** A rollback waiting for a closed deploy window looks again after this long (a policy change is seen). */
export const ROLLBACK_GATE_SAFETY_MS = 30 * 60_000;

export function* rollbackOrchestrator(context: df.OrchestrationContext): Generator<df.Task, RollbackResult, unknown> {
  const input = context.df.getInput<RollbackInput>();
  const step = (s: RollbackStatus['step'], extra: Partial<RollbackStatus> = {}) =>
    context.df.setCustomStatus({ step: s, since: nowIso(context), ...extra } satisfies RollbackStatus);
  const instanceId = context.df.instanceId;

  step('waiting-for-lock');
  // Only the deploy slot: a rollback never waits for a promotion's approval, only for a
  // deployment in progress.
  const rollbackParty = { instanceId, runId: input.operationId, requestedAt: input.requestedAt, kind: 'rollback' as const, policy: 'queue' as const };
  const lock = yield* acquireSlot(context, input.app, input.environment, rollbackParty, (wait) => step('waiting-for-lock', { holder: wait.holder }));
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
    // (a freeze never holds it back: it is what sets one). Otherwise it waits durably, like a
    // promotion, for the window to open or a break-glass override (POST
    // /api/operations/{id}/break-glass), without holding the deploy slot.
    let breakGlass = input.breakGlass;
    let frozen = false;
    let entered: BreakGlass | undefined;
    for (;;) {
      const gate = yield* call(context, 'checkEnvironmentGate', {
        app: input.app,
        environment: input.environment,
        kind: 'rollback',
        digest: target.digest,
        force: input.force,
        now: nowIso(context),
        ...(breakGlass ? { breakGlass } : {}),
      });
      if (gate.state === 'refused') return { status: 'Failed', reason: gate.reason, rolledBackTo: target.revision };
      if (!frozen) {
        // A requested rollback freezes the environment at once (later runs wait until someone
        // unfreezes it; none slips in when a window opens before the rollback) and quarantines
        // the digest it rolls back away from.
        yield* call(context, 'freezeAfterRollback', {
          app: input.app,
          environment: input.environment,
          by: input.requestedBy,
          reason: `rollback to revision ${target.revision}${input.reason ? `: ${input.reason}` : ''}`,
          freeze: true,
          quarantine: 'current',
          keepDigest: target.digest,
        });
        frozen = true;
      }
      if (gate.state === 'open') {
        entered = gate.breakGlass;
        break;
      }
      yield* releaseLock(context, input.app, input.environment, instanceId, 'slot');
      const refused = gate.breakGlassRefused ? ` (break-glass refused: ${gate.breakGlassRefused})` : '';
      step('waiting-for-window', { rolledBackTo: target.revision, reason: `${gate.reason}${refused}`, ...(gate.retryAt ? { until: gate.retryAt } : {}) });
      const now = context.df.currentUtcDateTime.getTime();
      const until = Math.min(now + ROLLBACK_GATE_SAFETY_MS, gate.retryAt ? Math.max(now + 1000, Date.parse(gate.retryAt)) : Infinity);
      const timer = context.df.createTimer(new Date(until));
      const glass = context.df.waitForExternalEvent(BREAK_GLASS_EVENT);
      const winner = yield context.df.Task.any([timer, glass]);
      if (winner !== timer) timer.cancel();
      // A malformed payload is no break-glass: the gate is checked again without one.
      breakGlass = winner === glass && isBreakGlassRequest(glass.result) ? glass.result : undefined;
      const again = yield* acquireSlot(context, input.app, input.environment, rollbackParty, (wait) => step('waiting-for-lock', { holder: wait.holder }));
      if (!again.acquired) return { status: 'Failed', reason: `superseded by ${again.supersededBy}` };
    }

    const loaded = yield* call(context, 'loadPipeline', {
      app: input.app,
      repoUrl: input.repoUrl,
      commit: target.commit,
      pipelinePath: input.pipelinePath,
    });
    if (!loaded.ok) return { status: 'Failed', reason: `the pipeline file at revision ${target.revision}'s commit cannot be used: ${loaded.reason}`, rolledBackTo: target.revision };
    const env = loaded.spec.environments.find((e) => e.name === input.environment);
    if (!env) return { status: 'Failed', reason: `the pipeline file at commit ${target.commit.slice(0, 12)} has no environment ${input.environment}`, rolledBackTo: target.revision };

    // A gate answered before actors were whole (still in a replayed history) names the id as a string.
    const glass = entered ? `; entered a closed deploy window by break-glass of ${typeof (entered.by as unknown) === 'string' ? String(entered.by) : entered.by.id} at ${entered.at}: ${entered.reason}` : '';
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
