/** `recordRun`: applies a patch to the run record (the rules are in shared/use-cases/record-run.use-case.ts). */
import type { ActivityInput } from '../../shared/contracts/activities.js';
import { eventsFromRunPatch } from '../../shared/events/index.js';
import { recordRunPatch } from '../../shared/use-cases/record-run.use-case.js';
import type { Services } from '../composition-root.js';

/** The `recordRun` activity, given its collaborators. */
export function recordRun({ runs, events }: Pick<Services, 'runs' | 'events'>) {
  return async (input: ActivityInput<'recordRun'>): Promise<null> => {
    await recordRunPatch(runs, input.app, input.runId, input.patch);
    // After the record: an event never announces a change that was not stored (docs/events.md).
    await events.record(eventsFromRunPatch(input.app, input.runId, input.patch, new Date().toISOString()));
    return null;
  };
}
