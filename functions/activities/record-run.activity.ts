/** `recordRun`: applies a patch to the run record (the rules are in shared/use-cases/record-run.use-case.ts). */
import type { ActivityInput } from '../../shared/contracts/activities.js';
import { recordRunPatch } from '../../shared/use-cases/record-run.use-case.js';
import type { Services } from '../composition-root.js';

/** The `recordRun` activity, given its collaborators. */
export function recordRun({ runs }: Pick<Services, 'runs'>) {
  return async (input: ActivityInput<'recordRun'>): Promise<null> => {
    await recordRunPatch(runs, input.app, input.runId, input.patch);
    return null;
  };
}
