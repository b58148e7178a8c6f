// Git host feedback, the pure parts and the subscriber's rules with in-memory fakes of its
// ports: which event means which state on each host, the registration field, the repository
// derived from repoUrl, stale and redelivered events, dead-lettering with the reason, transient
// faults thrown for the trigger to retry, and the git-feedback subscription's rules (emulator
// topology and infra/main.json) listing exactly the types the mapping reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventsFromDeployment, eventsFromRunPatch, type CloudEvent } from '../../shared/events/index.js';
import { appInputSchema, type AppRecord } from '../../shared/apps/app-record.schema.js';
import {
  AZURE_DEVOPS_STATE,
  deliverFeedback,
  FEEDBACK_EVENT_TYPES,
  FEEDBACK_SUBSCRIPTION,
  FeedbackRejectedError,
  feedbackConfigSchema,
  feedbackRepository,
  feedbackUpdateFor,
  GITHUB_DEPLOYMENT_STATE,
  GITHUB_STATUS_STATE,
  GITLAB_STATE,
  classifyFailure,
  type FeedbackDeadLetter,
  type FeedbackPost,
  type FeedbackSubscriberDeps,
  type FeedbackTarget,
} from '../../shared/feedback/index.js';
import type { RunRecord } from '../../shared/domain/run.js';

const T = '2026-11-30T03:00:00.000Z';
const SHA = 'a'.repeat(40);

test('each reported event type maps to one state of the run or of one environment', () => {
  const rows: [CloudEvent, string | undefined, string][] = [
    [eventsFromRunPatch('shop', 'r1', { status: 'Running', commit: SHA }, T)[0]!, undefined, 'running'],
    [eventsFromRunPatch('shop', 'r1', { status: 'Succeeded' }, T)[0]!, undefined, 'success'],
    [eventsFromRunPatch('shop', 'r1', { status: 'Failed', reason: 'tests broke' }, T)[0]!, undefined, 'failure'],
    [eventsFromRunPatch('shop', 'r1', { status: 'Errored' }, T)[0]!, undefined, 'error'],
    [eventsFromRunPatch('shop', 'r1', { status: 'Aborted' }, T)[0]!, undefined, 'canceled'],
    [eventsFromRunPatch('shop', 'r1', { status: 'Superseded' }, T)[0]!, undefined, 'canceled'],
    [eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Running' } } }, T)[0]!, 'prod', 'running'],
    [eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Succeeded', revision: 3 } } }, T)[0]!, 'prod', 'success'],
    [eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Failed', reason: 'verify: /healthz 500' } } }, T)[0]!, 'prod', 'failure'],
    [eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Errored' } } }, T)[0]!, 'prod', 'error'],
    [eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Aborted' } } }, T)[0]!, 'prod', 'canceled'],
    [eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Superseded' } } }, T)[0]!, 'prod', 'canceled'],
    [eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Skipped' } } }, T)[0]!, 'prod', 'canceled'],
  ];
  for (const [event, environment, state] of rows) {
    const u = feedbackUpdateFor(event);
    assert.ok(u, event.type);
    assert.equal(u.state, state, event.type);
    assert.equal(u.environment, environment, event.type);
    assert.equal(u.eventId, event.id);
    assert.ok(u.description.length <= 140);
  }
  const running = feedbackUpdateFor(rows[0]![0])!;
  assert.equal(running.commit, SHA, 'run events carry the commit when the patch had it');
  assert.equal(feedbackUpdateFor(rows[2]![0])!.description, 'failed: tests broke');
  assert.equal(feedbackUpdateFor(rows[7]![0])!.description, 'deployed and verified (revision 3)');
});

test('approval.requested means pending on the environment; ledger and approval-decided events are not reported', () => {
  const patch = { environments: { prod: { status: 'Pending' as const, approval: { approvers: ['carol'], required: 2, until: T, waitingSince: T, decisions: [] } } } };
  const [requested] = eventsFromRunPatch('shop', 'r1', patch as never, T);
  assert.equal(requested!.type, 'dev.conveyor.approval.requested');
  assert.deepEqual({ ...feedbackUpdateFor(requested!), eventId: undefined }, {
    app: 'shop', runId: 'r1', environment: 'prod', state: 'pending', description: 'waiting for 2 approval(s)', eventId: undefined, eventType: 'dev.conveyor.approval.requested',
  });
  const [ledger] = eventsFromDeployment({ app: 'shop', environment: 'prod', runId: 'r1', revision: 1, kind: 'deploy', status: 'Succeeded', commit: SHA, digest: `sha256:${'b'.repeat(64)}`, requestedBy: { id: 'x' } }, T);
  assert.equal(feedbackUpdateFor(ledger!), undefined);
  assert.equal(FEEDBACK_EVENT_TYPES.includes('dev.conveyor.approval.decided'), false);
});

test('host state names: GitHub statuses and deployments, GitLab, Azure DevOps', () => {
  assert.deepEqual(GITHUB_STATUS_STATE, { pending: 'pending', running: 'pending', success: 'success', failure: 'failure', error: 'error', canceled: 'error' });
  assert.deepEqual(GITHUB_DEPLOYMENT_STATE, { pending: 'queued', running: 'in_progress', success: 'success', failure: 'failure', error: 'error', canceled: 'inactive' });
  assert.deepEqual(GITLAB_STATE, { pending: 'pending', running: 'running', success: 'success', failure: 'failed', error: 'failed', canceled: 'canceled' });
  assert.deepEqual(AZURE_DEVOPS_STATE, { pending: 'pending', running: 'pending', success: 'succeeded', failure: 'failed', error: 'error', canceled: 'notApplicable' });
});

test('the registration field: exactly one token source, setting names only CONVEYOR_FEEDBACK_*, deployments only on GitHub', () => {
  const ok = feedbackConfigSchema.safeParse({ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB' });
  assert.ok(ok.success);
  assert.equal(ok.data.kind, 'status');
  const cases: [unknown, string][] = [
    [{ provider: 'github' }, 'tokenSetting'],
    [{ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_A', sealedToken: '-----BEGIN AGE ENCRYPTED FILE-----\nx' }, 'tokenSetting'],
    [{ provider: 'github', tokenSetting: 'CONVEYOR_STORAGE_CONNECTION' }, 'tokenSetting'],
    [{ provider: 'github', tokenSetting: 'ghp_0123456789abcdef0123456789' }, 'tokenSetting'],
    [{ provider: 'azure-devops', kind: 'deployments', tokenSetting: 'CONVEYOR_FEEDBACK_ADO' }, 'kind'],
    [{ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_A', baseUrl: 'https://user:pw@ghe.example.com/api/v3' }, 'baseUrl'],
    [{ provider: 'azure-devops', tokenSetting: 'CONVEYOR_FEEDBACK_A', repository: 'org/repo' }, 'repository'],
    [{ provider: 'bitbucket', tokenSetting: 'CONVEYOR_FEEDBACK_A' }, 'provider'],
    [{ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_A', extra: 1 }, ''],
  ];
  for (const [input, path] of cases) {
    const r = feedbackConfigSchema.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    if (path) assert.ok(r.error!.issues.some((i) => i.path.join('.') === path), `${JSON.stringify(input)}: ${JSON.stringify(r.error!.issues)}`);
  }
  const app = appInputSchema.safeParse({ name: 'shop', repoUrl: 'https://github.com/acme/shop.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'SHOP_SECRET', feedback: { provider: 'github', kind: 'deployments', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB' } });
  assert.ok(app.success, JSON.stringify(app.error?.issues));
  assert.equal(app.data.feedback?.kind, 'deployments');
  assert.ok(feedbackConfigSchema.safeParse({ provider: 'gitlab', kind: 'deployments', tokenSetting: 'CONVEYOR_FEEDBACK_GL' }).success, 'GitLab deployments are opt-in too');
});

test('the host repository comes from feedback.repository, else from the repoUrl', () => {
  const gh = feedbackConfigSchema.parse({ provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_A' });
  const gl = feedbackConfigSchema.parse({ provider: 'gitlab', tokenSetting: 'CONVEYOR_FEEDBACK_A' });
  const ado = feedbackConfigSchema.parse({ provider: 'azure-devops', tokenSetting: 'CONVEYOR_FEEDBACK_A' });
  assert.equal(feedbackRepository(gh, 'https://github.com/acme/shop.git'), 'acme/shop');
  assert.equal(feedbackRepository(gh, 'git@github.com:acme/shop.git'), 'acme/shop');
  assert.equal(feedbackRepository(gh, 'file:///srv/git/shop'), undefined);
  assert.equal(feedbackRepository({ ...gh, repository: 'other/thing' }, 'file:///srv/git/shop'), 'other/thing');
  assert.equal(feedbackRepository(gl, 'https://gitlab.com/group/sub/shop.git'), 'group/sub/shop');
  assert.equal(feedbackRepository(ado, 'https://dev.azure.com/org/proj/_git/shop'), 'org/proj/shop');
});

test('a host answer is classified: 4xx other than 408/429 is permanent, the rest transient', () => {
  for (const s of [400, 401, 403, 404, 409, 422]) assert.ok(classifyFailure(s, 'x') instanceof FeedbackRejectedError, String(s));
  for (const s of [408, 429, 500, 502, 503, undefined]) assert.ok(!(classifyFailure(s, 'x') instanceof FeedbackRejectedError), String(s));
});

function world(options: { feedback?: unknown; run?: Partial<RunRecord>; fail?: Error } = {}) {
  const posts: { target: FeedbackTarget; post: FeedbackPost }[] = [];
  const deadLetters: FeedbackDeadLetter[] = [];
  const app = {
    name: 'shop',
    repoUrl: 'https://github.com/acme/shop.git',
    provider: 'github',
    branches: ['main'],
    webhookSecretSetting: 'S',
    pipelinePath: 'conveyor.yaml',
    createdAt: T,
    updatedAt: T,
    ...(options.feedback === null ? {} : { feedback: feedbackConfigSchema.parse(options.feedback ?? { provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB' }) }),
  } as AppRecord;
  const run = { app: 'shop', runId: 'r1', status: 'Running', commit: SHA, stages: {}, environments: {}, createdAt: T, updatedAt: T, ...options.run } as RunRecord;
  const reporter = {
    async report(target: FeedbackTarget, post: FeedbackPost) {
      if (options.fail) throw options.fail;
      posts.push({ target, post });
    },
  };
  const deps: FeedbackSubscriberDeps = {
    app: async (name) => (name === 'shop' ? app : undefined),
    run: async (_a, runId) => (runId === 'r1' ? run : undefined),
    token: async (_app, config) => {
      if (config.tokenSetting === 'CONVEYOR_FEEDBACK_GITHUB') return 'tok';
      throw new Error(`setting ${config.tokenSetting} (feedback.tokenSetting) is not set`);
    },
    reporters: { github: reporter, gitlab: reporter, 'azure-devops': reporter },
    deadLetters: { add: async (l) => void deadLetters.push(l) },
    now: () => T,
  };
  return { deps, posts, deadLetters };
}

const deployed = () => eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Succeeded', revision: 2 } } }, T)[0]!;
const promoting = () => eventsFromRunPatch('shop', 'r1', { environments: { prod: { status: 'Running' } } }, T)[0]!;

test('an environment event is posted on the run record\'s commit, to the repository from repoUrl, with the token; a redelivery posts the same again', async () => {
  const w = world();
  const first = await deliverFeedback(w.deps, deployed());
  const again = await deliverFeedback(w.deps, JSON.stringify(deployed()));
  assert.equal(first.kind, 'reported');
  assert.equal(again.kind, 'reported');
  assert.equal(w.posts.length, 2);
  assert.deepEqual(w.posts[0], w.posts[1]);
  assert.deepEqual(w.posts[0]!.target, { provider: 'github', kind: 'status', baseUrl: 'https://api.github.com', repository: 'acme/shop', token: 'tok' });
  assert.equal(w.posts[0]!.post.commit, SHA);
  assert.equal(w.posts[0]!.post.update.state, 'success');
});

test('a pending/running update for an environment the run record shows finished is dropped as stale', async () => {
  const w = world({ run: { environments: { prod: { status: 'Succeeded' } } } });
  const outcome = await deliverFeedback(w.deps, promoting());
  assert.deepEqual(outcome, { kind: 'ignored', reason: 'stale: prod already Succeeded' });
  assert.equal(w.posts.length, 0);
  const live = world({ run: { environments: { prod: { status: 'Running' } } } });
  assert.equal((await deliverFeedback(live.deps, promoting())).kind, 'reported');
});

test('apps without feedback, unknown apps and unreported types are ignored; deployments mode ignores run events', async () => {
  assert.equal((await deliverFeedback(world({ feedback: null }).deps, deployed())).kind, 'ignored');
  const other = eventsFromRunPatch('other', 'r9', { status: 'Succeeded' }, T)[0]!;
  assert.equal((await deliverFeedback(world().deps, other)).kind, 'ignored');
  const dep = world({ feedback: { provider: 'github', kind: 'deployments', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB' } });
  assert.equal((await deliverFeedback(dep.deps, eventsFromRunPatch('shop', 'r1', { status: 'Succeeded', commit: SHA }, T)[0]!)).kind, 'ignored');
  assert.equal((await deliverFeedback(dep.deps, deployed())).kind, 'reported');
});

test('a host refusal, a missing token, an unknown repository and a malformed message are dead-lettered with the reason', async () => {
  const refused = world({ fail: new FeedbackRejectedError(422, 'GitHub: No commit found for SHA') });
  const outcome = await deliverFeedback(refused.deps, deployed());
  assert.equal(outcome.kind, 'dead-lettered');
  assert.equal(refused.deadLetters.length, 1);
  assert.equal(refused.deadLetters[0]!.status, 422);
  assert.match(refused.deadLetters[0]!.reason, /^github refused the update \(HTTP 422\): GitHub: No commit found for SHA/);
  assert.equal(refused.deadLetters[0]!.eventId, deployed().id);

  const noToken = world({ feedback: { provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_UNSET' } });
  assert.equal((await deliverFeedback(noToken.deps, deployed())).kind, 'dead-lettered');
  assert.match(noToken.deadLetters[0]!.reason, /CONVEYOR_FEEDBACK_UNSET .* is not set/);

  const gitlab = world({ feedback: { provider: 'gitlab', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB' } });
  assert.equal((await deliverFeedback(gitlab.deps, deployed())).kind, 'reported', 'gitlab repository derived from a github.com URL path');

  const malformed = world();
  const bad = await deliverFeedback(malformed.deps, { hello: 'world' }, 'msg-7');
  assert.equal(bad.kind, 'dead-lettered');
  assert.equal(malformed.deadLetters[0]!.eventId, 'msg-7');
  assert.match(malformed.deadLetters[0]!.reason, /^not a CloudEvent: /);

  const unknownRun = world();
  const orphan = eventsFromRunPatch('shop', 'gone', { environments: { prod: { status: 'Succeeded' } } }, T)[0]!;
  assert.equal((await deliverFeedback(unknownRun.deps, orphan)).kind, 'dead-lettered');
  assert.match(unknownRun.deadLetters[0]!.reason, /run gone of shop not found/);
});

test('a transient fault (5xx, 429, network) is thrown so the trigger retries, and nothing is dead-lettered', async () => {
  const w = world({ fail: classifyFailure(503, 'GitHub: Service Unavailable') });
  await assert.rejects(deliverFeedback(w.deps, deployed()), /HTTP 503/);
  assert.equal(w.deadLetters.length, 0);
});

test('the git-feedback subscription lets through exactly the reported types, in the emulator topologies and in infra/main.json', () => {
  for (const file of ['servicebus-emulator.json', join('demo', 'servicebus-emulator.json')]) {
    const topology = JSON.parse(readFileSync(join(process.cwd(), file), 'utf8'));
    const topic = topology.UserConfig.Namespaces[0].Topics.find((t: { Name: string }) => t.Name === 'conveyor-events');
    const sub = topic.Subscriptions.find((s: { Name: string }) => s.Name === FEEDBACK_SUBSCRIPTION);
    assert.ok(sub, `${file} declares the git-feedback subscription`);
    const emulated = sub.Rules.map((r: any) => {
      assert.equal(r.Properties.FilterType, 'Correlation');
      return r.Properties.CorrelationFilter.Properties.type;
    });
    assert.deepEqual([...emulated].sort(), [...FEEDBACK_EVENT_TYPES].sort(), file);
  }
  const infra = JSON.parse(readFileSync(join(process.cwd(), 'infra', 'main.json'), 'utf8'));
  assert.equal(infra.variables.feedbackSubscriptionName, FEEDBACK_SUBSCRIPTION);
  assert.deepEqual([...infra.variables.feedbackEventTypes].sort(), [...FEEDBACK_EVENT_TYPES].sort());
  const types = infra.resources.map((r: { type: string }) => r.type);
  assert.ok(types.includes('Microsoft.ServiceBus/namespaces/topics/subscriptions'));
  const rules = infra.resources.find((r: { type: string }) => r.type === 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules');
  assert.equal(rules.properties.filterType, 'CorrelationFilter');
  assert.equal(rules.copy.count, "[length(variables('feedbackEventTypes'))]");
});

test('a running update that raced the final one is followed by the record\'s final state, so the host ends on it', async () => {
  const w = world({ run: { environments: { prod: { status: 'Running' } } } });
  let reads = 0;
  const racing: FeedbackSubscriberDeps = {
    ...w.deps,
    // First read (before posting): still running. Second (after posting): the final event won the race.
    run: async () => ({ app: 'shop', runId: 'r1', status: 'Running', commit: SHA, stages: {}, createdAt: T, updatedAt: T, environments: { prod: { status: reads++ === 0 ? 'Running' : 'Failed', reason: 'verify failed' } } }) as RunRecord,
  };
  assert.equal((await deliverFeedback(racing, promoting())).kind, 'reported');
  assert.deepEqual(w.posts.map((p) => [p.post.update.environment, p.post.update.state, p.post.update.description]), [
    ['prod', 'running', 'promoting'],
    ['prod', 'failure', 'deployment or verification failed: verify failed'],
  ]);
});
