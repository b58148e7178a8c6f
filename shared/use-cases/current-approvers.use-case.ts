/**
 * The approvers of an environment's current deployment: the approval gate its run recorded
 * there. Environment policy uses them as the list a commit cannot replace with one of its own
 * (the approval gate), and as the default rollback rights where no policy says otherwise.
 */
import { NotFoundError } from '../errors.js';
import type { DeploymentLedger } from '../ledger/deployment-ledger.js';
import type { RunStore } from '../ledger/run-store.js';

/** The approver list recorded for `environment`'s current deployment, or undefined (never deployed, no gate, record gone). */
export async function currentApprovers(
  stores: { ledger: Pick<DeploymentLedger, 'current'>; runs: Pick<RunStore, 'get'> },
  app: string,
  environment: string,
): Promise<string[] | undefined> {
  const current = await stores.ledger.current(app, environment);
  if (!current) return undefined;
  try {
    const { value: run } = await stores.runs.get(app, current.runId);
    const approvers = run.environments[environment]?.approval?.approvers;
    return approvers && approvers.length > 0 ? [...approvers] : undefined;
  } catch (err) {
    // A rollback's record names an operation, not a run; an old run may have been removed.
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}
