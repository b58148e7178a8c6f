// The gitFeedback trigger's handler with in-memory fakes of Conveyor's ports and the real
// sealed-secrets keys: the token comes from the CONVEYOR_FEEDBACK_* setting the registration
// names or from a value sealed for the app (and joins the redaction list); an unset setting or
// a token sealed for another app is dead-lettered with the reason (the message on the
// subscription's dead-letter queue, through the settlement actions); a host's transient fault
// propagates so the trigger abandons the message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import functions from '@azure/functions';
import { generateX25519Identity } from 'age-encryption';
import { reportToGitHost } from '../../functions/events/git-feedback.function.js';
import type { Services } from '../../functions/composition-root.js';
import { readSettings } from '../../shared/config/settings.js';
import { NotFoundError } from '../../shared/errors.js';
import { eventsFromRunPatch } from '../../shared/events/index.js';
import { feedbackConfigSchema, type FeedbackDeadLetter, type FeedbackPost, type FeedbackTarget } from '../../shared/feedback/index.js';
import { SealedSecrets, SecretRegistry } from '../../shared/secrets/index.js';
import type { ServiceBusReceivedMessage } from '@azure/service-bus';

const T = '2026-11-30T03:00:00.000Z';
const SHA = 'c'.repeat(40);

async function handler(feedback: unknown, options: { fail?: Error } = {}) {
  const sealed = new SealedSecrets([await generateX25519Identity()]);
  const posts: { target: FeedbackTarget; post: FeedbackPost }[] = [];
  const deadLetters: FeedbackDeadLetter[] = [];
  const secrets = new SecretRegistry();
  const config = feedbackConfigSchema.parse(typeof feedback === 'function' ? await (feedback as (s: SealedSecrets) => Promise<unknown>)(sealed) : feedback);
  const app = { name: 'shop', repoUrl: 'https://github.com/acme/shop.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'S', pipelinePath: 'x', createdAt: T, updatedAt: T, feedback: config };
  const run = { app: 'shop', runId: 'r1', status: 'Running', commit: SHA, stages: {}, environments: { prod: { status: 'Succeeded' } }, createdAt: T, updatedAt: T };
  const reporter = {
    async report(target: FeedbackTarget, post: FeedbackPost) {
      if (options.fail) throw options.fail;
      posts.push({ target, post });
    },
  };
  const services = {
    apps: { get: async (name: string) => (name === 'shop' ? { value: app, etag: '1' } : Promise.reject(new NotFoundError('no'))) },
    runs: { get: async () => ({ value: run, etag: '1' }) },
    settings: readSettings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', CONVEYOR_FEEDBACK_GITHUB: 'ghs_fromTheSetting000001' }),
    sealed,
    secrets,
    gitFeedback: { reporters: { github: reporter, gitlab: reporter, 'azure-devops': reporter }, deadLetters: { add: async (l: FeedbackDeadLetter) => void deadLetters.push(l) } },
  } as unknown as Pick<Services, 'apps' | 'runs' | 'settings' | 'sealed' | 'secrets' | 'gitFeedback'>;
  const handle = reportToGitHost(services);
  const event = eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Succeeded', revision: 1 } } }, T)[0]!;
  const context = new functions.InvocationContext({ functionName: 'gitFeedback', invocationId: 'i1', triggerMetadata: { messageId: event.id } });
  // The settlement actions the extension hands an SDK-bound trigger, recorded.
  const settled: string[][] = [];
  const message = { body: event, messageId: event.id, lockToken: '00000000-0000-0000-0000-000000000001' } as unknown as ServiceBusReceivedMessage;
  const actions = {
    complete: async (m: ServiceBusReceivedMessage) => void settled.push(['complete', String(m.messageId)]),
    abandon: async (m: ServiceBusReceivedMessage) => void settled.push(['abandon', String(m.messageId)]),
    deadletter: async (m: ServiceBusReceivedMessage, _p?: Uint8Array, reason?: { value: string }, description?: { value: string }) => void settled.push(['deadletter', String(m.messageId), reason?.value ?? '', description?.value ?? '']),
  };
  return { run: () => handle({ messages: message, actions }, context), posts, deadLetters, secrets, settled, eventId: event.id };
}

test('the token of a CONVEYOR_FEEDBACK_* setting is used and joins the redaction list', async () => {
  const h = await handler({ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB' });
  await h.run();
  assert.equal(h.posts.length, 1);
  assert.equal(h.posts[0]!.target.token, 'ghs_fromTheSetting000001');
  assert.equal(h.secrets.redact('token ghs_fromTheSetting000001 leaked'), 'token *** leaked');
  assert.deepEqual(h.settled, [['complete', h.eventId]], 'a reported event completes its message');
});

test('a token sealed for the app is opened with the installation key', async () => {
  const h = await handler(async (sealed: SealedSecrets) => ({ provider: 'github', sealedToken: await sealed.seal('shop', 'ghs_sealedForShop0000001') }));
  await h.run();
  assert.equal(h.posts[0]!.target.token, 'ghs_sealedForShop0000001');
});

test('an unset setting or a token sealed for another app is dead-lettered with the reason, nothing is posted', async () => {
  const unset = await handler({ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_MISSING' });
  await unset.run();
  assert.equal(unset.posts.length, 0);
  assert.equal(unset.deadLetters[0]!.reason, 'setting CONVEYOR_FEEDBACK_MISSING (feedback.tokenSetting) is not set');
  assert.deepEqual(unset.settled, [['deadletter', unset.eventId, 'feedback-refused', 'setting CONVEYOR_FEEDBACK_MISSING (feedback.tokenSetting) is not set']], 'the message is dead-lettered with the reason');
  const other = await handler(async (sealed: SealedSecrets) => ({ provider: 'github', sealedToken: await sealed.seal('other-app', 'ghs_notForShop') }));
  await other.run();
  assert.equal(other.posts.length, 0);
  assert.match(other.deadLetters[0]!.reason, /^sealed secret feedback\.sealedToken does not open/);
});

test('a transient host fault propagates, so the trigger abandons the message', async () => {
  const h = await handler({ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB' }, { fail: new Error('HTTP 503: GitHub: unavailable') });
  await assert.rejects(h.run(), /HTTP 503/);
  assert.equal(h.deadLetters.length, 0);
  assert.deepEqual(h.settled, [], 'left to the host, which abandons what the function did not settle');
});
