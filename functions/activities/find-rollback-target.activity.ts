/**
 * `findRollbackTarget`: the revision a rollback redeploys: a named one (refused when marked
 * bad, unless forced) or the environment's last good revision.
 */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { services } from '../services.js';
import { reportingVerdicts } from './expected-failure.js';

export async function findRollbackTarget(input: ActivityInput<'findRollbackTarget'>): Promise<ActivityOutput<'findRollbackTarget'>> {
  const { ledger } = services();
  return reportingVerdicts(async () => {
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
    const good = await ledger.lastGood(input.app, input.environment);
    if (!good) return { ok: false as const, reason: `${input.environment} has no earlier good revision to roll back to` };
    return { ok: true as const, revision: good.revision, commit: good.commit, digest: good.artifactDigest };
  });
}
