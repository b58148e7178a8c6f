/**
 * `promotion`: one environment of one run. Takes the environment's turn (which orders runs:
 * `latest` supersedes older waiting runs, `queue` waits in line), waits for the approval if the
 * environment asks for one WITHOUT holding the deploy slot (so a rollback never waits behind an
 * approval), then takes the deploy slot, checks the environment is not frozen and the digest
 * not quarantined there, deploys the run's artifact digest, verifies it with durable retries,
 * records the outcome in the ledger, and on a failed verification rolls the environment back to
 * its last good revision (unless the environment says `rollback: manual`).
 */
import type * as df from 'durable-functions';
import type { PromotionInput, PromotionResult } from '../shared/contracts/activities.js';
import { UNFROZEN_EVENT } from '../shared/contracts/orchestrations.js';
import type { RunEnvironmentRecord } from '../shared/domain/run.js';
import { awaitApproval } from './approval.js';
import { acquireSlot, acquireTurn, lockPhase, releaseLock } from './environment-lock.js';
import { call, errorMessage, nowIso } from './activity-call.js';
import { deployVerifyRecord } from './deployment.js';

/** A promotion waiting for a closed environment looks again after this long even without an unfreeze event. */
export const GATE_SAFETY_MS = 30 * 60_000;

/** Custom status a promotion shows while it works. */
export interface PromotionStatus {
  environment: string;
  step: 'waiting-for-lock' | 'waiting-for-approval' | 'waiting-for-environment' | 'frozen' | 'deploying' | 'verifying' | 'recording' | 'rolling-back' | 'done';
  since: string;
  revision?: number;
  /** While waiting for the turn or the deploy slot: who holds it and our place in line. */
  holder?: string;
  position?: number;
  /** While frozen: why, and until when if known. */
  reason?: string;
  until?: string;
}

export function* promotionOrchestrator(context: df.OrchestrationContext): Generator<df.Task, PromotionResult, unknown> {
  const input = context.df.getInput<PromotionInput>();
  const { subject, environment: env } = input;
  const step = (s: PromotionStatus['step'], extra: Partial<PromotionStatus> = {}) =>
    context.df.setCustomStatus({ environment: env.name, step: s, since: nowIso(context), ...extra } satisfies PromotionStatus);
  const recordEnv = (patch: Partial<RunEnvironmentRecord>) =>
    call(context, 'recordRun', { app: subject.app, runId: subject.runId, patch: { environments: { [env.name]: { status: 'Running', ...patch } } } });
  const instanceId = context.df.instanceId;
  const party = { instanceId, runId: subject.runId, requestedAt: subject.requestedAt, kind: 'promotion' as const, policy: env.concurrency };

  // The app's environment policy may refuse this run here (e.g. a branch it does not allow).
  if (env.policy?.refusal) return { environment: env.name, status: 'Failed', reason: env.policy.refusal };
  step('waiting-for-lock');
  let lastWait: string | undefined;
  const turn = yield* acquireTurn(context, subject.app, env.name, party, (wait) => {
    step('waiting-for-lock', { holder: wait.holder, position: wait.position });
    lastWait = wait.holder;
  });
  if (!turn.acquired) {
    return { environment: env.name, status: 'Superseded', reason: `superseded by run ${turn.supersededBy} while waiting for ${env.name}${lastWait ? ` (held by ${lastWait})` : ''}` };
  }
  try {
    // A quarantined digest is refused before anyone is asked to approve it.
    const early = yield* call(context, 'checkEnvironmentGate', { app: subject.app, environment: env.name, kind: 'promotion', digest: input.digest });
    if (early.state === 'refused') return { environment: env.name, status: 'Failed', reason: early.reason };
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
    }
    // The deploy slot, then the gate under it: a rollback may have frozen the environment while
    // we waited. Closed: give the slot back (a rollback may need it) and wait for the unfreeze.
    for (;;) {
      const slot = yield* acquireSlot(context, subject.app, env.name, party, (wait) => step('waiting-for-environment', { holder: wait.holder, position: wait.position }));
      if (!slot.acquired) return { environment: env.name, status: 'Superseded', reason: `superseded by run ${slot.supersededBy} while waiting for ${env.name}` };
      // Registered before looking, so an unfreeze after our look finds us and wakes us.
      yield* lockPhase(context, subject.app, env.name, instanceId, 'frozen');
      const gate = yield* call(context, 'checkEnvironmentGate', { app: subject.app, environment: env.name, kind: 'promotion', digest: input.digest });
      if (gate.state === 'open') break;
      yield* releaseLock(context, subject.app, env.name, instanceId, 'slot');
      if (gate.state === 'refused') return { environment: env.name, status: 'Failed', reason: gate.reason };
      step('frozen', { reason: gate.reason, ...(gate.retryAt ? { until: gate.retryAt } : {}) });
      const now = context.df.currentUtcDateTime.getTime();
      const until = gate.retryAt ? Math.max(now + 1000, Date.parse(gate.retryAt)) : now + GATE_SAFETY_MS;
      const timer = context.df.createTimer(new Date(until));
      const unfrozen = context.df.waitForExternalEvent(UNFROZEN_EVENT);
      const winner = yield context.df.Task.any([timer, unfrozen]);
      if (winner !== timer) timer.cancel();
    }
    yield* lockPhase(context, subject.app, env.name, instanceId, 'deploying');
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
  // The digest rolled back away from is quarantined here: a re-push of it is refused.
  yield* call(context, 'freezeAfterRollback', {
    app: subject.app,
    environment: env.name,
    by: 'system',
    reason: `automatic rollback after revision ${failedRevision} failed verification`,
    freeze: false,
    quarantine: { revision: failedRevision, commit: subject.commit, digest: input.digest },
  });
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
