/**
 * `POST /api/webhooks/{provider}`: verifies a push webhook, selects the registered app(s) by
 * repository, and starts one `pipeline` orchestration per app and commit. It answers fast and
 * never clones or builds inline. The run's instance id derives from app + commit, so a
 * redelivered webhook or a second push of the same commit starts nothing new.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { AppRecord } from '../../shared/apps/index.js';
import { tracksBranch } from '../../shared/apps/index.js';
import { startRun } from '../../shared/use-cases/start-run.use-case.js';
import { getProvider, MAX_WEBHOOK_BODY_BYTES, PROVIDER_NAMES, type PushEvent } from '../../shared/webhooks/index.js';
import { runIdFor } from '../../shared/domain/ids.js';
import type { Services } from '../composition-root.js';
import { headerRecord, readCappedBody } from './body.js';
import { errorToResponse, problem } from './problem.js';
import { runStatusUrl } from './runs.js';

/** One app's outcome for a delivery. */
interface RunAck {
  app: string;
  status: 'started' | 'duplicate' | 'ignored';
  runId?: string;
  statusUrl?: string;
  reason?: string;
}

/** What the webhook needs (narrow, so a test can pass in-memory fakes). */
export interface WebhookServices {
  settings: Pick<Services['settings'], 'webhookSecrets'>;
  secrets: Pick<Services['secrets'], 'add'>;
  runs: Pick<Services['runs'], 'create'>;
  appIndex: Pick<Services['appIndex'], 'find'>;
}

/** The app's configured webhook secret(s): the setting may hold several, comma-separated, during rotation. */
function secretsOf(services: WebhookServices, app: AppRecord): readonly string[] {
  const secrets = services.settings.webhookSecrets(app.webhookSecretSetting);
  for (const s of secrets) services.secrets.add(s);
  return secrets;
}

/**
 * Run ids this process started or saw already exist: a redelivery is answered without a call
 * to the durable backend. Bounded; the durable status stays the source of truth.
 */
class KnownRuns {
  private readonly ids = new Set<string>();
  has(runId: string): boolean {
    return this.ids.has(runId);
  }
  remember(runId: string): void {
    this.ids.add(runId);
    if (this.ids.size > 10_000) this.ids.delete(this.ids.values().next().value as string);
  }
}

async function acknowledge(services: WebhookServices, knownRuns: KnownRuns, getClient: () => df.DurableClient, request: HttpRequest, app: AppRecord, event: PushEvent): Promise<RunAck> {
  const runId = runIdFor(app.name, event.commit);
  const statusUrl = runStatusUrl(request, runId);
  const duplicate: RunAck = { app: app.name, status: 'duplicate', runId, statusUrl, reason: `commit ${event.commit.slice(0, 12)} already has run ${runId}` };
  if (knownRuns.has(runId)) return duplicate;
  // The durable client is built only when needed: it costs more than the rest of an ack.
  const client = getClient();
  const started = await startRun(
    {
      runs: services.runs,
      pipelines: {
        exists: async (id) => Boolean(await client.getStatus(id).catch(() => undefined)),
        start: async (id, input) => {
          await client.startNew('pipeline', { instanceId: id, input });
        },
      },
    },
    {
      app,
      commit: event.commit,
      branch: event.branch,
      pusher: { id: event.pusher.email ?? event.pusher.name, name: event.pusher.name },
      trigger: 'webhook',
      ...headCommitOf(event),
      requestedAt: new Date().toISOString(),
    },
  );
  knownRuns.remember(runId);
  return started.status === 'started' ? { app: app.name, status: 'started', runId, statusUrl } : duplicate;
}

/** The pushed commit's message (first 500 characters) and author, for the dashboard and CLI. Untrusted text. */
function headCommitOf(event: PushEvent): { headCommit?: { message: string; author: string } } {
  if (!event.headCommit) return {};
  return { headCommit: { message: event.headCommit.message.slice(0, 500), author: (event.headCommit.author.name || event.headCommit.author.email || '').slice(0, 200) } };
}

/** POST /api/webhooks/{provider}, given its collaborators. */
export function receiveWebhook(services: WebhookServices) {
  const knownRuns = new KnownRuns();
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const name = request.params.provider ?? '';
      const provider = getProvider(name);
      if (!provider) return problem(404, `unknown webhook provider ${JSON.stringify(name.slice(0, 40))}; supported: ${PROVIDER_NAMES.join(', ')}`);

      const body = await readCappedBody(request, MAX_WEBHOOK_BODY_BYTES);
      const headers = headerRecord(request);
      const parsed = provider.parse(body, headers);
      if (parsed.kind === 'invalid') return problem(400, `malformed ${provider.displayName} webhook: ${parsed.reason}`);

      const repository = parsed.kind === 'push' ? parsed.event.repository : parsed.kind === 'ping' ? parsed.repository : parsed.event?.repository;
      if (!repository) {
        if (parsed.kind === 'ping') return { status: 200, jsonBody: { status: 'pong', reason: 'the ping names no repository; nothing to check' } };
        return problem(400, `${provider.displayName} webhook names no repository: ${parsed.kind === 'ignored' ? parsed.reason : 'unsupported event'}`);
      }
      // Only apps registered for this provider: otherwise a GitHub HMAC key would also be
      // accepted as a GitLab token sent in the clear (the delivery format is the caller's choice).
      const candidates = (await services.appIndex.find(repository.urls)).filter((app) => app.provider === provider.name);
      if (candidates.length === 0) return problem(404, `no app is registered for repository ${repository.fullName} with provider ${provider.name}`);

      // Only apps whose secret signed this exact body are acted on (another app sharing the
      // repository with a different secret is not).
      const verified: AppRecord[] = [];
      let lastReason = '';
      for (const app of candidates) {
        const result = await provider.verify(body, headers, secretsOf(services, app));
        if (result.ok) verified.push(app);
        else lastReason = result.reason;
      }
      if (verified.length === 0) return problem(401, `webhook signature rejected: ${lastReason}`);

      if (parsed.kind === 'ping') return { status: 200, jsonBody: { status: 'pong', apps: verified.map((a) => a.name) } };
      if (parsed.kind === 'ignored') {
        if (parsed.code === 'unsupported-event') return problem(400, parsed.reason);
        return { status: 200, jsonBody: { status: 'ignored', reason: parsed.reason } };
      }

      const event = parsed.event;
      let client: df.DurableClient | undefined;
      const acks: RunAck[] = [];
      for (const app of verified) {
        if (!event.branch || !tracksBranch(app, event.branch)) {
          acks.push({ app: app.name, status: 'ignored', reason: `branch ${event.branch ?? event.ref} is not tracked by ${app.name} (tracks ${app.branches.join(', ')})` });
          continue;
        }
        acks.push(await acknowledge(services, knownRuns, () => (client ??= df.getClient(context)), request, app, event));
      }
      const started = acks.filter((a) => a.status === 'started');
      const first = started[0] ?? acks.find((a) => a.status === 'duplicate');
      if (!first) return { status: 200, jsonBody: { status: 'ignored', reason: acks.map((a) => a.reason).join('; '), runs: acks } };
      context.log(`webhook ${event.deliveryId ?? '(no delivery id)'}: ${acks.map((a) => `${a.app}=${a.status}`).join(', ')}`);
      return {
        status: started.length > 0 ? 202 : 200,
        headers: first.statusUrl ? { location: first.statusUrl } : {},
        jsonBody: { status: started.length > 0 ? 'accepted' : 'duplicate', runId: first.runId, statusUrl: first.statusUrl, deliveryId: event.deliveryId, runs: acks },
      };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
