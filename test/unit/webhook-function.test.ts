// The webhook HTTP function with in-memory fakes of Conveyor's own ports (app index, run store,
// settings, secret registry) and the real HttpRequest class: no host, no storage. Pings need no
// durable client, so they exercise provider lookup, app selection and signature checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import functions, { type HttpRequest as Request, type HttpResponseInit } from '@azure/functions';
import type { AppRecord } from '../../shared/apps/index.js';
import { receiveWebhook, type WebhookServices } from '../../functions/http/webhook.function.js';

// @azure/functions is CommonJS: its classes come through the default export under ESM.
const SECRET = 'shop-webhook-secret';
const app: AppRecord = {
  name: 'shop',
  repoUrl: 'https://github.com/acme/shop.git',
  provider: 'github',
  branches: ['main'],
  webhookSecretSetting: 'SHOP_WEBHOOK_SECRET',
  pipelinePath: '.conveyor/pipeline.yaml',
  createdAt: '2026-11-30T00:00:00.000Z',
  updatedAt: '2026-11-30T00:00:00.000Z',
};

function fakes(): WebhookServices & { redacted: string[] } {
  const redacted: string[] = [];
  const services: WebhookServices & { redacted: string[] } = {
    redacted,
    settings: { webhookSecrets: (name) => (name === 'SHOP_WEBHOOK_SECRET' ? [SECRET] : []) },
    secrets: {
      add(value) {
        if (value) redacted.push(value);
        return services.secrets as never;
      },
    },
    runs: { create: async () => assert.fail('a ping creates no run') },
    appIndex: { find: async (urls) => (urls.some((u) => u.includes('acme/shop')) ? [app] : []) },
  };
  return services;
}

function ping(provider: string, secret = SECRET): Request {
  const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1, repository: { full_name: 'acme/shop', html_url: 'https://github.com/acme/shop', clone_url: 'https://github.com/acme/shop.git' } });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return new functions.HttpRequest({
    url: `http://127.0.0.1/api/webhooks/${provider}`,
    method: 'POST',
    params: { provider },
    headers: { 'content-type': 'application/json', 'x-github-event': 'ping', 'x-github-delivery': 'd-1', 'x-hub-signature-256': signature },
    body: { string: body },
  });
}

async function json(response: HttpResponseInit): Promise<Record<string, unknown>> {
  if (response.jsonBody !== undefined) return response.jsonBody as Record<string, unknown>;
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

const context = () => new functions.InvocationContext({ functionName: 'webhook', invocationId: 'test' });

for (const provider of ['github', 'GitHub', 'GITHUB']) {
  test(`a signed ping to /api/webhooks/${provider} finds the app registered for github`, async () => {
    const services = fakes();
    const response = await receiveWebhook(services)(ping(provider), context());
    assert.equal(response.status, 200, JSON.stringify(await json(response)));
    assert.deepEqual(await json(response), { status: 'pong', apps: ['shop'] });
    assert.deepEqual(services.redacted, [SECRET], 'the secret joins the redaction list');
  });
}

test('a ping signed with the wrong secret is refused (401) whatever the case of the provider', async () => {
  const response = await receiveWebhook(fakes())(ping('GitHub', 'not-the-secret'), context());
  assert.equal(response.status, 401);
});

test('an unknown provider is 404 naming the supported ones', async () => {
  const response = await receiveWebhook(fakes())(ping('bitbucket'), context());
  assert.equal(response.status, 404);
  assert.match(String((await json(response)).detail), /supported: github, gitlab, azure-devops/);
});
