/**
 * `POST /api/webhooks/{provider}`: reads the capped body and hands the delivery to the
 * receive-push use-case (shared/use-cases/receive-push.use-case.ts), which verifies it and starts
 * one `pipeline` orchestration per app and commit; maps its outcome to the HTTP answer. It
 * answers fast and never clones or builds inline.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { KnownRuns, receivePush, type PushOutcome, type ReceivePushPorts } from '../../shared/use-cases/receive-push.use-case.js';
import { MAX_WEBHOOK_BODY_BYTES } from '../../shared/webhooks/index.js';
import type { Services } from '../composition-root.js';
import { headerRecord, readCappedBody } from './body.js';
import { errorToResponse, problem } from './problem.js';
import { runStatusUrl } from './runs.js';

/** What the webhook needs (narrow, so a test can pass in-memory fakes). */
export interface WebhookServices {
  settings: Pick<Services['settings'], 'webhookSecrets'>;
  secrets: Pick<Services['secrets'], 'add'>;
  runs: Pick<Services['runs'], 'create'>;
  appIndex: Pick<Services['appIndex'], 'find'>;
}

function toResponse(outcome: PushOutcome, request: HttpRequest, context: InvocationContext): HttpResponseInit {
  switch (outcome.kind) {
    case 'unknown-provider':
    case 'unregistered':
      return problem(404, outcome.reason);
    case 'invalid':
      return problem(400, outcome.reason);
    case 'rejected':
      return problem(401, outcome.reason);
    case 'pong':
      return { status: 200, jsonBody: { status: 'pong', ...(outcome.apps ? { apps: outcome.apps } : {}), ...(outcome.reason ? { reason: outcome.reason } : {}) } };
    case 'ignored':
      return { status: 200, jsonBody: { status: 'ignored', reason: outcome.reason, ...(outcome.runs ? { runs: outcome.runs.map((r) => withUrl(r, request)) } : {}) } };
    case 'runs': {
      context.log(`webhook ${outcome.deliveryId ?? '(no delivery id)'}: ${outcome.runs.map((a) => `${a.app}=${a.status}`).join(', ')}`);
      const statusUrl = runStatusUrl(request, outcome.runId);
      return {
        status: outcome.started ? 202 : 200,
        headers: { location: statusUrl },
        jsonBody: { status: outcome.started ? 'accepted' : 'duplicate', runId: outcome.runId, statusUrl, deliveryId: outcome.deliveryId, runs: outcome.runs.map((r) => withUrl(r, request)) },
      };
    }
  }
}

function withUrl<T extends { runId?: string }>(ack: T, request: HttpRequest): T & { statusUrl?: string } {
  return ack.runId ? { ...ack, statusUrl: runStatusUrl(request, ack.runId) } : ack;
}

/** POST /api/webhooks/{provider}, given its collaborators. */
export function receiveWebhook(services: WebhookServices) {
  const knownRuns = new KnownRuns();
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      // The durable client is built only when a run is to be started: it costs more than the rest of an ack.
      let client: df.DurableClient | undefined;
      const durable = () => (client ??= df.getClient(context));
      const ports: ReceivePushPorts = {
        runs: services.runs,
        appIndex: services.appIndex,
        webhookSecrets: (setting) => services.settings.webhookSecrets(setting),
        redact: (secret) => void services.secrets.add(secret),
        knownRuns,
        pipelines: {
          exists: async (id) => Boolean(await durable().getStatus(id).catch(() => undefined)),
          start: async (id, input) => {
            await durable().startNew('pipeline', { instanceId: id, input });
          },
        },
      };
      const outcome = await receivePush(ports, {
        provider: request.params.provider ?? '',
        body: () => readCappedBody(request, MAX_WEBHOOK_BODY_BYTES),
        headers: headerRecord(request),
      });
      return toResponse(outcome, request, context);
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
