/**
 * Which events a recorded change means (pure): a run-record patch (the `recordRun` activity)
 * and a ledger record (the `recordDeployment` activity). Activities publish what these return;
 * orchestrators never publish.
 */
import type { RunPatch } from '../domain/run.js';
import type { Status } from '../domain/status.js';
import { buildEvent, type CloudEvent } from './cloud-event.js';

const RUN_TYPES: Partial<Record<Status, string>> = {
  Running: 'dev.conveyor.run.running',
  Succeeded: 'dev.conveyor.run.succeeded',
  Failed: 'dev.conveyor.run.failed',
  Errored: 'dev.conveyor.run.errored',
  Aborted: 'dev.conveyor.run.aborted',
  Superseded: 'dev.conveyor.run.superseded',
};

const ENV_TYPES: Partial<Record<Status, string>> = {
  Running: 'dev.conveyor.environment.promoting',
  Succeeded: 'dev.conveyor.environment.deployed',
  Failed: 'dev.conveyor.environment.failed',
  Errored: 'dev.conveyor.environment.errored',
  Aborted: 'dev.conveyor.environment.aborted',
  Superseded: 'dev.conveyor.environment.superseded',
  Skipped: 'dev.conveyor.environment.skipped',
};

const optional = <T>(key: string, value: T | undefined): Record<string, T> => (value === undefined ? {} : { [key]: value });

/** The events a patch of run `runId` of `app` announces, stamped `time`. */
export function eventsFromRunPatch(app: string, runId: string, patch: RunPatch, time: string): CloudEvent[] {
  const out: CloudEvent[] = [];
  const subject = `runs/${runId}`;
  const runType = patch.status ? RUN_TYPES[patch.status] : undefined;
  if (runType) {
    out.push(
      buildEvent(runType, {
        source: `/apps/${app}`,
        subject,
        time,
        change: `${runId}|${patch.status}`,
        data: { app, runId, status: patch.status, ...optional('commit', patch.commit), ...optional('branch', patch.branch), ...optional('reason', patch.reason), ...optional('trigger', patch.trigger) },
      }),
    );
  }
  for (const [environment, env] of Object.entries(patch.environments ?? {})) {
    const source = `/apps/${app}/environments/${environment}`;
    const approval = env.approval;
    if (approval) {
      const data = {
        app,
        environment,
        runId,
        approvers: approval.approvers,
        required: approval.required,
        until: approval.until,
        decisions: approval.decisions.map((d) => ({ decision: d.decision, by: d.by, at: d.at, ...optional('comment', d.comment) })),
        ...optional('outcome', approval.outcome),
      };
      if (approval.outcome) {
        out.push(buildEvent('dev.conveyor.approval.decided', { source, subject, time, change: `${runId}|${approval.waitingSince}|${approval.outcome}`, data }));
      } else if (approval.decisions.length === 0) {
        out.push(buildEvent('dev.conveyor.approval.requested', { source, subject, time, change: `${runId}|${approval.waitingSince}`, data }));
      }
    }
    const envType = ENV_TYPES[env.status];
    if (envType) {
      out.push(
        buildEvent(envType, {
          source,
          subject,
          time,
          // Every patch of a promoting environment says Running: one event (same id) for all of them.
          change: `${runId}|${env.status}`,
          data: { app, environment, runId, status: env.status, ...optional('reason', env.reason), ...optional('revision', env.revision), ...optional('rolledBackTo', env.rolledBackTo), ...optional('trigger', patch.trigger) },
        }),
      );
    }
  }
  return out;
}

/** What a ledger record says, for {@link eventsFromDeployment}. */
export interface RecordedDeployment {
  app: string;
  environment: string;
  runId: string;
  revision: number;
  kind: 'deploy' | 'rollback' | 'heal';
  status: 'Succeeded' | 'Failed';
  commit: string;
  digest: string;
  rolledBackTo?: number;
  reason?: string;
  /** Who asked: a person, or `system` for automatic rollbacks and heals. */
  requestedBy: { id: string; name?: string };
}

/** The event a ledger record announces. */
export function eventsFromDeployment(d: RecordedDeployment, time: string): CloudEvent[] {
  const type = `dev.conveyor.${d.kind === 'rollback' ? 'rollback' : 'deployment'}.${d.status === 'Succeeded' ? 'succeeded' : 'failed'}`;
  return [
    buildEvent(type, {
      source: `/apps/${d.app}/environments/${d.environment}`,
      subject: `revisions/${d.revision}`,
      time,
      change: `${d.revision}|${d.status}`,
      data: {
        app: d.app,
        environment: d.environment,
        runId: d.runId,
        revision: d.revision,
        kind: d.kind,
        status: d.status,
        commit: d.commit,
        digest: d.digest,
        requestedBy: d.requestedBy,
        ...optional('rolledBackTo', d.rolledBackTo),
        ...optional('reason', d.reason?.slice(0, 1000)),
      },
    }),
  ];
}
