/**
 * Repairing an environment lock from outside (the reconcile sweep, every tick), so waiting
 * parties need not poll and their histories stay bounded: a turn or slot holder that went away
 * without releasing (terminated from outside) is released on its behalf, and a hand-over whose
 * wake-up was lost (never confirmed by the party after `staleMs`) is woken again. The rules are
 * those of shared/domain/environment-lock.ts (`lockRepairs`); a duplicate wake-up is harmless
 * because a woken party confirms with the entity before acting.
 */
import { lockRepairs, type LockState, type Wake } from '../domain/environment-lock.js';

/** What the repair needs from the durable runtime. */
export interface LockRepairPorts {
  /** The lock's state, or undefined when it was never used. */
  read(app: string, environment: string): Promise<LockState | undefined>;
  /** `gone`: the instance ended or never existed; `unknown`: could not be asked (nothing is done). */
  liveness(instanceId: string): Promise<'live' | 'gone' | 'unknown'>;
  /** Asks the entity to release everything `instanceId` holds (the hand-over's wake-up is the next pass's). */
  releaseOnBehalf(app: string, environment: string, instanceId: string): Promise<void>;
  /** Raises the wake-up event on a party. */
  wake(wake: Wake): Promise<void>;
}

/** What one repair did. */
export interface LockRepairReport {
  released: string[];
  woken: string[];
}

/** Hand-overs unconfirmed for this long are woken again. */
export const LOCK_REWAKE_AFTER_MS = 30_000;

/** Repairs one environment's lock; never rejects for a party it cannot ask. */
export async function repairLock(ports: LockRepairPorts, app: string, environment: string, now: Date, staleMs = LOCK_REWAKE_AFTER_MS): Promise<LockRepairReport> {
  const state = await ports.read(app, environment);
  const report: LockRepairReport = { released: [], woken: [] };
  if (!state) return report;
  const plan = lockRepairs(state, now.toISOString(), staleMs);
  const gone = new Set<string>();
  for (const id of plan.holders) {
    if ((await ports.liveness(id)) !== 'gone') continue;
    await ports.releaseOnBehalf(app, environment, id);
    gone.add(id);
    report.released.push(id);
  }
  for (const w of plan.rewake) {
    if (gone.has(w.instanceId)) continue;
    await ports.wake(w);
    report.woken.push(w.instanceId);
  }
  return report;
}
