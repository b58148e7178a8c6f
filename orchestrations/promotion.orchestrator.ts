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
import { isBreakGlassRequest, type BreakGlassRequest, type PromotionInput, type PromotionResult } from '../shared/contracts/activities.js';
import { BREAK_GLASS_EVENT, SUPERSEDED_EVENT, UNFROZEN_EVENT } from '../shared/contracts/orchestrations.js';
import type { RunEnvironmentRecord } from '../shared/domain/run.js';
import { awaitApproval } from './approval.js';
import { acquireSlot, acquireTurn, lockPhase, releaseLock } from './environment-lock.js';
import { call, errorMessage, nowIso } from './activity-call.js';
import { deployVerifyRecord } from './deployment.js';
import { verifyAll } from './verification.js';

/** A promotion waiting for a closed environment looks again after this long even without an unfreeze event. */
export const GATE_SAFETY_MS = 30 * 60_000;
/** Longest single durable timer of a soak. */
const SOAK_TIMER_MAX_MS = 24 * 3_600_000;

/** Custom status a promotion shows while it works. */
export interface PromotionStatus {
  environment: string;
  step: 'waiting-for-lock' | 'waiting-for-approval' | 'waiting-for-environment' | 'frozen' | 'waiting-for-window' | 'soaking' | 'deploying' | 'verifying' | 'recording' | 'rolling-back' | 'done';
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
  const supersededAt = (by: string, what: string): PromotionResult => ({ environment: env.name, status: 'Superseded', reason: `superseded by run ${by} while waiting for ${what}` });
  if (!turn.acquired) {
    return { environment: env.name, status: 'Superseded', reason: `superseded by run ${turn.supersededBy} while waiting for ${env.name}${lastWait ? ` (held by ${lastWait})` : ''}` };
  }
  try {
    // A quarantined digest is refused before anyone is asked to approve it.
    const early = yield* call(context, 'checkEnvironmentGate', { app: subject.app, environment: env.name, kind: 'promotion', digest: input.digest, now: nowIso(context) });
    if (early.state === 'refused') return { environment: env.name, status: 'Failed', reason: early.reason };
    if (env.approval) {
      step('waiting-for-approval');
      const moot = yield* lockPhase(context, subject.app, env.name, instanceId, 'approval');
      if (moot.supersededBy !== undefined) return supersededAt(moot.supersededBy, `approval of ${env.name}`);
      const gate = yield* awaitApproval(context, env.approval, subject.pusher.id, (approval) =>
        recordEnv({ status: approval.outcome === undefined ? 'Pending' : 'Running', approval }),
      );
      if (gate.outcome === 'rejected') {
        return { environment: env.name, status: 'Failed', reason: `approval for ${env.name} rejected by ${gate.by}${gate.comment ? `: ${gate.comment}` : ''}` };
      }
      if (gate.outcome === 'timed-out') {
        return { environment: env.name, status: 'Aborted', reason: `approval for ${env.name} timed out at ${gate.record.until} (waited since ${gate.record.waitingSince})` };
      }
      if (gate.outcome === 'superseded') return supersededAt(gate.by, `approval of ${env.name}`);
    }
    // The deploy slot, then the gate under it: a rollback may have frozen the environment while
    // we waited, or a deploy window may be closed. Closed: give the slot back (a rollback may
    // need it) and wait for the unfreeze, the window's opening, or a break-glass override.
    let breakGlass: BreakGlassRequest | undefined;
    for (;;) {
      const slot = yield* acquireSlot(context, subject.app, env.name, party, (wait) => step('waiting-for-environment', { holder: wait.holder, position: wait.position }));
      if (!slot.acquired) return supersededAt(slot.supersededBy, env.name);
      // Registered before looking, so an unfreeze after our look finds us and wakes us.
      yield* lockPhase(context, subject.app, env.name, instanceId, 'frozen');
      const gate = yield* call(context, 'checkEnvironmentGate', {
        app: subject.app,
        environment: env.name,
        kind: 'promotion',
        digest: input.digest,
        now: nowIso(context),
        ...(breakGlass ? { breakGlass } : {}),
      });
      if (gate.state === 'open') {
        if (gate.breakGlass) yield* recordEnv({ breakGlass: gate.breakGlass });
        break;
      }
      const gaveBack = yield* releaseLock(context, subject.app, env.name, instanceId, 'slot');
      if (gate.state === 'refused') return { environment: env.name, status: 'Failed', reason: gate.reason };
      const waitingFor = gate.frozen ? `${env.name} to be unfrozen` : `a deploy window of ${env.name}`;
      // Under `latest`, a newer run already in line makes this wait moot (as for an approval wait).
      if (gaveBack.supersededBy !== undefined) return supersededAt(gaveBack.supersededBy, waitingFor);
      breakGlass = undefined;
      const reason = gate.breakGlassRefused ? `${gate.reason} (break-glass refused: ${gate.breakGlassRefused})` : gate.reason;
      step(gate.frozen ? 'frozen' : 'waiting-for-window', { reason, ...(gate.retryAt ? { until: gate.retryAt } : {}) });
      const now = context.df.currentUtcDateTime.getTime();
      // Capped, so durable timers stay short (JS timers are limited near six days) and a policy change is seen.
      const until = Math.min(now + GATE_SAFETY_MS, gate.retryAt ? Math.max(now + 1000, Date.parse(gate.retryAt)) : Infinity);
      const timer = context.df.createTimer(new Date(until));
      const unfrozen = context.df.waitForExternalEvent(UNFROZEN_EVENT);
      const glass = context.df.waitForExternalEvent(BREAK_GLASS_EVENT);
      // A newer run arriving while we wait: the lock entity raises `Superseded` on us.
      const superseded = context.df.waitForExternalEvent(SUPERSEDED_EVENT);
      const winner = yield context.df.Task.any([timer, unfrozen, glass, superseded]);
      if (winner !== timer) timer.cancel();
      if (winner === superseded) return supersededAt(supersededByOf(superseded.result), waitingFor);
      // A malformed payload is no break-glass: the gate is checked again without one.
      if (winner === glass) breakGlass = isBreakGlassRequest(glass.result) ? glass.result : undefined;
    }
    yield* lockPhase(context, subject.app, env.name, instanceId, 'deploying');
    return yield* deployAndVerify(context, input, step);
  } catch (err) {
    return { environment: env.name, status: 'Errored', reason: errorMessage(err) };
  } finally {
    yield* releaseLock(context, subject.app, env.name, instanceId);
  }
}

/** The run named by a `Superseded` event's payload. */
function supersededByOf(payload: unknown): string {
  return typeof payload === 'object' && payload !== null && 'by' in payload ? String(payload.by) : 'a newer run';
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
  const isolation = result.outcome !== 'deploy-failed' && result.isolation ? { isolation: result.isolation } : {};
  if (result.outcome === 'succeeded') {
    if (env.soakMs) return { ...(yield* soak(context, input, result.revision, result.baseUrl, step)), ...isolation };
    step('done', { revision: result.revision });
    return { environment: env.name, status: 'Succeeded', revision: result.revision, ...isolation };
  }
  const failure = result.outcome === 'verification-failed' ? `verification failed in ${env.name}: ${result.reason}` : `deployment to ${env.name} failed: ${result.reason}`;
  if (result.revision === undefined) {
    return { environment: env.name, status: 'Failed', reason: `${failure}; nothing was deployed, so ${env.name} still runs what it ran before` };
  }
  if (env.rollback !== 'auto') {
    return { environment: env.name, status: 'Failed', reason: `${failure}; automatic rollback is off for ${env.name}`, revision: result.revision, ...isolation };
  }
  step('rolling-back', { revision: result.revision });
  const rolledBack = yield* redeployLastGood(context, input, result.revision);
  return {
    environment: env.name,
    status: 'Failed',
    reason: `${failure}; ${rolledBack.summary}`,
    revision: result.revision,
    ...(rolledBack.target !== undefined ? { rolledBackTo: rolledBack.target } : {}),
    ...isolation,
  };
}

/**
 * Soak: the revision must run verified for `soak` before the next environment is promoted. The
 * deploy slot is given back (a rollback may run meanwhile), the turn is kept: newer runs wait
 * for the soak instead of restarting it (under `latest` only the newest of them stays in line),
 * so a high-churn app still promotes one revision per soak period. At the end the environment
 * must still run this artifact and pass its checks again.
 */
function* soak(
  context: df.OrchestrationContext,
  input: PromotionInput,
  revision: number,
  baseUrl: string,
  step: (s: PromotionStatus['step'], extra?: Partial<PromotionStatus>) => void,
): Generator<df.Task, PromotionResult, unknown> {
  const { subject, environment: env } = input;
  yield* releaseLock(context, subject.app, env.name, context.df.instanceId, 'slot');
  const end = context.df.currentUtcDateTime.getTime() + (env.soakMs ?? 0);
  step('soaking', { revision, until: new Date(end).toISOString() });
  // Timers of at most a day each (durable timers in JS are capped near six days).
  while (context.df.currentUtcDateTime.getTime() < end) {
    yield context.df.createTimer(new Date(Math.min(end, context.df.currentUtcDateTime.getTime() + SOAK_TIMER_MAX_MS)));
  }
  const current = yield* call(context, 'currentDeployment', { app: subject.app, environment: env.name });
  if (!current || current.digest !== input.digest) {
    return {
      environment: env.name,
      status: 'Failed',
      reason: `soak of revision ${revision} in ${env.name} did not complete: ${env.name} now runs ${current ? `revision ${current.revision} (${current.kind})` : 'nothing recorded'}`,
      revision,
    };
  }
  const check = yield* verifyAll(context, baseUrl, env.verify);
  if (check.passed) {
    step('done', { revision });
    return { environment: env.name, status: 'Succeeded', revision };
  }
  const failure = `verification failed in ${env.name} at the end of its soak: ${check.reason ?? 'verification failed'}`;
  if (env.rollback !== 'auto') return { environment: env.name, status: 'Failed', reason: `${failure}; automatic rollback is off for ${env.name}`, revision };
  const party = { instanceId: context.df.instanceId, runId: subject.runId, requestedAt: subject.requestedAt, kind: 'promotion' as const, policy: env.concurrency };
  const slot = yield* acquireSlot(context, subject.app, env.name, party, (wait) => step('waiting-for-environment', { holder: wait.holder, position: wait.position }));
  if (!slot.acquired) return { environment: env.name, status: 'Failed', reason: `${failure}; not rolled back (superseded by ${slot.supersededBy})`, revision };
  step('rolling-back', { revision });
  const rolledBack = yield* redeployLastGood(context, input, revision);
  return { environment: env.name, status: 'Failed', reason: `${failure}; ${rolledBack.summary}`, revision, ...(rolledBack.target !== undefined ? { rolledBackTo: rolledBack.target } : {}) };
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
    by: { id: 'system' },
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
      rolledBackTo: target.revision,
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
