/**
 * Writing run records: the one place a run record is created (by the webhook when a run
 * starts, or by the first patch when the record is missing) and the one place patches are
 * applied (ETag read-modify-write through the run store, merged field by field by the pure
 * rules of shared/domain/run.ts, so concurrent writers never drop each other's changes).
 */
import { applyRunPatch, pendingRun, type NewRunFields, type RunPatch } from '../domain/run.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { RunStore } from '../ledger/run-store.js';

/** The run store operations these use-cases need (an in-memory fake implements them in tests). */
export type RunRecords = Pick<RunStore, 'create' | 'update'>;

/** Creates a run's record as Pending; an existing record (a redelivery, a race) is left alone. */
export async function createRun(runs: Pick<RunStore, 'create'>, fields: NewRunFields): Promise<void> {
  await runs.create(pendingRun(fields)).catch((err: unknown) => {
    if (!(err instanceof ConflictError)) throw err;
  });
}

/**
 * Applies `patch` to run `runId` of `app`. If the record is missing (purged, or the run was
 * started without the webhook) the patch creates it from what it carries (commit, branch,
 * pusher). A creation race with another writer is retried as an update.
 */
export async function recordRunPatch(runs: RunRecords, app: string, runId: string, patch: RunPatch): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await runs.update(app, runId, (run) => applyRunPatch(run, patch));
      return;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    try {
      const base = pendingRun({ app, runId, commit: patch.commit ?? 'unknown', branch: patch.branch, pusher: patch.pusher, trigger: patch.trigger });
      const created = applyRunPatch({ ...base, stages: {}, environments: {}, createdAt: '', updatedAt: '' }, patch);
      const { createdAt: _c, updatedAt: _u, ...fields } = created;
      await runs.create({ ...fields, app, runId });
      return;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  throw new ConflictError(`run ${runId} could not be recorded`);
}
