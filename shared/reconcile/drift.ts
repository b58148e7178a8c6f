/**
 * Drift: does an environment run what the ledger says it runs? Pure rules, so the sweep, the
 * read API and the tests agree:
 * - the ledger's `current` revision and artifact digest are what should run;
 * - the target's status says what does run (not running, another revision, another digest, an
 *   unknown process on the port);
 * - `in-sync` when they agree, `drifted` (with the reason) when they do not, `unknown` when the
 *   target could not be asked or a deployment is in progress;
 * - a state keeps its `since` until it changes; every change is recorded.
 * Healing (redeploying the ledger's current revision) is decided here too, with a back-off so
 * a heal that fails is reported and retried later, never in a tight loop.
 */
import type { CurrentDeployment } from '../domain/deployment.js';
import type { TargetStatus } from '../targets/deploy-target.js';

/** The sync state of one environment. */
export type SyncState = 'in-sync' | 'drifted' | 'unknown';

/** Per-environment drift policy from the pipeline file. */
export type DriftPolicy = 'report' | 'heal';

/** What the sweep saw of an environment's target. */
export interface Observation {
  /** The target's status, when it answered. */
  status?: TargetStatus;
  /** Why the target could not be asked. */
  error?: string;
  /** Something accepts connections on the environment's port although the recorded process is not running. */
  foreignOnPort?: boolean;
  /** A deployment or rollback holds the environment right now. */
  busy?: boolean;
}

/** The verdict on one environment. */
export interface DriftAssessment {
  sync: SyncState;
  reason: string;
}

const short = (commit: string | undefined) => (commit ? commit.slice(0, 12) : '?');

/** Compares the ledger's current deployment with what the target reports. */
export function assessDrift(current: CurrentDeployment | undefined, obs: Observation): DriftAssessment {
  if (obs.busy) return { sync: 'unknown', reason: 'a deployment is in progress' };
  if (obs.error !== undefined || !obs.status) return { sync: 'unknown', reason: `the target could not be asked: ${obs.error ?? 'no answer'}` };
  const s = obs.status;
  const runs = `revision ${s.revision ?? '?'} (commit ${short(s.commit)})`;
  if (!current) {
    if (s.state === 'absent' || !s.running) return { sync: 'in-sync', reason: 'nothing recorded and nothing running' };
    return { sync: 'drifted', reason: `the ledger records no deployment, but the target runs ${runs}` };
  }
  const wanted = `revision ${current.revision} (commit ${short(current.commit)})`;
  if (!s.running) {
    const why = s.state === 'absent' ? 'nothing is deployed there' : `${s.state}${s.reason ? `: ${s.reason}` : ''}`;
    const foreign = obs.foreignOnPort ? `; an unknown process accepts connections on its port${typeof s.details.port === 'number' ? ` ${s.details.port}` : ''}` : '';
    return { sync: 'drifted', reason: `the ledger says ${wanted} runs, but it is not running (${why})${foreign}` };
  }
  if (s.revision !== current.revision) return { sync: 'drifted', reason: `the ledger says ${wanted}, but the target runs ${runs}` };
  if (s.digest !== undefined && s.digest !== current.digest) {
    return { sync: 'drifted', reason: `revision ${current.revision} runs artifact ${s.digest}, but the ledger recorded ${current.digest}` };
  }
  // Targets that can see edits made behind Conveyor's back (kubernetes) name them in `details.drift`.
  if (typeof s.details.drift === 'string' && s.details.drift !== '') return { sync: 'drifted', reason: `${wanted} was changed on the target: ${s.details.drift}` };
  if (!s.healthy) return { sync: 'drifted', reason: `${wanted} runs but does not accept connections` };
  return { sync: 'in-sync', reason: `runs ${wanted} as recorded` };
}

/** The last heal of an environment and its back-off. */
export interface HealState {
  /** Heals started since the environment was last seen in sync. */
  attempts: number;
  instanceId?: string;
  startedAt?: string;
  /** `running` until the launcher reports the end. */
  outcome?: 'running' | 'succeeded' | 'failed';
  reason?: string;
  /** No new heal before this instant. */
  nextAllowedAt?: string;
}

/** The stored sync state of one environment. */
export interface EnvironmentSync {
  app: string;
  environment: string;
  sync: SyncState;
  reason: string;
  /** Since when `sync` has this value. */
  since: string;
  /** When the sweep last looked. */
  checkedAt: string;
  /** What the ledger says should run. */
  expected?: { revision: number; commit: string; digest: string };
  heal?: HealState;
}

/** A recorded change of sync state. */
export interface SyncChange {
  app: string;
  environment: string;
  from?: SyncState;
  to: SyncState;
  reason: string;
  at: string;
}

/** The next stored state after an assessment at `now`; `change` is set when the state changed. */
export function nextSync(
  previous: EnvironmentSync | undefined,
  app: string,
  environment: string,
  current: CurrentDeployment | undefined,
  assessment: DriftAssessment,
  now: Date,
): { sync: EnvironmentSync; change?: SyncChange } {
  const at = now.toISOString();
  // "Deployment in progress" is not a change of state: keep what we knew, just note the check.
  if (previous && assessment.sync === 'unknown' && assessment.reason === 'a deployment is in progress') {
    return { sync: { ...previous, checkedAt: at } };
  }
  const changed = !previous || previous.sync !== assessment.sync;
  const sync: EnvironmentSync = {
    app,
    environment,
    sync: assessment.sync,
    reason: assessment.reason,
    since: changed ? at : previous.since,
    checkedAt: at,
    ...(current ? { expected: { revision: current.revision, commit: current.commit, digest: current.digest } } : {}),
    ...(previous?.heal ? { heal: assessment.sync === 'in-sync' ? { ...previous.heal, attempts: 0 } : previous.heal } : {}),
  };
  if (assessment.sync === 'in-sync' && sync.heal) delete sync.heal.nextAllowedAt;
  return changed ? { sync, change: { app, environment, ...(previous ? { from: previous.sync } : {}), to: assessment.sync, reason: assessment.reason, at } } : { sync };
}

/** Back-off between heals of one environment. */
export interface HealBackoff {
  /** Wait after the first heal before another may start. Default 2 min. */
  baseMs: number;
  /** Longest wait. Default 1 h. */
  maxMs: number;
}

/** The default heal back-off. */
export const DEFAULT_HEAL_BACKOFF: HealBackoff = { baseMs: 2 * 60_000, maxMs: 60 * 60_000 };

/** The wait after the `attempts`-th heal: base, 2 × base, 4 × base, ..., capped. */
export function healDelayMs(attempts: number, backoff: HealBackoff = DEFAULT_HEAL_BACKOFF): number {
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempts - 1));
}

/** Whether to start a heal now, and if not, why. */
export function healDecision(
  policy: DriftPolicy,
  sync: EnvironmentSync,
  current: CurrentDeployment | undefined,
  now: Date,
): { heal: true } | { heal: false; why: string } {
  if (sync.sync !== 'drifted') return { heal: false, why: `not drifted (${sync.sync})` };
  if (policy !== 'heal') return { heal: false, why: 'drift is reported only (drift: report)' };
  if (!current) return { heal: false, why: 'the ledger records nothing to redeploy' };
  if (current.status !== 'Succeeded') return { heal: false, why: `the ledger's current revision ${current.revision} is not a good one (${current.status}); not redeployed` };
  if (sync.heal?.outcome === 'running') return { heal: false, why: `heal ${sync.heal.instanceId ?? ''} is still running`.replace('  ', ' ') };
  if (sync.heal?.nextAllowedAt && now.getTime() < Date.parse(sync.heal.nextAllowedAt)) {
    const last = sync.heal.outcome === 'failed' ? `the last heal failed (${sync.heal.reason ?? 'no reason given'}); ` : '';
    return { heal: false, why: `${last}next heal not before ${sync.heal.nextAllowedAt}` };
  }
  return { heal: true };
}
