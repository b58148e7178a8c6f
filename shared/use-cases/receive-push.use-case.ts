/**
 * A push delivery from a Git host, from raw bytes to started runs: find the provider, parse,
 * select the apps registered for the repository with this provider, keep those whose secret
 * signed this exact body, then start one run per app whose branch is tracked (app + commit, so
 * a redelivery starts nothing). Any adapter that receives deliveries (the HTTP webhook today; a
 * queue of relayed deliveries, a replay tool) calls this and maps the outcome to its answer.
 */
import type { AppRecord } from '../apps/app-record.schema.js';
import { tracksBranch } from '../apps/app-record.schema.js';
import { runIdFor } from '../domain/ids.js';
import type { HeadCommit } from '../domain/run.js';
import { getProvider, PROVIDER_NAMES, type PushEvent, type WebhookHeaders } from '../webhooks/index.js';
import { startRun, type StartRunPorts } from './start-run.use-case.js';

/** One app's outcome for a delivery. */
export interface PushRunAck {
  app: string;
  status: 'started' | 'duplicate' | 'ignored';
  runId?: string;
  reason?: string;
}

/** What a delivery came to: the adapter maps each kind to its own answer (HTTP: the status in brackets). */
export type PushOutcome =
  /** No such provider (404). */
  | { kind: 'unknown-provider'; reason: string }
  /** Not a delivery the provider understands (400). */
  | { kind: 'invalid'; reason: string }
  /** A ping: answered, nothing started (200). `apps` when the ping named a repository and was signed for them. */
  | { kind: 'pong'; apps?: string[]; reason?: string }
  /** No app is registered for the repository with this provider (404). */
  | { kind: 'unregistered'; reason: string }
  /** No registered app's secret signed the body (401). */
  | { kind: 'rejected'; reason: string }
  /** Signed, but nothing to do: an untracked branch, a tag push, a branch deletion (200). */
  | { kind: 'ignored'; reason: string; runs?: PushRunAck[] }
  /** Runs started (202) or all already there (200). `runId` is the first started (else duplicate) run. */
  | { kind: 'runs'; started: boolean; runId: string; runs: PushRunAck[]; deliveryId?: string };

/** What receiving a push needs. */
export interface ReceivePushPorts extends StartRunPorts {
  /** The registered apps whose repository is one of `urls`. */
  appIndex: { find(urls: readonly string[]): Promise<AppRecord[]> };
  /** The webhook secret(s) held by a setting (several during a rotation). */
  webhookSecrets(setting: string): readonly string[];
  /** Registers a secret for redaction from logs. */
  redact(secret: string): void;
  /** Run ids already known to exist: a redelivery is answered without asking the durable backend. */
  knownRuns?: KnownRuns;
  now?: () => Date;
}

/** The delivery as received. */
export interface PushDelivery {
  /** The provider named in the route (any letter case). */
  provider: string;
  /** Reads the raw body (only once the provider is known, so an unknown one is refused before any upload is read). */
  body: () => Promise<Buffer>;
  headers: WebhookHeaders;
}

/**
 * Run ids this process started or saw already exist. Bounded (oldest forgotten first); the
 * durable status stays the source of truth.
 */
export class KnownRuns {
  private readonly ids = new Set<string>();

  /** Keeps at most `limit` ids. */
  constructor(private readonly limit = 10_000) {}

  /** Whether `runId` is known to exist. */
  has(runId: string): boolean {
    return this.ids.has(runId);
  }

  /** Notes that `runId` exists. */
  remember(runId: string): void {
    this.ids.add(runId);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value as string);
  }
}

/** The pushed commit's message (first 500 characters) and author, for the dashboard and CLI. Untrusted text. */
export function headCommitOf(event: PushEvent): { headCommit?: HeadCommit } {
  if (!event.headCommit) return {};
  return { headCommit: { message: event.headCommit.message.slice(0, 500), author: (event.headCommit.author.name || event.headCommit.author.email || '').slice(0, 200) } };
}

async function startFor(ports: ReceivePushPorts, app: AppRecord, event: PushEvent): Promise<PushRunAck> {
  const runId = runIdFor(app.name, event.commit);
  const duplicate: PushRunAck = { app: app.name, status: 'duplicate', runId, reason: `commit ${event.commit.slice(0, 12)} already has run ${runId}` };
  if (ports.knownRuns?.has(runId)) return duplicate;
  const started = await startRun(ports, {
    app,
    commit: event.commit,
    branch: event.branch,
    pusher: { id: event.pusher.email ?? event.pusher.name, name: event.pusher.name },
    trigger: 'webhook',
    ...headCommitOf(event),
    requestedAt: (ports.now?.() ?? new Date()).toISOString(),
  });
  ports.knownRuns?.remember(runId);
  return started.status === 'started' ? { app: app.name, status: 'started', runId } : duplicate;
}

/** Verifies a push delivery and starts the runs it asks for; says what happened. */
export async function receivePush(ports: ReceivePushPorts, delivery: PushDelivery): Promise<PushOutcome> {
  const provider = getProvider(delivery.provider);
  if (!provider) return { kind: 'unknown-provider', reason: `unknown webhook provider ${JSON.stringify(delivery.provider.slice(0, 40))}; supported: ${PROVIDER_NAMES.join(', ')}` };
  const body = await delivery.body();
  const { headers } = delivery;
  const parsed = provider.parse(body, headers);
  if (parsed.kind === 'invalid') return { kind: 'invalid', reason: `malformed ${provider.displayName} webhook: ${parsed.reason}` };

  const repository = parsed.kind === 'push' ? parsed.event.repository : parsed.kind === 'ping' ? parsed.repository : parsed.event?.repository;
  if (!repository) {
    if (parsed.kind === 'ping') return { kind: 'pong', reason: 'the ping names no repository; nothing to check' };
    return { kind: 'invalid', reason: `${provider.displayName} webhook names no repository: ${parsed.kind === 'ignored' ? parsed.reason : 'unsupported event'}` };
  }
  // Only apps registered for this provider: otherwise a GitHub HMAC key would also be accepted
  // as a GitLab token sent in the clear (the delivery format is the caller's choice).
  const candidates = (await ports.appIndex.find(repository.urls)).filter((app) => app.provider === provider.name);
  if (candidates.length === 0) return { kind: 'unregistered', reason: `no app is registered for repository ${repository.fullName} with provider ${provider.name}` };

  // Only apps whose secret signed this exact body are acted on (another app sharing the
  // repository with a different secret is not).
  const verified: AppRecord[] = [];
  let lastReason = '';
  for (const app of candidates) {
    const secrets = ports.webhookSecrets(app.webhookSecretSetting);
    for (const s of secrets) ports.redact(s);
    const result = await provider.verify(body, headers, secrets);
    if (result.ok) verified.push(app);
    else lastReason = result.reason;
  }
  if (verified.length === 0) return { kind: 'rejected', reason: `webhook signature rejected: ${lastReason}` };

  if (parsed.kind === 'ping') return { kind: 'pong', apps: verified.map((a) => a.name) };
  if (parsed.kind === 'ignored') {
    if (parsed.code === 'unsupported-event') return { kind: 'invalid', reason: parsed.reason };
    return { kind: 'ignored', reason: parsed.reason };
  }

  const event = parsed.event;
  const runs: PushRunAck[] = [];
  for (const app of verified) {
    if (!event.branch || !tracksBranch(app, event.branch)) {
      runs.push({ app: app.name, status: 'ignored', reason: `branch ${event.branch ?? event.ref} is not tracked by ${app.name} (tracks ${app.branches.join(', ')})` });
      continue;
    }
    runs.push(await startFor(ports, app, event));
  }
  const started = runs.filter((a) => a.status === 'started');
  const first = started[0] ?? runs.find((a) => a.status === 'duplicate');
  if (!first?.runId) return { kind: 'ignored', reason: runs.map((a) => a.reason).join('; '), runs };
  return { kind: 'runs', started: started.length > 0, runId: first.runId, runs, ...(event.deliveryId ? { deliveryId: event.deliveryId } : {}) };
}
