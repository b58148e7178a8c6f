/**
 * `recordRun`: merges a patch into the run record (ETag read-modify-write). Stage and
 * environment entries are merged field by field so concurrent writers never drop each other's
 * changes. The webhook creates the record; if it is missing (purged, or written elsewhere) the
 * patch creates it.
 */
import type { ActivityInput, RunPatch } from '../../shared/contracts/activities.js';
import type { RunRecord } from '../../shared/domain/run.js';
import type { Status } from '../../shared/domain/status.js';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import type { Services } from '../composition-root.js';

/** Applies a patch to a run record (pure). */
export function applyRunPatch(run: RunRecord, patch: RunPatch): RunRecord {
  const { stages, environments, status, pusher, ...rest } = patch;
  const next: RunRecord = { ...run };
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
  }
  if (status !== undefined) next.status = status as Status;
  if (pusher !== undefined) next.pusher = pusher;
  if (stages) {
    next.stages = { ...run.stages };
    for (const [name, stage] of Object.entries(stages)) next.stages[name] = { ...run.stages[name], ...stripUndefined(stage), status: stage.status as Status };
  }
  if (environments) {
    next.environments = { ...run.environments };
    for (const [name, env] of Object.entries(environments)) next.environments[name] = { ...run.environments[name], ...stripUndefined(env), status: env.status as Status };
  }
  return next;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The `recordRun` activity, given its collaborators. */
export function recordRun({ runs }: Pick<Services, 'runs'>) {
  return async (input: ActivityInput<'recordRun'>): Promise<null> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await runs.update(input.app, input.runId, (run) => applyRunPatch(run, input.patch));
        return null;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      try {
        const base = { app: input.app, runId: input.runId, status: 'Pending' as Status, commit: input.patch.commit ?? 'unknown' };
        const created = applyRunPatch({ ...base, stages: {}, environments: {}, createdAt: '', updatedAt: '' }, input.patch);
        await runs.create({ ...created, app: input.app, runId: input.runId });
        return null;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw new ConflictError(`run ${input.runId} could not be recorded`);
  };
}
