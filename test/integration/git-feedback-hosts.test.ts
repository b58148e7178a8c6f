// The Git host reporters with the real client libraries (@octokit/rest, @gitbeaker/rest) and
// fetch, against protocol-level fakes on 127.0.0.1 (test/support/fake-git-hosts) that check
// paths, methods, JSON bodies, auth header forms and state names as each host documents them:
// commit statuses on GitHub, GitLab and Azure DevOps, GitHub deployments found again on
// redelivery, permanent refusals (4xx) versus transient faults (5xx, 429).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventsFromRunPatch } from '../../shared/events/index.js';
import {
  AzureDevOpsReporter,
  feedbackUpdateFor,
  FeedbackRejectedError,
  GitHubReporter,
  GitLabReporter,
  type FeedbackPost,
  type FeedbackTarget,
} from '../../shared/feedback/index.js';
import { startFakeGitHub, type FakeGitHub } from '../support/fake-git-hosts/fake-github.js';
import { startFakeGitLab, type FakeGitLab } from '../support/fake-git-hosts/fake-gitlab.js';
import { startFakeAzureDevOps, type FakeAzureDevOps } from '../support/fake-git-hosts/fake-azure-devops.js';

const T = '2026-11-30T03:00:00.000Z';
const SHA = '0123456789abcdef0123456789abcdef01234567';
const UNKNOWN_SHA = 'f'.repeat(40);

function post(status: 'Running' | 'Succeeded' | 'Failed', environment?: string, runId = 'shop.0123456'): FeedbackPost {
  const patch = environment ? { environments: { [environment]: { status, ...(status === 'Failed' ? { reason: 'verify: /healthz answered 500' } : {}) } } } : { status };
  const update = feedbackUpdateFor(eventsFromRunPatch('shop', runId, patch, T)[0]!)!;
  return { commit: SHA, update, targetUrl: `https://conveyor.example.com/dashboard/runs/${runId}` };
}

describe('GitHub with @octokit/rest', () => {
  let gh: FakeGitHub;
  const reporter = new GitHubReporter();
  let target: FeedbackTarget;
  before(async () => {
    gh = await startFakeGitHub({ token: 'ghs_feedback_token_1', repos: { 'acme/shop': [SHA] } });
    target = { provider: 'github', kind: 'status', baseUrl: gh.url, repository: 'acme/shop', token: 'ghs_feedback_token_1' };
  });
  after(() => gh.close());

  it('posts commit statuses per context with the documented path, auth header and body', async () => {
    await reporter.report(target, post('Running', 'prod'));
    await reporter.report(target, post('Succeeded', 'prod'));
    await reporter.report(target, post('Failed'));
    const req = gh.requests.find((r) => r.method === 'POST')!;
    assert.equal(req.path, `/repos/acme/shop/statuses/${SHA}`);
    assert.match(String(req.headers.authorization), /^(token|bearer) ghs_feedback_token_1$/i);
    assert.equal(req.headers['user-agent']?.startsWith('conveyor-git-feedback'), true);
    assert.deepEqual(req.body, { state: 'pending', context: 'conveyor/prod', description: 'promoting', target_url: 'https://conveyor.example.com/dashboard/runs/shop.0123456' });
    assert.deepEqual(gh.latest('acme/shop', SHA), { 'conveyor/prod': 'success', conveyor: 'failure' });
    assert.equal(gh.statuses('acme/shop', SHA).find((s) => s.context === 'conveyor')!.description, 'failed');
  });

  it('a bad token, an unknown repository or commit are permanent refusals with the host\'s message', async () => {
    await assert.rejects(reporter.report({ ...target, token: 'wrong' }, post('Succeeded', 'prod')), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 401 && /Bad credentials/.test(e.message));
    await assert.rejects(reporter.report({ ...target, repository: 'acme/nope' }, post('Succeeded', 'prod')), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 404);
    await assert.rejects(reporter.report(target, { ...post('Succeeded', 'prod'), commit: UNKNOWN_SHA }), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 422 && /No commit found/.test(e.message));
  });

  it('a 5xx or a 429 is transient: thrown as a plain error for the trigger to retry', async () => {
    gh.failNext({ status: 502, body: { message: 'Server Error' } });
    await assert.rejects(reporter.report(target, post('Succeeded', 'prod')), (e: unknown) => !(e instanceof FeedbackRejectedError) && /HTTP 502/.test((e as Error).message));
    gh.failNext({ status: 429, body: { message: 'API rate limit exceeded' }, headers: { 'retry-after': '1' } });
    await assert.rejects(reporter.report(target, post('Succeeded', 'prod')), (e: unknown) => !(e instanceof FeedbackRejectedError) && /HTTP 429/.test((e as Error).message));
  });

  it('deployments: one deployment per run and environment (found again on redelivery), redelivered statuses repeat harmlessly', async () => {
    const dt = { ...target, kind: 'deployments' as const };
    const promoting = post('Running', 'staging', 'shop.run2');
    await reporter.report(dt, promoting);
    await reporter.report(dt, promoting); // redelivered
    await reporter.report(dt, post('Succeeded', 'staging', 'shop.run2'));
    await reporter.report(dt, post('Succeeded', undefined, 'shop.run2')); // a run event: not a deployment
    const deployments = gh.deployments('acme/shop');
    assert.equal(deployments.length, 1);
    assert.equal(deployments[0]!.environment, 'staging');
    assert.deepEqual(deployments[0]!.payload, { runId: 'shop.run2', app: 'shop' });
    assert.deepEqual(deployments[0]!.statuses.map((s) => s.state), ['in_progress', 'in_progress', 'success']);
    const create = gh.requests.find((r) => r.method === 'POST' && r.path === '/repos/acme/shop/deployments')!;
    assert.deepEqual((create.body as any).required_contexts, [], 'Conveyor does not let other statuses block the record');
    assert.equal((create.body as any).auto_merge, false);
    await reporter.report(dt, post('Running', 'staging', 'shop.run3'));
    assert.equal(gh.deployments('acme/shop').length, 2, 'another run gets its own deployment');
  });
});

describe('GitLab with @gitbeaker/rest', () => {
  let gl: FakeGitLab;
  const reporter = new GitLabReporter();
  let target: FeedbackTarget;
  before(async () => {
    gl = await startFakeGitLab({ token: 'glpat-feedback-1', projects: { 'group/shop': { id: 42, commits: [SHA] } } });
    target = { provider: 'gitlab', kind: 'status', baseUrl: gl.url, repository: 'group/shop', token: 'glpat-feedback-1' };
  });
  after(() => gl.close());

  it('posts statuses to /api/v4/projects/:id/statuses/:sha with PRIVATE-TOKEN, name and GitLab state names', async () => {
    await reporter.report(target, post('Running', 'prod'));
    await reporter.report(target, post('Failed', 'prod'));
    await reporter.report(target, post('Succeeded'));
    const req = gl.requests.find((r) => r.method === 'POST')!;
    assert.equal(req.path, `/api/v4/projects/group%2Fshop/statuses/${SHA}`);
    assert.equal(req.headers['private-token'], 'glpat-feedback-1');
    const params = { ...Object.fromEntries(req.query), ...(req.body as object) } as Record<string, unknown>;
    assert.equal(params.state, 'running');
    assert.equal(params.name, 'conveyor/prod');
    assert.equal(params.target_url, 'https://conveyor.example.com/dashboard/runs/shop.0123456');
    assert.deepEqual(gl.latest('group/shop', SHA), { 'conveyor/prod': 'failed', conveyor: 'success' });
  });

  it('a redelivered running update meets GitLab\'s "Cannot transition" 400 and counts as already reported', async () => {
    await reporter.report(target, post('Running', 'staging'));
    await reporter.report(target, post('Running', 'staging'));
    const last = gl.requests.at(-1)!;
    assert.equal(last.status, 400, 'the fake refused the repeat the way GitLab does');
    assert.equal(gl.statuses('group/shop', SHA).filter((s) => s.name === 'conveyor/staging').length, 1);
  });

  it('a bad token or unknown project is a permanent refusal; numeric project ids work', async () => {
    await assert.rejects(reporter.report({ ...target, token: 'nope' }, post('Succeeded', 'prod')), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 401);
    await assert.rejects(reporter.report({ ...target, repository: 'group/none' }, post('Succeeded', 'prod')), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 404);
    await reporter.report({ ...target, repository: '42' }, post('Succeeded', 'qa'));
    assert.equal(gl.latest('group/shop', SHA)['conveyor/qa'], 'success');
  });

  it('deployments: created for the environment with sha, ref, tag false and a status, then moved running -> success; redeliveries change nothing', async () => {
    const dt = { ...target, kind: 'deployments' as const };
    const seen = gl.requests.length;
    const waiting: FeedbackPost = { commit: SHA, ref: 'main', update: { app: 'shop', runId: 'shop.0123456', environment: 'prod', state: 'pending', description: 'waiting for 1 approval(s)', eventId: 'e1', eventType: 'dev.conveyor.approval.requested' } };
    await reporter.report(dt, waiting);
    await reporter.report(dt, { ...post('Running', 'prod'), ref: 'main' });
    await reporter.report(dt, { ...post('Running', 'prod'), ref: 'main' }); // redelivered
    await reporter.report(dt, { ...post('Succeeded', 'prod'), ref: 'main' });
    await reporter.report(dt, { ...post('Succeeded', 'prod'), ref: 'main' }); // redelivered
    await reporter.report(dt, { ...post('Succeeded'), ref: 'main' }); // a run event: not a deployment
    const mine = gl.requests.slice(seen);
    const writes = mine.filter((r) => r.method !== 'GET');
    assert.deepEqual(writes.map((r) => [r.method, r.path, r.status]), [
      ['POST', '/api/v4/projects/group%2Fshop/deployments', 201],
      ['PUT', `/api/v4/projects/group%2Fshop/deployments/${gl.deployments('group/shop')[0]!.id}`, 200],
      ['PUT', `/api/v4/projects/group%2Fshop/deployments/${gl.deployments('group/shop')[0]!.id}`, 200],
    ]);
    assert.deepEqual(writes[0]!.body, { environment: 'prod', sha: SHA, ref: 'main', tag: false, status: 'created' });
    assert.deepEqual([writes[1]!.body, writes[2]!.body], [{ status: 'running' }, { status: 'success' }]);
    for (const r of mine) assert.equal(r.headers['private-token'], 'glpat-feedback-1');
    const list = mine.find((r) => r.method === 'GET')!;
    assert.equal(list.path, '/api/v4/projects/group%2Fshop/deployments');
    assert.equal(list.query.get('environment'), 'prod');
    assert.deepEqual(gl.deployments('group/shop').map((d) => [d.environment, d.status, d.ref, d.tag]), [['prod', 'success', 'main', false]]);

    // An environment that failed before any other update is created failed; a later stale running is dropped by GitLab's rules, not posted.
    await reporter.report(dt, { ...post('Failed', 'staging'), ref: 'main' });
    await reporter.report(dt, { ...post('Running', 'staging'), ref: 'main' });
    assert.deepEqual(gl.deployments('group/shop').map((d) => [d.environment, d.status]), [['prod', 'success'], ['staging', 'failed']]);
    assert.ok(!gl.requests.slice(seen).some((r) => r.status >= 400), 'GitLab refused nothing');
  });

  it('deployments: a bad token is a permanent refusal', async () => {
    await assert.rejects(reporter.report({ ...target, kind: 'deployments', token: 'nope' }, post('Succeeded', 'prod')), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 401);
  });
});

describe('Azure DevOps with fetch on the documented REST API', () => {
  let ado: FakeAzureDevOps;
  const reporter = new AzureDevOpsReporter();
  let target: FeedbackTarget;
  before(async () => {
    ado = await startFakeAzureDevOps({ pat: 'ado-pat-feedback-1', repositories: { 'contoso/web/shop': [SHA] } });
    target = { provider: 'azure-devops', kind: 'status', baseUrl: ado.url, repository: 'contoso/web/shop', token: 'ado-pat-feedback-1' };
  });
  after(() => ado.close());

  it('posts statuses with api-version 7.1, Basic PAT auth and context { name, genre }', async () => {
    await reporter.report(target, post('Running', 'prod'));
    await reporter.report(target, post('Succeeded', 'prod'));
    await reporter.report(target, post('Failed'));
    const req = ado.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `/contoso/web/_apis/git/repositories/shop/commits/${SHA}/statuses`);
    assert.equal(req.query.get('api-version'), '7.1');
    assert.equal(req.headers.authorization, `Basic ${Buffer.from(':ado-pat-feedback-1').toString('base64')}`);
    assert.deepEqual(req.body, { state: 'pending', description: 'promoting', context: { name: 'prod', genre: 'conveyor' }, targetUrl: 'https://conveyor.example.com/dashboard/runs/shop.0123456' });
    assert.deepEqual(ado.latest('contoso/web/shop', SHA), { 'conveyor/prod': 'succeeded', 'conveyor/run': 'failed' });
  });

  it('a wrong PAT, an unknown repository or commit are permanent refusals; a 503 is transient', async () => {
    await assert.rejects(reporter.report({ ...target, token: 'bad' }, post('Succeeded', 'prod')), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 401);
    await assert.rejects(reporter.report({ ...target, repository: 'contoso/web/none' }, post('Succeeded', 'prod')), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 404 && /TF401019/.test(e.message));
    await assert.rejects(reporter.report(target, { ...post('Succeeded', 'prod'), commit: UNKNOWN_SHA }), (e: unknown) => e instanceof FeedbackRejectedError && e.status === 404);
    ado.failNext({ status: 503, body: { message: 'Service Unavailable' } });
    await assert.rejects(reporter.report(target, post('Succeeded', 'prod')), (e: unknown) => !(e instanceof FeedbackRejectedError) && /HTTP 503/.test((e as Error).message));
  });

  it('without credentials the host serves a sign-in page (203), which is a refusal, not a success', async () => {
    const res = await fetch(`${ado.url}/contoso/web/_apis/git/repositories/shop/commits/${SHA}/statuses?api-version=7.1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 203);
    await res.text();
  });
});
