/**
 * Reading a step's log of a run, for every adapter that shows logs (the HTTP API today): the run
 * must exist (its app is read from the run id), the step must be one that keeps a log, and the
 * log must have been started.
 */
import { appOfRunId, isLoggedStep, LOGGED_STEPS, logBlobName } from '../domain/ids.js';
import type { StepLogReader } from '../executor/index.js';
import type { RunStore } from '../ledger/index.js';

/** What reading a log needs. */
export interface StepLogPorts {
  runs: Pick<RunStore, 'get'>;
  stepLogs: StepLogReader;
}

/** The log as a stream, or why there is none (each adapter maps that to its not-found answer). */
export type StepLogResult = { found: true; log: NodeJS.ReadableStream } | { found: false; reason: string };

/** Opens the log of `step` in run `runId`. A run that does not exist throws NotFoundError (from the run store) or is reported as not found. */
export async function readStepLog(ports: StepLogPorts, runId: string, step: string): Promise<StepLogResult> {
  const app = appOfRunId(runId);
  if (!app) return { found: false, reason: `no run ${JSON.stringify(runId.slice(0, 120))}` };
  if (!isLoggedStep(step)) return { found: false, reason: `no step ${JSON.stringify(step.slice(0, 40))}; steps with logs: ${LOGGED_STEPS.join(', ')}` };
  await ports.runs.get(app, runId);
  const log = await ports.stepLogs.open(logBlobName(app, runId, step));
  if (!log) return { found: false, reason: `run ${runId} has no ${step} log (yet)` };
  return { found: true, log };
}
