/**
 * `findRollbackTarget`: the revision a rollback redeploys: a named one (refused when marked
 * bad or failed, unless forced) or the last good revision before the environment's current one
 * (after a failed deployment that is the one before it; otherwise the previous good release).
 */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `findRollbackTarget` activity, given its collaborators. */
export function findRollbackTarget({ ledger }: Pick<Services, 'ledger'>) {
  return async (input: ActivityInput<'findRollbackTarget'>): Promise<ActivityOutput<'findRollbackTarget'>> =>
    reportingVerdicts(async () => {
      if (input.toRevision !== undefined) {
        const record = await ledger.get(input.app, input.environment, input.toRevision);
        if (record.status !== 'Succeeded' && !input.force) {
          return { ok: false as const, reason: `revision ${input.toRevision} of ${input.environment} did not succeed; pass force to redeploy it anyway` };
        }
        const bad = await ledger.badMarker(input.app, input.environment, input.toRevision);
        if (bad && !input.force) {
          return { ok: false as const, reason: `revision ${input.toRevision} of ${input.environment} is marked bad (${bad.reason}); pass force to redeploy it anyway` };
        }
        return { ok: true as const, revision: record.revision, commit: record.commit, digest: record.artifactDigest };
      }
      const current = await ledger.current(input.app, input.environment);
      if (!current) return { ok: false as const, reason: `${input.environment} was never deployed` };
      const good = await ledger.lastGood(input.app, input.environment, { before: current.revision });
      if (!good) return { ok: false as const, reason: `${input.environment} has no good revision before revision ${current.revision} to roll back to` };
      return { ok: true as const, revision: good.revision, commit: good.commit, digest: good.artifactDigest };
    });
}
