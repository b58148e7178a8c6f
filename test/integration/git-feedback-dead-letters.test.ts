// Refused Git host feedback ends as a dead letter in blob storage (real Azurite) with the
// host's reason: the subscriber with the real GitHub reporter (@octokit/rest) against the fake
// GitHub on 127.0.0.1, which refuses a commit it does not have (422). A redelivery writes no
// second record; a transient 502 writes none and is thrown for the trigger to retry.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerClient } from '@azure/storage-blob';
import { eventsFromRunPatch } from '../../shared/events/index.js';
import { AzureDevOpsReporter, deliverFeedback, FeedbackDeadLetters, feedbackConfigSchema, GitHubReporter, GitLabReporter, type FeedbackSubscriberDeps } from '../../shared/feedback/index.js';
import type { AppRecord } from '../../shared/apps/app-record.schema.js';
import type { RunRecord } from '../../shared/domain/run.js';
import { containerClient, listAllNames, readJson } from '../../shared/storage/blob-store.js';
import { z } from 'zod';
import { withAzurite } from '../support/azurite.js';
import { startFakeGitHub, type FakeGitHub } from '../support/fake-git-hosts/fake-github.js';

const T = '2026-11-30T03:00:00.000Z';
const KNOWN = '1'.repeat(40);
const UNKNOWN = '2'.repeat(40);

let azurite: Awaited<ReturnType<typeof withAzurite>>;
let container: ContainerClient;
let github: FakeGitHub;

before(async () => {
  azurite = await withAzurite();
  container = containerClient(azurite.connectionString, 'state');
  await container.createIfNotExists();
  github = await startFakeGitHub({ token: 'ghs_deadLetterTest000001', repos: { 'acme/shop': [KNOWN] } });
});

after(async () => {
  await github?.close();
  await azurite?.dispose();
});

function deps(commit: string): FeedbackSubscriberDeps {
  const app = {
    name: 'shop', repoUrl: 'file:///srv/git/shop', provider: 'github', branches: ['main'], webhookSecretSetting: 'S', pipelinePath: 'x', createdAt: T, updatedAt: T,
    feedback: feedbackConfigSchema.parse({ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB', baseUrl: github.url, repository: 'acme/shop' }),
  } as AppRecord;
  const run = { app: 'shop', runId: 'shop.r1', status: 'Running', commit, stages: {}, environments: { prod: { status: 'Succeeded' } }, createdAt: T, updatedAt: T } as RunRecord;
  return {
    app: async () => app,
    run: async () => run,
    token: async () => 'ghs_deadLetterTest000001',
    reporters: { github: new GitHubReporter(), gitlab: new GitLabReporter(), 'azure-devops': new AzureDevOpsReporter() },
    deadLetters: new FeedbackDeadLetters(container),
  };
}

const deployed = eventsFromRunPatch('shop', 'shop.r1', { environments: { prod: { status: 'Succeeded', revision: 1 } } }, T)[0]!;

test('a 422 from GitHub is dead-lettered once, in blob storage, with the host\'s reason', async () => {
  const first = await deliverFeedback(deps(UNKNOWN), deployed);
  const again = await deliverFeedback(deps(UNKNOWN), deployed);
  assert.equal(first.kind, 'dead-lettered');
  assert.equal(again.kind, 'dead-lettered');
  const names = await listAllNames(container, 'git-feedback/dead-letters/');
  assert.deepEqual(names, [`git-feedback/dead-letters/shop/${deployed.id}.json`]);
  const { value } = await readJson(container, names[0]!, z.looseObject({ eventId: z.string(), eventType: z.string(), app: z.string(), runId: z.string(), reason: z.string(), status: z.number(), event: z.looseObject({ id: z.string() }) }));
  assert.equal(value.status, 422);
  assert.equal(value.eventType, 'dev.conveyor.environment.deployed');
  assert.equal(value.runId, 'shop.r1');
  assert.match(value.reason, /^github refused the update \(HTTP 422\): GitHub: No commit found for SHA: 2{40}/);
  assert.equal(value.event.id, deployed.id);
});

test('a 502 is not dead-lettered: it is thrown for the trigger to retry, and the retry posts', async () => {
  github.failNext({ status: 502, body: { message: 'Bad Gateway' } });
  const before = (await listAllNames(container, 'git-feedback/dead-letters/')).length;
  await assert.rejects(deliverFeedback(deps(KNOWN), deployed), /HTTP 502/);
  assert.equal((await listAllNames(container, 'git-feedback/dead-letters/')).length, before);
  assert.equal((await deliverFeedback(deps(KNOWN), deployed)).kind, 'reported');
  assert.deepEqual(github.latest('acme/shop', KNOWN), { 'conveyor/prod': 'success' });
});
