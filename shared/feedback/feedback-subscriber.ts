/**
 * The Git host feedback subscriber: one CloudEvent from the `conveyor-events` topic in, at
 * most one status (or deployment status) posted to the host where the run's commit lives.
 *
 * - Only apps whose registration has `feedback` are reported; other events are ignored.
 * - Idempotent: an event maps to one state of one status context on one commit, so a
 *   redelivered event posts the same state again, which the hosts accept as a repeat (GitLab's
 *   "cannot transition" answer to a repeat counts as done).
 * - Out of order: Service Bus does not promise order across messages, and the trigger handles
 *   several at once, so a `pending`/`running` update whose run (or environment) the run record
 *   already shows finished is dropped, and one that raced the final update is followed by the
 *   record's final state again: the host's last word is the final one.
 * - Failures: a host's permanent refusal (4xx), a missing token or an unusable event is
 *   dead-lettered here with the reason (a record in blob storage, see {@link FeedbackDeadLetters};
 *   the trigger dead-letters the message too)
 *   and logged; a transient one (5xx, 429, network, storage) throws, so the trigger retries.
 *   Nothing here can affect a deployment: the subscriber only reads Conveyor's records.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { ConflictError, NotFoundError } from '../errors.js';
import { cloudEventSchema, type CloudEvent } from '../events/cloud-event.js';
import type { AppRecord } from '../apps/app-record.schema.js';
import type { RunRecord } from '../domain/run.js';
import { parseRepoUrl } from '../git/repo-url.js';
import { createJson } from '../storage/blob-store.js';
import { DEFAULT_BASE_URLS, type FeedbackConfig, type FeedbackProvider } from './feedback-config.schema.js';
import { feedbackUpdateFor, finalFromRecord, isFinalState, type FeedbackUpdate } from './feedback-mapping.js';
import { FeedbackRejectedError, type FeedbackTarget, type GitHostReporter } from './git-host-reporter.js';


/** What became of one event. */
export type FeedbackOutcome =
  | { kind: 'reported'; provider: FeedbackProvider; commit: string; update: FeedbackUpdate }
  | { kind: 'ignored'; reason: string }
  | { kind: 'dead-lettered'; reason: string };

/** A dead-lettered event: the event and why it could not be reported. */
export interface FeedbackDeadLetter {
  eventId: string;
  eventType?: string;
  app?: string;
  runId?: string;
  reason: string;
  /** The host's HTTP status, when the host refused. */
  status?: number;
  at: string;
  event: unknown;
}

/** Where dead-lettered feedback is kept (port). */
export interface FeedbackDeadLetterStore {
  add(letter: FeedbackDeadLetter): Promise<void>;
}

/**
 * Dead letters in blob storage, one create-only blob per event
 * (`git-feedback/dead-letters/<app>/<eventId>.json`): a redelivery of the same event writes nothing new.
 *
 * The trigger also dead-letters the message itself on the subscription (with the reason); this
 * record keeps the event with the host's status next to Conveyor's other state.
 */
export class FeedbackDeadLetters implements FeedbackDeadLetterStore {
  constructor(
    private readonly container: ContainerClient,
    private readonly prefix = 'git-feedback/dead-letters/',
  ) {}

  async add(letter: FeedbackDeadLetter): Promise<void> {
    const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
    try {
      await createJson(this.container, `${this.prefix}${safe(letter.app ?? '_unknown')}/${safe(letter.eventId)}.json`, letter);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
}

/** What the subscriber needs. */
export interface FeedbackSubscriberDeps {
  /** The app's registration; undefined when it no longer exists. */
  app(name: string): Promise<AppRecord | undefined>;
  /** The run record; undefined when it does not exist. */
  run(app: string, runId: string): Promise<RunRecord | undefined>;
  /** The token for an app's feedback (a setting or its sealed value); throws with a reason when unusable. */
  token(app: string, config: FeedbackConfig): Promise<string>;
  reporters: Readonly<Record<FeedbackProvider, GitHostReporter>>;
  deadLetters: FeedbackDeadLetterStore;
  now?: () => string;
}

/** The host repository of an app: the configured one, else derived from the app's repoUrl. */
export function feedbackRepository(config: FeedbackConfig, repoUrl: string): string | undefined {
  if (config.repository) return config.repository.replace(/^\/+|\/+$/g, '');
  let path: string;
  try {
    const parsed = parseRepoUrl(repoUrl);
    if (parsed.protocol === 'file') return undefined;
    path = parsed.key.split('/').slice(1).join('/');
  } catch {
    return undefined;
  }
  path = path.replace(/\.git$/, '');
  if (config.provider === 'azure-devops') {
    // https://dev.azure.com/{org}/{project}/_git/{repo}; ssh v3/{org}/{project}/{repo}
    const parts = path.split('/').filter((p) => p !== '_git' && p !== 'v3');
    return parts.length === 3 ? parts.join('/') : undefined;
  }
  if (config.provider === 'github') return /^[^/]+\/[^/]+$/.test(path) ? path : undefined;
  return path === '' ? undefined : path;
}

function fill(template: string, update: FeedbackUpdate): string {
  return template
    .replaceAll('{app}', encodeURIComponent(update.app))
    .replaceAll('{runId}', encodeURIComponent(update.runId))
    .replaceAll('{environment}', encodeURIComponent(update.environment ?? ''));
}

/** Handles one event (see the module comment). Throws only for transient faults. */
export async function deliverFeedback(deps: FeedbackSubscriberDeps, body: unknown, messageId?: string): Promise<FeedbackOutcome> {
  const now = deps.now ?? (() => new Date().toISOString());
  const parsed = cloudEventSchema.safeParse(typeof body === 'string' ? safeJson(body) : body);
  if (!parsed.success) {
    const reason = `not a CloudEvent: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`.slice(0, 1000);
    await deps.deadLetters.add({ eventId: messageId ?? 'unknown', reason, at: now(), event: body });
    return { kind: 'dead-lettered', reason };
  }
  const event = parsed.data as CloudEvent;
  const update = feedbackUpdateFor(event);
  if (!update) return { kind: 'ignored', reason: `${event.type} is not reported to Git hosts` };
  const app = await deps.app(update.app);
  if (!app?.feedback) return { kind: 'ignored', reason: `app ${update.app} has no Git host feedback` };
  const config = app.feedback;
  const deadLetter = async (reason: string, status?: number): Promise<FeedbackOutcome> => {
    await deps.deadLetters.add({ eventId: event.id, eventType: event.type, app: update.app, runId: update.runId, reason, ...(status !== undefined ? { status } : {}), at: now(), event });
    return { kind: 'dead-lettered', reason };
  };
  if (config.kind === 'deployments' && !update.environment) return { kind: 'ignored', reason: 'deployments are reported per environment' };

  // GitLab deployments name the branch deployed: read the run for it.
  const needsRef = config.kind === 'deployments' && config.provider === 'gitlab';
  const run = update.commit && isFinalState(update.state) && !needsRef ? undefined : await deps.run(update.app, update.runId);
  const commit = update.commit ?? run?.commit;
  if (!commit) return deadLetter(`run ${update.runId} of ${update.app} not found: no commit to report on`);
  if (run && !isFinalState(update.state)) {
    const current = update.environment ? run.environments[update.environment]?.status : run.status;
    if (current && finalFromRecord(update.environment, { status: current })) return { kind: 'ignored', reason: `stale: ${update.environment ?? 'the run'} already ${current}` };
  }
  const repository = feedbackRepository(config, app.repoUrl);
  if (!repository) return deadLetter(`cannot tell the ${config.provider} repository from ${app.repoUrl}: set feedback.repository`);
  let token: string;
  try {
    token = await deps.token(update.app, config);
  } catch (err) {
    return deadLetter((err as Error).message);
  }
  const target: FeedbackTarget = {
    provider: config.provider,
    kind: config.kind,
    baseUrl: (config.baseUrl ?? DEFAULT_BASE_URLS[config.provider]).replace(/\/+$/, ''),
    repository,
    token,
  };
  const report = (u: FeedbackUpdate) => deps.reporters[config.provider].report(target, { commit, update: u, ...(run?.branch ? { ref: run.branch } : {}), ...(config.targetUrl ? { targetUrl: fill(config.targetUrl, u) } : {}) });
  try {
    await report(update);
    if (!isFinalState(update.state)) {
      // The final event may have been handled while this one was in flight (messages are handled
      // concurrently): if the record is final now, post its final state again, so the host's
      // last word is never a stale pending.
      const after = await deps.run(update.app, update.runId);
      const scope = update.environment ? after?.environments[update.environment] : after;
      const final = scope ? finalFromRecord(update.environment, scope) : undefined;
      if (final) await report({ ...update, ...final });
    }
  } catch (err) {
    if (err instanceof FeedbackRejectedError) return deadLetter(`${config.provider} refused the update (HTTP ${err.status}): ${err.message}`.slice(0, 1000), err.status);
    throw err;
  }
  return { kind: 'reported', provider: config.provider, commit, update };
}


function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Adapts a store's NotFoundError to undefined. */
export async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}
