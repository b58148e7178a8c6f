/**
 * Finding the revision a rollback redeploys, with the rule of shared/domain/rollback.ts over
 * the deployment ledger. The HTTP API calls it to refuse early (404 / 409); the
 * `findRollbackTarget` activity calls it again under the environment lock.
 */
import { namedRevisionRefusal, neverDeployed, noGoodRevision } from '../domain/rollback.js';
import type { DeploymentLedger } from '../ledger/deployment-ledger.js';

/** The ledger reads the rule needs (an in-memory fake implements them in tests). */
export type RollbackLedger = Pick<DeploymentLedger, 'current' | 'get' | 'badMarker' | 'lastGood'>;

/** What to roll back, and how. */
export interface RollbackRequest {
  app: string;
  environment: string;
  /** A named revision; default: the last good one before the current one. */
  toRevision?: number;
  /** Redeploy a named revision even when it is marked bad or failed. */
  force?: boolean;
}

/** The revision to redeploy, or why there is none (`code` lets an adapter pick its status). */
export type RollbackTarget =
  | { ok: true; revision: number; commit: string; digest: string }
  | { ok: false; code: 'never-deployed' | 'refused' | 'no-good-revision'; reason: string };

/**
 * Chooses the rollback target. A named revision that does not exist throws the ledger's
 * NotFoundError (a 404 to an HTTP caller, a verdict to an activity).
 */
export async function findRollbackTarget(ledger: RollbackLedger, request: RollbackRequest): Promise<RollbackTarget> {
  const { app, environment } = request;
  const current = await ledger.current(app, environment);
  if (!current) return { ok: false, code: 'never-deployed', reason: neverDeployed(environment) };
  if (request.toRevision !== undefined) {
    const record = await ledger.get(app, environment, request.toRevision);
    const refusal = namedRevisionRefusal(record, await ledger.badMarker(app, environment, request.toRevision), request.force ?? false);
    if (refusal) return { ok: false, code: 'refused', reason: refusal };
    return { ok: true, revision: record.revision, commit: record.commit, digest: record.digest };
  }
  const good = await ledger.lastGood(app, environment, { before: current.revision });
  if (!good) return { ok: false, code: 'no-good-revision', reason: noGoodRevision(environment, current.revision) };
  return { ok: true, revision: good.revision, commit: good.commit, digest: good.digest };
}
