/**
 * `findRollbackTarget`: the revision a rollback redeploys (the rule is in
 * shared/use-cases/rollback-target.use-case.ts, shared with the rollback API's pre-check).
 */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { findRollbackTarget as chooseTarget } from '../../shared/use-cases/rollback-target.use-case.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';

/** The `findRollbackTarget` activity, given its collaborators. */
export function findRollbackTarget({ ledger }: Pick<Services, 'ledger'>) {
  return async (input: ActivityInput<'findRollbackTarget'>): Promise<ActivityOutput<'findRollbackTarget'>> =>
    reportingVerdicts(async () => {
      const target = await chooseTarget(ledger, input);
      return target.ok ? target : { ok: false as const, reason: target.reason };
    });
}
