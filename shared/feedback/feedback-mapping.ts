/**
 * Which Git host state each Conveyor event means (pure). One status per run (`conveyor`) and
 * one per environment (`conveyor/<environment>`) on the run's commit; each host then names the
 * states its own way (GitHub `failure`, GitLab `failed`, Azure DevOps `failed`, ...).
 */
import type { CloudEvent } from '../events/cloud-event.js';

/** Conveyor's host-neutral feedback states. */
export type FeedbackState = 'pending' | 'running' | 'success' | 'failure' | 'error' | 'canceled';

/** One state to report for one run, or one environment of it. */
export interface FeedbackUpdate {
  app: string;
  runId: string;
  /** Absent: the run as a whole. */
  environment?: string;
  state: FeedbackState;
  /** Short text shown next to the state (hosts cap it at 140 characters). */
  description: string;
  /** The commit, when the event carries it (run events do); otherwise the run record has it. */
  commit?: string;
  /** The event's id: the same event redelivered gives the same update. */
  eventId: string;
  eventType: string;
}

const RUN: Record<string, { state: FeedbackState; text: string }> = {
  'dev.conveyor.run.running': { state: 'running', text: 'building and promoting' },
  'dev.conveyor.run.succeeded': { state: 'success', text: 'deployed to every environment' },
  'dev.conveyor.run.failed': { state: 'failure', text: 'failed' },
  'dev.conveyor.run.errored': { state: 'error', text: 'stopped by a technical fault' },
  'dev.conveyor.run.aborted': { state: 'canceled', text: 'aborted' },
  'dev.conveyor.run.superseded': { state: 'canceled', text: 'superseded by a newer push' },
};

const ENVIRONMENT: Record<string, { state: FeedbackState; text: string }> = {
  'dev.conveyor.environment.promoting': { state: 'running', text: 'promoting' },
  'dev.conveyor.approval.requested': { state: 'pending', text: 'waiting for approval' },
  'dev.conveyor.environment.deployed': { state: 'success', text: 'deployed and verified' },
  'dev.conveyor.environment.failed': { state: 'failure', text: 'deployment or verification failed' },
  'dev.conveyor.environment.errored': { state: 'error', text: 'stopped by a technical fault' },
  'dev.conveyor.environment.aborted': { state: 'canceled', text: 'aborted' },
  'dev.conveyor.environment.superseded': { state: 'canceled', text: 'superseded by a newer run' },
  'dev.conveyor.environment.skipped': { state: 'canceled', text: 'skipped' },
};

/**
 * The event types the `git-feedback` subscription receives (its correlation-filter rules, in
 * servicebus-emulator.json and infra/main.json, list exactly these; a unit test compares them).
 */
export const FEEDBACK_EVENT_TYPES: readonly string[] = [...Object.keys(RUN), ...Object.keys(ENVIRONMENT)];

/** The subscription of the events topic the feedback trigger reads. */
export const FEEDBACK_SUBSCRIPTION = 'git-feedback';

/** True for states no later event of the same scope changes. */
export function isFinalState(state: FeedbackState): boolean {
  return state !== 'pending' && state !== 'running';
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Caps a description at the hosts' 140 characters. */
export function shortDescription(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= 140 ? flat : `${flat.slice(0, 139)}…`;
}

/** The description of an update of `type` whose event data is `data`. */
function describe(type: string, data: Record<string, unknown>): string {
  const entry = RUN[type] ?? ENVIRONMENT[type]!;
  const reason = str(data.reason);
  let text = entry.text;
  if (type === 'dev.conveyor.approval.requested' && typeof data.required === 'number') text = `waiting for ${data.required} approval(s)`;
  if (entry.state === 'success' && RUN[type] === undefined && typeof data.revision === 'number') text = `${text} (revision ${data.revision})`;
  if (reason && entry.state !== 'success') text = `${text}: ${reason}`;
  return shortDescription(text);
}

const RUN_TYPE_OF_STATUS: Partial<Record<string, string>> = {
  Succeeded: 'dev.conveyor.run.succeeded',
  Failed: 'dev.conveyor.run.failed',
  Errored: 'dev.conveyor.run.errored',
  Aborted: 'dev.conveyor.run.aborted',
  Superseded: 'dev.conveyor.run.superseded',
};

const ENVIRONMENT_TYPE_OF_STATUS: Partial<Record<string, string>> = {
  Succeeded: 'dev.conveyor.environment.deployed',
  Failed: 'dev.conveyor.environment.failed',
  Errored: 'dev.conveyor.environment.errored',
  Aborted: 'dev.conveyor.environment.aborted',
  Superseded: 'dev.conveyor.environment.superseded',
  Skipped: 'dev.conveyor.environment.skipped',
};

/**
 * The final state and description a run record shows for the run (`environment` undefined) or
 * one environment, as its final event would have said it; undefined while it is not final.
 */
export function finalFromRecord(environment: string | undefined, record: { status: string; reason?: string; revision?: number }): Pick<FeedbackUpdate, 'state' | 'description'> | undefined {
  const type = environment ? ENVIRONMENT_TYPE_OF_STATUS[record.status] : RUN_TYPE_OF_STATUS[record.status];
  if (!type) return undefined;
  const entry = RUN[type] ?? ENVIRONMENT[type]!;
  return { state: entry.state, description: describe(type, { ...(record.reason ? { reason: record.reason } : {}), ...(record.revision !== undefined ? { revision: record.revision } : {}) }) };
}

/** The update an event means, or undefined for events Git hosts are not told about. */
export function feedbackUpdateFor(event: CloudEvent): FeedbackUpdate | undefined {
  const data = event.data;
  const app = str(data.app);
  const runId = str(data.runId);
  if (!app || !runId) return undefined;
  // A heal redeploys what the ledger already says runs: no verdict on the commit for its Git host.
  if (data.trigger === 'heal') return undefined;
  const run = RUN[event.type];
  if (run) {
    const commit = str(data.commit);
    return { app, runId, state: run.state, description: describe(event.type, data), ...(commit ? { commit } : {}), eventId: event.id, eventType: event.type };
  }
  const env = ENVIRONMENT[event.type];
  const environment = str(data.environment);
  if (!env || !environment) return undefined;
  return { app, runId, environment, state: env.state, description: describe(event.type, data), eventId: event.id, eventType: event.type };
}

/** The status name on the host: `conveyor` for the run, `conveyor/<environment>` per environment. */
export function statusContext(update: Pick<FeedbackUpdate, 'environment'>): string {
  return update.environment ? `conveyor/${update.environment}` : 'conveyor';
}

/** GitHub commit status states (`POST /repos/{owner}/{repo}/statuses/{sha}`). */
export const GITHUB_STATUS_STATE: Readonly<Record<FeedbackState, 'pending' | 'success' | 'failure' | 'error'>> = {
  pending: 'pending',
  running: 'pending',
  success: 'success',
  failure: 'failure',
  error: 'error',
  // Statuses know no "cancelled": a superseded or aborted run must not stay pending forever.
  canceled: 'error',
};

/** GitHub deployment status states (`POST /repos/{owner}/{repo}/deployments/{id}/statuses`). */
export const GITHUB_DEPLOYMENT_STATE: Readonly<Record<FeedbackState, 'queued' | 'in_progress' | 'success' | 'failure' | 'error' | 'inactive'>> = {
  pending: 'queued',
  running: 'in_progress',
  success: 'success',
  failure: 'failure',
  error: 'error',
  canceled: 'inactive',
};

/** GitLab commit status states (`POST /projects/:id/statuses/:sha`). */
export const GITLAB_STATE: Readonly<Record<FeedbackState, 'pending' | 'running' | 'success' | 'failed' | 'canceled'>> = {
  pending: 'pending',
  running: 'running',
  success: 'success',
  failure: 'failed',
  error: 'failed',
  canceled: 'canceled',
};

/**
 * GitLab deployment statuses (`POST /projects/:id/deployments`, `PUT .../deployments/:id`):
 * a deployment is created `created` (waiting: approval) or `running`, and finishes `success`,
 * `failed` or `canceled`.
 */
export const GITLAB_DEPLOYMENT_STATE: Readonly<Record<FeedbackState, 'created' | 'running' | 'success' | 'failed' | 'canceled'>> = {
  pending: 'created',
  running: 'running',
  success: 'success',
  failure: 'failed',
  error: 'failed',
  canceled: 'canceled',
};

/** Azure DevOps Git status states (`GitStatusState`). */
export const AZURE_DEVOPS_STATE: Readonly<Record<FeedbackState, 'pending' | 'succeeded' | 'failed' | 'error' | 'notApplicable'>> = {
  pending: 'pending',
  running: 'pending',
  success: 'succeeded',
  failure: 'failed',
  error: 'error',
  canceled: 'notApplicable',
};
