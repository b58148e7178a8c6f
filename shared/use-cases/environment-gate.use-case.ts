/**
 * The gate in front of an environment, and what a requested rollback leaves behind. The rules
 * are those of shared/domain/windows.ts (a freeze holds back promotions and heals, never a
 * rollback; break-glass only by someone the policy names); a promotion carrying a digest
 * quarantined in the environment is refused with the reason (and a quarantine event), unless it
 * is a forced rollback.
 */
import type { ActivityInput, ActivityOutput } from '../contracts/activities.js';
import { breakGlassRefusal, decideEntry, gateOf, type BreakGlass } from '../domain/windows.js';
import { deployWindowOf } from '../domain/policy.js';
import { actorOf } from '../domain/run.js';
import { quarantineEvent, type EventBus } from '../events/index.js';
import type { EnvironmentControls } from '../environments/index.js';
import type { AppRegistry } from '../apps/index.js';
import type { DeploymentLedger } from '../ledger/index.js';

/** What the gate check needs. */
export interface GatePorts {
  controls: Pick<EnvironmentControls, 'quarantined' | 'freeze'>;
  apps: Pick<AppRegistry, 'get'>;
  events: Pick<EventBus, 'record'>;
}

/** May this party enter the environment now: open (maybe by break-glass), closed (and until when), or refused for good. */
export async function checkEnvironmentGate({ controls, apps, events }: GatePorts, input: ActivityInput<'checkEnvironmentGate'>): Promise<ActivityOutput<'checkEnvironmentGate'>> {
  // The three reads are independent: all start at once (a quarantine still decides first).
  const checked = input.digest && !(input.kind === 'rollback' && input.force) ? controls.quarantined(input.app, input.environment, input.digest) : undefined;
  const rest = (async () => Promise.all([controls.freeze(input.app, input.environment), apps.get(input.app).then((r) => r.value)]))();
  rest.catch(() => undefined); // awaited below unless the quarantine refuses first
  if (checked) {
    const q = await checked;
    if (q) {
      // The orchestrator's time of the check makes the id stable for a retried activity.
      const at = input.now ?? new Date().toISOString();
      await events.record([quarantineEvent(input.app, input.environment, q, { kind: input.kind, check: input.now ?? at, at })]);
      return {
        state: 'refused',
        reason: `artifact ${input.digest} is quarantined in ${input.environment}: revision ${q.revision} (commit ${q.commit.slice(0, 12)}) was rolled back by ${q.by.id} at ${q.at}${q.reason ? ` (${q.reason})` : ''}; only a forced rollback (force: true) may deploy it there again`,
      };
    }
  }
  const [freeze, app] = await rest;
  const policy = deployWindowOf(app, input.environment);
  let glass: BreakGlass | undefined;
  let breakGlassRefused: string | undefined;
  if (input.breakGlass) {
    breakGlassRefused = breakGlassRefusal(policy?.breakGlass ?? [], { id: input.breakGlass.by, groups: input.breakGlass.groups }, input.breakGlass.reason);
    if (!breakGlassRefused) glass = { by: actorOf({ id: input.breakGlass.by, ...(input.breakGlass.name ? { name: input.breakGlass.name } : {}) }), reason: input.breakGlass.reason, at: input.breakGlass.at };
  }
  const now = input.now ? new Date(input.now) : new Date();
  const decision = decideEntry(gateOf(policy, freeze), now, input.kind, glass);
  if (decision.enter) return { state: 'open', ...(decision.breakGlass ? { breakGlass: decision.breakGlass } : {}), ...(decision.note ? { note: decision.note } : {}) };
  return {
    state: 'closed',
    frozen: decision.verdict.closedBy === 'freeze',
    reason: decision.reason,
    ...(decision.retryAt ? { retryAt: decision.retryAt } : {}),
    ...(breakGlassRefused ? { breakGlassRefused } : {}),
  };
}

/** What a requested rollback's freeze and quarantine need. */
export interface RollbackControlPorts {
  controls: Pick<EnvironmentControls, 'setFreeze' | 'quarantine'>;
  ledger: Pick<DeploymentLedger, 'current'>;
}

/** Freezes the environment and quarantines the digest rolled back (as the rollback asked). */
export async function freezeAfterRollback({ controls, ledger }: RollbackControlPorts, input: ActivityInput<'freezeAfterRollback'>): Promise<null> {
  const at = new Date().toISOString();
  if (input.freeze) await controls.setFreeze(input.app, input.environment, { kind: 'rollback', by: input.by, at, reason: input.reason });
  let q = input.quarantine === 'current' ? undefined : input.quarantine;
  if (input.quarantine === 'current') {
    const current = await ledger.current(input.app, input.environment);
    if (current && current.digest !== input.keepDigest) q = { revision: current.revision, commit: current.commit, digest: current.digest };
  }
  if (q) {
    await controls.quarantine(input.app, input.environment, { digest: q.digest, revision: q.revision, commit: q.commit, by: input.by, at, reason: input.reason });
  }
  return null;
}
