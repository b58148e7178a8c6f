/**
 * The rollback-target rule (pure): which recorded revision a rollback may redeploy. Used by
 * the rollback API's pre-check and by the `findRollbackTarget` activity alike, through
 * shared/use-cases/rollback-target.use-case.ts, so both refuse the same things in the same words.
 *
 * - A named revision is refused when it is marked bad or did not succeed, unless forced
 *   (a bad marker is named first: it is the stronger statement).
 * - Without a name, the target is the last good revision before the environment's current one.
 */
import type { BadRevisionMarker, DeploymentRecord } from './deployment.js';

/** Why a named revision may not be redeployed, or undefined when it may. */
export function namedRevisionRefusal(record: Pick<DeploymentRecord, 'revision' | 'environment' | 'status'>, bad: BadRevisionMarker | undefined, force: boolean): string | undefined {
  if (force) return undefined;
  if (bad) return `revision ${record.revision} of ${record.environment} is marked bad (${bad.reason}); ask with force to redeploy it anyway`;
  if (record.status !== 'Succeeded') return `revision ${record.revision} of ${record.environment} is a failed deployment; ask with force to redeploy it anyway`;
  return undefined;
}

/** The refusal when an environment was never deployed. */
export function neverDeployed(environment: string): string {
  return `${environment} was never deployed`;
}

/** The refusal when no good revision precedes the current one. */
export function noGoodRevision(environment: string, currentRevision: number): string {
  return `${environment} has no good revision before revision ${currentRevision} to roll back to`;
}
