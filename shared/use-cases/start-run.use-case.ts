/**
 * Starting a commit's run, for every trigger (a push webhook, the reconcile sweep): the run id
 * is app + commit, so whoever comes second starts nothing. The run record is created Pending
 * first (so the status URL answers at once), then the `pipeline` orchestration is started under
 * the run id; a start refused because the id is live means another trigger won the race.
 */
import type { AppRecord } from '../apps/app-record.schema.js';
import type { PipelineInput } from '../contracts/activities.js';
import { runIdFor } from '../domain/ids.js';
import type { Actor, NewRunFields } from '../domain/run.js';
import type { RunStore } from '../ledger/run-store.js';
import { createRun } from './record-run.use-case.js';

/** The durable side of starting a run. */
export interface PipelineStarter {
  /** Whether an orchestration instance with this id exists (any status). */
  exists(instanceId: string): Promise<boolean>;
  /** Starts the `pipeline` orchestration; throws when the id is refused (live) or on a fault. */
  start(instanceId: string, input: PipelineInput): Promise<void>;
}

/** What starting a run needs. */
export interface StartRunPorts {
  runs: Pick<RunStore, 'create'>;
  pipelines: PipelineStarter;
}

/** The run to start. */
export interface StartRunRequest {
  app: Pick<AppRecord, 'name' | 'repoUrl' | 'pipelinePath'>;
  commit: string;
  branch?: string;
  pusher: Actor;
  trigger: NonNullable<NewRunFields['trigger']>;
  headCommit?: NewRunFields['headCommit'];
  /** When the trigger arrived (ISO); orders "newer commits win". */
  requestedAt: string;
}

/** Starts the run of `request.commit` unless it has one; says which. */
export async function startRun(ports: StartRunPorts, request: StartRunRequest): Promise<{ status: 'started' | 'duplicate'; runId: string }> {
  const { app, commit, branch, pusher } = request;
  const runId = runIdFor(app.name, commit);
  if (await ports.pipelines.exists(runId)) return { status: 'duplicate', runId };
  await createRun(ports.runs, { app: app.name, runId, commit, branch, pusher, trigger: request.trigger, ...(request.headCommit ? { headCommit: request.headCommit } : {}) });
  const input: PipelineInput = {
    subject: { app: app.name, runId, requestedAt: request.requestedAt, repoUrl: app.repoUrl, commit, branch, pusher },
    pipelinePath: app.pipelinePath,
  };
  try {
    await ports.pipelines.start(runId, input);
  } catch (err) {
    if (await ports.pipelines.exists(runId)) return { status: 'duplicate', runId };
    throw err;
  }
  return { status: 'started', runId };
}
