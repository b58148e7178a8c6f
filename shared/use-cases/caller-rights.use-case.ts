/**
 * What the caller may do to each environment of an app, so a client (the dashboard) shows an
 * action only to someone the API would let do it. The API still decides every request; this
 * uses the same rules it does (shared/domain/policy.ts).
 */
import type { AppRecord } from '../apps/app-record.schema.js';
import type { Identity } from '../domain/approval.js';
import type { currentApprovers } from './current-approvers.use-case.js';
import { rollbackRightsRefusal } from './request-rollback.use-case.js';

/** The caller's rights on one environment; a refused right says why. */
export interface EnvironmentRights {
  rollback: boolean;
  freeze: boolean;
  unfreeze: boolean;
  /** Why each refused right is refused. */
  why?: { rollback?: string; freeze?: string; unfreeze?: string };
}

const ANONYMOUS = 'actions are recorded with who did them: sign in with an identity';

/** The rights of `who` (undefined: an anonymous caller) on each of `environments` of `app`. */
export async function callerRights(
  stores: Parameters<typeof currentApprovers>[0],
  app: Pick<AppRecord, 'name' | 'policy'>,
  environments: readonly string[],
  who: Identity | undefined,
): Promise<Record<string, EnvironmentRights>> {
  const out: Record<string, EnvironmentRights> = {};
  await Promise.all(
    environments.map(async (env) => {
      if (!who) {
        out[env] = { rollback: false, freeze: false, unfreeze: false, why: { rollback: ANONYMOUS, freeze: ANONYMOUS, unfreeze: ANONYMOUS } };
        return;
      }
      const refusal = await rollbackRightsRefusal(stores, app, env, who);
      // Freezing by hand: any identified caller; unfreezing: the right to roll back (environment-controls.use-case.ts).
      const unfreezeWhy = refusal ? `unfreezing needs the right to roll ${env} back: ${refusal}` : undefined;
      out[env] = { rollback: refusal === undefined, freeze: true, unfreeze: refusal === undefined, ...(refusal ? { why: { rollback: refusal, unfreeze: unfreezeWhy } } : {}) };
    }),
  );
  return out;
}
