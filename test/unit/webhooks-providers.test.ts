// Table-driven tests of the three webhook providers with realistic payloads (shapes taken from
// the providers' documented examples, trimmed of fields Conveyor does not read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { getProvider, isProviderName, PROVIDER_NAMES } from '../../shared/webhooks/provider-registry.js';
import { MAX_WEBHOOK_BODY_BYTES, type ParseResult, type WebhookHeaders } from '../../shared/webhooks/webhook-provider.js';

const AFTER = '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c';
const BEFORE = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const ZERO = '0000000000000000000000000000000000000000';
const SECRET = 'It’s a Secret to Everybody';

// ---------- GitHub ----------

function githubPush(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ref: 'refs/heads/main',
    before: BEFORE,
    after: AFTER,
    created: false,
    deleted: false,
    forced: false,
    base_ref: null,
    compare: `https://github.com/acme/shop/compare/${BEFORE.slice(0, 12)}...${AFTER.slice(0, 12)}`,
    commits: [{ id: AFTER, message: 'Fix checkout', author: { name: 'Mona Lisa', email: 'mona@example.com', username: 'mona' } }],
    head_commit: {
      id: AFTER,
      tree_id: 'f9d2a07e9488b91af2641b26b9407fe22a451433',
      distinct: true,
      message: 'Fix checkout\n\nSee #12; rm -rf / `whoami`',
      timestamp: '2026-11-27T10:00:00Z',
      author: { name: 'Mona Lisa', email: 'mona@example.com', username: 'mona' },
      committer: { name: 'GitHub', email: 'noreply@github.com', username: 'web-flow' },
    },
    repository: {
      id: 186853002,
      node_id: 'MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=',
      name: 'shop',
      full_name: 'acme/shop',
      private: true,
      owner: { name: 'acme', login: 'acme' },
      html_url: 'https://github.com/acme/shop',
      url: 'https://github.com/acme/shop',
      git_url: 'git://github.com/acme/shop.git',
      ssh_url: 'git@github.com:acme/shop.git',
      clone_url: 'https://github.com/acme/shop.git',
      default_branch: 'main',
    },
    pusher: { name: 'mona', email: 'mona@example.com' },
    sender: { login: 'mona', id: 1 },
    ...over,
  };
}

const githubPing = {
  zen: 'Keep it logically awesome.',
  hook_id: 30,
  hook: { type: 'Repository', id: 30, events: ['push'], config: { content_type: 'json', url: 'http://127.0.0.1/api/webhooks/github' } },
  repository: githubPush().repository,
};

function githubHeaders(event: string, body: Buffer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
    'user-agent': 'GitHub-Hookshot/044aadd',
    ...extra,
  };
}

// ---------- GitLab ----------

function gitlabPush(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    object_kind: 'push',
    event_name: 'push',
    before: BEFORE,
    after: AFTER,
    ref: 'refs/heads/main',
    ref_protected: true,
    checkout_sha: AFTER,
    user_id: 4,
    user_name: 'John Smith',
    user_username: 'jsmith',
    user_email: '',
    project_id: 15,
    project: {
      id: 15,
      name: 'Shop',
      web_url: 'https://gitlab.example.com/acme/platform/shop',
      git_ssh_url: 'git@gitlab.example.com:acme/platform/shop.git',
      git_http_url: 'https://gitlab.example.com/acme/platform/shop.git',
      namespace: 'platform',
      path_with_namespace: 'acme/platform/shop',
      default_branch: 'main',
      ssh_url: 'git@gitlab.example.com:acme/platform/shop.git',
      http_url: 'https://gitlab.example.com/acme/platform/shop.git',
    },
    commits: [
      { id: BEFORE, message: 'Older change', title: 'Older change', timestamp: '2026-11-27T09:00:00+00:00', author: { name: 'Jane', email: 'jane@example.com' } },
      { id: AFTER, message: 'Fix checkout\n', title: 'Fix checkout', timestamp: '2026-11-27T10:00:00+00:00', author: { name: 'John Smith', email: '[REDACTED]' } },
    ],
    total_commits_count: 2,
    repository: { name: 'Shop', url: 'git@gitlab.example.com:acme/platform/shop.git', homepage: 'https://gitlab.example.com/acme/platform/shop' },
    ...over,
  };
}

function gitlabHeaders(event: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-gitlab-event': event,
    'x-gitlab-token': SECRET,
    'x-gitlab-event-uuid': '13792a34-cac6-4fda-95a8-c58e00a3954e',
    'x-gitlab-instance': 'https://gitlab.example.com',
    'user-agent': 'GitLab/17.5.0',
    ...extra,
  };
}

// ---------- Azure DevOps ----------

const ADO_SECRET = 'conveyor:s3cr:et';

function adoPush(resourceOver: Record<string, unknown> = {}, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    subscriptionId: '00000000-0000-0000-0000-000000000000',
    notificationId: 3,
    id: '03c164c2-8912-4d5e-8009-3707d5f83734',
    eventType: 'git.push',
    publisherId: 'tfs',
    message: { text: 'Jamal Hartnett pushed updates to Fabrikam-Fiber-Git:main.' },
    resource: {
      commits: [
        { commitId: AFTER, author: { name: 'Jamal Hartnett', email: 'fabrikamfiber4@hotmail.com', date: '2026-11-27T10:00:00Z' }, comment: 'Fixed bug in web.config file' },
      ],
      refUpdates: [{ name: 'refs/heads/main', oldObjectId: BEFORE, newObjectId: AFTER }],
      repository: {
        id: '278d5cd2-584d-4b63-824a-2ba458937249',
        name: 'Fabrikam-Fiber-Git',
        url: 'https://dev.azure.com/fabrikam/_apis/git/repositories/278d5cd2-584d-4b63-824a-2ba458937249',
        project: { id: '6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c', name: 'Fabrikam', state: 'wellFormed' },
        defaultBranch: 'refs/heads/main',
        remoteUrl: 'https://fabrikam@dev.azure.com/fabrikam/Fabrikam/_git/Fabrikam-Fiber-Git',
        sshUrl: 'git@ssh.dev.azure.com:v3/fabrikam/Fabrikam/Fabrikam-Fiber-Git',
        webUrl: 'https://dev.azure.com/fabrikam/Fabrikam/_git/Fabrikam-Fiber-Git',
      },
      pushedBy: { displayName: 'Jamal Hartnett', id: '00067FFED5C7AF52@Live.com', uniqueName: 'fabrikamfiber4@hotmail.com' },
      pushId: 14,
      date: '2026-11-27T10:00:00Z',
      ...resourceOver,
    },
    resourceVersion: '1.0',
    createdDate: '2026-11-27T10:00:01Z',
    ...over,
  };
}

function basic(credentials: string): string {
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

function adoHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json; charset=utf-8', authorization: basic(ADO_SECRET), ...extra };
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');

// ---------- verify ----------

interface VerifyCase {
  name: string;
  provider: string;
  body: Buffer;
  headers: WebhookHeaders;
  secrets?: string | string[];
  ok: boolean;
  reason?: RegExp;
}

const ghBody = json(githubPush());
const glBody = json(gitlabPush());
const adoBody = json(adoPush());

const verifyCases: VerifyCase[] = [
  { name: 'GitHub: a correct signature passes', provider: 'github', body: ghBody, headers: githubHeaders('push', ghBody), ok: true },
  { name: 'GitHub: a signature made with another secret fails', provider: 'github', body: ghBody, headers: { ...githubHeaders('push', ghBody), 'x-hub-signature-256': `sha256=${createHmac('sha256', 'wrong').update(ghBody).digest('hex')}` }, ok: false, reason: /does not match/ },
  { name: 'GitHub: a signature over a different body fails', provider: 'github', body: json(githubPush({ after: BEFORE })), headers: githubHeaders('push', ghBody), ok: false, reason: /does not match/ },
  { name: 'GitHub: one changed byte (whitespace) fails', provider: 'github', body: Buffer.concat([ghBody, Buffer.from(' ')]), headers: githubHeaders('push', ghBody), ok: false, reason: /does not match/ },
  { name: 'GitHub: a missing signature header fails', provider: 'github', body: ghBody, headers: { 'x-github-event': 'push' }, ok: false, reason: /missing X-Hub-Signature-256/ },
  { name: 'GitHub: the legacy sha1 signature alone is not accepted', provider: 'github', body: ghBody, headers: { 'x-hub-signature': `sha1=${createHmac('sha1', SECRET).update(ghBody).digest('hex')}` }, ok: false, reason: /missing X-Hub-Signature-256/ },
  { name: 'GitHub: a malformed signature header fails', provider: 'github', body: ghBody, headers: { 'x-hub-signature-256': 'sha256=xyz' }, ok: false, reason: /malformed/ },
  { name: 'GitHub: a truncated signature fails', provider: 'github', body: ghBody, headers: { 'x-hub-signature-256': githubHeaders('push', ghBody)['x-hub-signature-256']!.slice(0, -2) }, ok: false, reason: /malformed/ },
  { name: 'GitHub: an empty configured secret never matches', provider: 'github', body: ghBody, headers: { 'x-hub-signature-256': `sha256=${createHmac('sha256', '').update(ghBody).digest('hex')}` }, secrets: '', ok: false, reason: /no webhook secret/ },
  { name: 'GitHub: the new secret passes during rotation', provider: 'github', body: ghBody, headers: githubHeaders('push', ghBody), secrets: ['old-secret', SECRET], ok: true },
  { name: 'GitHub: a body that is not UTF-8 fails', provider: 'github', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), headers: { 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])).digest('hex')}` }, ok: false, reason: /UTF-8/ },
  { name: 'GitHub: an empty body fails', provider: 'github', body: Buffer.alloc(0), headers: { 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update('').digest('hex')}` }, ok: false, reason: /empty body/ },
  { name: 'GitLab: the right token passes', provider: 'gitlab', body: glBody, headers: gitlabHeaders('Push Hook'), ok: true },
  { name: 'GitLab: a wrong token fails', provider: 'gitlab', body: glBody, headers: gitlabHeaders('Push Hook', { 'x-gitlab-token': 'guess' }), ok: false, reason: /does not match/ },
  { name: 'GitLab: a token that is a prefix of the secret fails', provider: 'gitlab', body: glBody, headers: gitlabHeaders('Push Hook', { 'x-gitlab-token': SECRET.slice(0, 5) }), ok: false, reason: /does not match/ },
  { name: 'GitLab: a missing token fails', provider: 'gitlab', body: glBody, headers: { 'x-gitlab-event': 'Push Hook' }, ok: false, reason: /missing X-Gitlab-Token/ },
  { name: 'GitLab: an empty token with an empty secret fails', provider: 'gitlab', body: glBody, headers: gitlabHeaders('Push Hook', { 'x-gitlab-token': '' }), secrets: '', ok: false, reason: /missing X-Gitlab-Token/ },
  { name: 'GitLab: either rotated secret passes', provider: 'gitlab', body: glBody, headers: gitlabHeaders('Push Hook'), secrets: [SECRET, 'next'], ok: true },
  { name: 'Azure DevOps: the right basic credentials pass', provider: 'azure-devops', body: adoBody, headers: adoHeaders(), secrets: ADO_SECRET, ok: true },
  { name: 'Azure DevOps: a wrong password fails', provider: 'azure-devops', body: adoBody, headers: adoHeaders({ authorization: basic('conveyor:nope') }), secrets: ADO_SECRET, ok: false, reason: /do not match/ },
  { name: 'Azure DevOps: a wrong user fails', provider: 'azure-devops', body: adoBody, headers: adoHeaders({ authorization: basic('admin:s3cr:et') }), secrets: ADO_SECRET, ok: false, reason: /do not match/ },
  { name: 'Azure DevOps: missing credentials fail', provider: 'azure-devops', body: adoBody, headers: { 'content-type': 'application/json' }, secrets: ADO_SECRET, ok: false, reason: /missing Authorization/ },
  { name: 'Azure DevOps: a bearer token is not basic credentials', provider: 'azure-devops', body: adoBody, headers: adoHeaders({ authorization: 'Bearer abc' }), secrets: ADO_SECRET, ok: false, reason: /not Basic/ },
  { name: 'Azure DevOps: a secret without a colon is reported as misconfigured', provider: 'azure-devops', body: adoBody, headers: adoHeaders({ authorization: basic('password') }), secrets: 'password', ok: false, reason: /misconfigured/ },
];

for (const c of verifyCases) {
  test(`verify: ${c.name}`, async () => {
    const provider = getProvider(c.provider)!;
    const result = await provider.verify(c.body, c.headers, c.secrets ?? SECRET);
    assert.equal(result.ok, c.ok, result.ok ? 'unexpectedly ok' : result.reason);
    if (!result.ok && c.reason) assert.match(result.reason, c.reason);
  });
}

// ---------- parse ----------

type Expect =
  | { kind: 'push'; branch: string; commit: string; fullName: string; urls?: string[]; deliveryId?: string; pusher?: { name: string; email?: string }; headMessage?: string; headAuthor?: { name: string; email?: string } }
  | { kind: 'ping'; deliveryId?: string }
  | { kind: 'ignored'; code: string; reason: RegExp; withEvent?: boolean }
  | { kind: 'invalid'; reason: RegExp };

interface ParseCase {
  name: string;
  provider: string;
  body: Buffer;
  headers: WebhookHeaders;
  expect: Expect;
}

const parseCases: ParseCase[] = [
  {
    name: 'GitHub: a push to a branch is normalised',
    provider: 'github',
    body: ghBody,
    headers: githubHeaders('push', ghBody),
    expect: {
      kind: 'push',
      branch: 'main',
      commit: AFTER,
      fullName: 'acme/shop',
      urls: ['https://github.com/acme/shop.git', 'https://github.com/acme/shop', 'git@github.com:acme/shop.git', 'git://github.com/acme/shop.git'],
      deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      pusher: { name: 'mona', email: 'mona@example.com' },
      headMessage: 'Fix checkout\n\nSee #12; rm -rf / `whoami`',
      headAuthor: { name: 'Mona Lisa', email: 'mona@example.com' },
    },
  },
  { name: 'GitHub: a branch with slashes keeps them', provider: 'github', body: json(githubPush({ ref: 'refs/heads/release/2026.11' })), headers: githubHeaders('push', ghBody), expect: { kind: 'push', branch: 'release/2026.11', commit: AFTER, fullName: 'acme/shop' } },
  { name: 'GitHub: upper-case shas are lower-cased', provider: 'github', body: json(githubPush({ after: AFTER.toUpperCase() })), headers: githubHeaders('push', ghBody), expect: { kind: 'push', branch: 'main', commit: AFTER, fullName: 'acme/shop' } },
  { name: 'GitHub: a push without head_commit (force push to an old commit) still parses', provider: 'github', body: json(githubPush({ head_commit: null, commits: [] })), headers: githubHeaders('push', ghBody), expect: { kind: 'push', branch: 'main', commit: AFTER, fullName: 'acme/shop' } },
  { name: 'GitHub: a form-encoded delivery is accepted', provider: 'github', body: Buffer.from(new URLSearchParams({ payload: JSON.stringify(githubPush()) }).toString()), headers: githubHeaders('push', ghBody, { 'content-type': 'application/x-www-form-urlencoded' }), expect: { kind: 'push', branch: 'main', commit: AFTER, fullName: 'acme/shop' } },
  { name: 'GitHub: ping', provider: 'github', body: json(githubPing), headers: githubHeaders('ping', json(githubPing)), expect: { kind: 'ping', deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958' } },
  { name: 'GitHub: a tag push is ignored', provider: 'github', body: json(githubPush({ ref: 'refs/tags/v1.2.0', base_ref: 'refs/heads/main' })), headers: githubHeaders('push', ghBody), expect: { kind: 'ignored', code: 'tag-push', reason: /tag pushes.*refs\/tags\/v1.2.0/, withEvent: true } },
  { name: 'GitHub: a branch deletion is ignored', provider: 'github', body: json(githubPush({ after: ZERO, deleted: true, head_commit: null })), headers: githubHeaders('push', ghBody), expect: { kind: 'ignored', code: 'branch-deleted', reason: /branch deletions/, withEvent: true } },
  { name: 'GitHub: a deletion is recognised by the zero sha alone', provider: 'github', body: json(githubPush({ after: ZERO, deleted: undefined })), headers: githubHeaders('push', ghBody), expect: { kind: 'ignored', code: 'branch-deleted', reason: /branch deletions/ } },
  { name: 'GitHub: a push to a non-branch ref is ignored', provider: 'github', body: json(githubPush({ ref: 'refs/notes/commits' })), headers: githubHeaders('push', ghBody), expect: { kind: 'ignored', code: 'not-a-branch', reason: /not a branch/ } },
  { name: 'GitHub: another event is ignored as unsupported', provider: 'github', body: json({ action: 'opened', number: 1 }), headers: githubHeaders('pull_request', ghBody), expect: { kind: 'ignored', code: 'unsupported-event', reason: /"pull_request" is not handled/ } },
  { name: 'GitHub: malformed JSON is invalid', provider: 'github', body: Buffer.from('{"ref": "refs/heads/main",'), headers: githubHeaders('push', ghBody), expect: { kind: 'invalid', reason: /not valid JSON/ } },
  { name: 'GitHub: an empty body is invalid', provider: 'github', body: Buffer.alloc(0), headers: githubHeaders('push', ghBody), expect: { kind: 'invalid', reason: /empty body/ } },
  { name: 'GitHub: a push without a repository is invalid and names the field', provider: 'github', body: json(githubPush({ repository: undefined })), headers: githubHeaders('push', ghBody), expect: { kind: 'invalid', reason: /repository/ } },
  { name: 'GitHub: a push with a bad sha is invalid', provider: 'github', body: json(githubPush({ after: 'HEAD' })), headers: githubHeaders('push', ghBody), expect: { kind: 'invalid', reason: /after: must be a commit sha/ } },
  { name: 'GitHub: a JSON array body is invalid', provider: 'github', body: json([1, 2]), headers: githubHeaders('push', ghBody), expect: { kind: 'invalid', reason: /push payload/ } },
  { name: 'GitHub: a missing event header is invalid', provider: 'github', body: ghBody, headers: { 'x-hub-signature-256': 'sha256=' }, expect: { kind: 'invalid', reason: /missing X-GitHub-Event/ } },
  { name: 'GitHub: a ref with a control character is invalid', provider: 'github', body: json(githubPush({ ref: 'refs/heads/ma\nin' })), headers: githubHeaders('push', ghBody), expect: { kind: 'invalid', reason: /ref/ } },

  {
    name: 'GitLab: a Push Hook is normalised',
    provider: 'gitlab',
    body: glBody,
    headers: gitlabHeaders('Push Hook', { 'idempotency-key': 'f1b2c3d4-0000-4000-8000-000000000001' }),
    expect: {
      kind: 'push',
      branch: 'main',
      commit: AFTER,
      fullName: 'acme/platform/shop',
      urls: ['https://gitlab.example.com/acme/platform/shop.git', 'https://gitlab.example.com/acme/platform/shop', 'git@gitlab.example.com:acme/platform/shop.git'],
      deliveryId: 'f1b2c3d4-0000-4000-8000-000000000001',
      pusher: { name: 'jsmith' },
      headMessage: 'Fix checkout\n',
      headAuthor: { name: 'John Smith' },
    },
  },
  { name: 'GitLab: without Idempotency-Key the event UUID is the delivery id', provider: 'gitlab', body: glBody, headers: gitlabHeaders('Push Hook'), expect: { kind: 'push', branch: 'main', commit: AFTER, fullName: 'acme/platform/shop', deliveryId: '13792a34-cac6-4fda-95a8-c58e00a3954e' } },
  { name: 'GitLab: a push through a system hook is a push', provider: 'gitlab', body: glBody, headers: gitlabHeaders('System Hook'), expect: { kind: 'push', branch: 'main', commit: AFTER, fullName: 'acme/platform/shop' } },
  { name: 'GitLab: other system hook events are ignored', provider: 'gitlab', body: json({ event_name: 'project_create', name: 'x' }), headers: gitlabHeaders('System Hook'), expect: { kind: 'ignored', code: 'unsupported-event', reason: /system hook "project_create"/ } },
  { name: 'GitLab: a Tag Push Hook is ignored', provider: 'gitlab', body: json(gitlabPush({ object_kind: 'tag_push', event_name: 'tag_push', ref: 'refs/tags/v1.0.0', before: ZERO })), headers: gitlabHeaders('Tag Push Hook'), expect: { kind: 'ignored', code: 'tag-push', reason: /tag pushes/, withEvent: true } },
  { name: 'GitLab: a branch deletion is ignored', provider: 'gitlab', body: json(gitlabPush({ after: ZERO, checkout_sha: null, commits: [], total_commits_count: 0 })), headers: gitlabHeaders('Push Hook'), expect: { kind: 'ignored', code: 'branch-deleted', reason: /branch deletions/ } },
  { name: 'GitLab: a Merge Request Hook is ignored as unsupported', provider: 'gitlab', body: json({ object_kind: 'merge_request' }), headers: gitlabHeaders('Merge Request Hook'), expect: { kind: 'ignored', code: 'unsupported-event', reason: /"Merge Request Hook" is not handled/ } },
  { name: 'GitLab: malformed JSON is invalid', provider: 'gitlab', body: Buffer.from('not json'), headers: gitlabHeaders('Push Hook'), expect: { kind: 'invalid', reason: /not valid JSON/ } },
  { name: 'GitLab: a push without a project is invalid', provider: 'gitlab', body: json(gitlabPush({ project: undefined })), headers: gitlabHeaders('Push Hook'), expect: { kind: 'invalid', reason: /project/ } },
  { name: 'GitLab: a missing event header is invalid', provider: 'gitlab', body: glBody, headers: { 'x-gitlab-token': SECRET }, expect: { kind: 'invalid', reason: /missing X-Gitlab-Event/ } },

  {
    name: 'Azure DevOps: a git.push is normalised',
    provider: 'azure-devops',
    body: adoBody,
    headers: adoHeaders(),
    expect: {
      kind: 'push',
      branch: 'main',
      commit: AFTER,
      fullName: 'Fabrikam/Fabrikam-Fiber-Git',
      urls: [
        'https://fabrikam@dev.azure.com/fabrikam/Fabrikam/_git/Fabrikam-Fiber-Git',
        'https://dev.azure.com/fabrikam/Fabrikam/_git/Fabrikam-Fiber-Git',
        'git@ssh.dev.azure.com:v3/fabrikam/Fabrikam/Fabrikam-Fiber-Git',
        'https://dev.azure.com/fabrikam/_apis/git/repositories/278d5cd2-584d-4b63-824a-2ba458937249',
      ],
      deliveryId: '03c164c2-8912-4d5e-8009-3707d5f83734',
      pusher: { name: 'Jamal Hartnett', email: 'fabrikamfiber4@hotmail.com' },
      headMessage: 'Fixed bug in web.config file',
      headAuthor: { name: 'Jamal Hartnett', email: 'fabrikamfiber4@hotmail.com' },
    },
  },
  { name: 'Azure DevOps: without an event id the notification id is the delivery id', provider: 'azure-devops', body: json(adoPush({}, { id: undefined })), headers: adoHeaders(), expect: { kind: 'push', branch: 'main', commit: AFTER, fullName: 'Fabrikam/Fabrikam-Fiber-Git', deliveryId: '00000000-0000-0000-0000-000000000000/3' } },
  {
    name: 'Azure DevOps: a push that updates a tag and a branch is the branch push',
    provider: 'azure-devops',
    body: json(adoPush({ refUpdates: [{ name: 'refs/tags/v1', oldObjectId: ZERO, newObjectId: BEFORE }, { name: 'refs/heads/main', oldObjectId: BEFORE, newObjectId: AFTER }] })),
    headers: adoHeaders(),
    expect: { kind: 'push', branch: 'main', commit: AFTER, fullName: 'Fabrikam/Fabrikam-Fiber-Git' },
  },
  { name: 'Azure DevOps: a tag push is ignored', provider: 'azure-devops', body: json(adoPush({ refUpdates: [{ name: 'refs/tags/v1', oldObjectId: ZERO, newObjectId: AFTER }] })), headers: adoHeaders(), expect: { kind: 'ignored', code: 'tag-push', reason: /tag pushes/, withEvent: true } },
  { name: 'Azure DevOps: a branch deletion is ignored', provider: 'azure-devops', body: json(adoPush({ refUpdates: [{ name: 'refs/heads/old', oldObjectId: BEFORE, newObjectId: ZERO }], commits: [] })), headers: adoHeaders(), expect: { kind: 'ignored', code: 'branch-deleted', reason: /branch deletions do not start runs \(refs\/heads\/old\)/ } },
  { name: 'Azure DevOps: another event type is ignored as unsupported', provider: 'azure-devops', body: json({ id: 'x', eventType: 'git.pullrequest.created', resource: {} }), headers: adoHeaders(), expect: { kind: 'ignored', code: 'unsupported-event', reason: /"git.pullrequest.created" is not handled/ } },
  { name: 'Azure DevOps: malformed JSON is invalid', provider: 'azure-devops', body: Buffer.from('{{'), headers: adoHeaders(), expect: { kind: 'invalid', reason: /not valid JSON/ } },
  { name: 'Azure DevOps: a payload without eventType is invalid', provider: 'azure-devops', body: json({ id: 'x' }), headers: adoHeaders(), expect: { kind: 'invalid', reason: /eventType/ } },
  { name: 'Azure DevOps: a git.push without ref updates is invalid and names the field', provider: 'azure-devops', body: json(adoPush({ refUpdates: [] })), headers: adoHeaders(), expect: { kind: 'invalid', reason: /resource\.refUpdates/ } },
];

function check(result: ParseResult, expect: Expect, provider: string): void {
  assert.equal(result.kind, expect.kind, JSON.stringify(result));
  if (result.kind === 'push' && expect.kind === 'push') {
    const e = result.event;
    assert.equal(e.provider, provider);
    assert.equal(e.branch, expect.branch);
    assert.equal(e.ref, `refs/heads/${expect.branch}`);
    assert.equal(e.commit, expect.commit);
    assert.equal(e.repository.fullName, expect.fullName);
    assert.equal(e.deleted, false);
    assert.equal(e.isTag, false);
    assert.match(e.before, /^[0-9a-f]{40}$/);
    assert.ok(e.repository.urls.length > 0);
    if (expect.urls) assert.deepEqual(e.repository.urls, expect.urls);
    if (expect.deliveryId) assert.equal(e.deliveryId, expect.deliveryId);
    if (expect.pusher) assert.deepEqual(e.pusher, expect.pusher);
    if (expect.headMessage !== undefined) assert.equal(e.headCommit?.message, expect.headMessage);
    if (expect.headAuthor) assert.deepEqual(e.headCommit?.author, expect.headAuthor);
  } else if (result.kind === 'ping' && expect.kind === 'ping') {
    assert.equal(result.deliveryId, expect.deliveryId);
  } else if (result.kind === 'ignored' && expect.kind === 'ignored') {
    assert.equal(result.code, expect.code);
    assert.match(result.reason, expect.reason);
    if (expect.withEvent) assert.ok(result.event, 'the ignored push is attached');
  } else if (result.kind === 'invalid' && expect.kind === 'invalid') {
    assert.match(result.reason, expect.reason);
  }
}

for (const c of parseCases) {
  test(`parse: ${c.name}`, () => {
    const provider = getProvider(c.provider)!;
    check(provider.parse(c.body, c.headers), c.expect, c.provider);
  });
}

test('parse never throws, whatever the bytes', () => {
  const junk: Buffer[] = [
    Buffer.from('null'),
    Buffer.from('"string"'),
    Buffer.from('12'),
    Buffer.from('{"__proto__": {"polluted": true}, "ref": 1}'),
    Buffer.from([0xff, 0x00, 0x81]),
    Buffer.from(JSON.stringify({ resource: null, eventType: 'git.push' })),
    Buffer.from(JSON.stringify({ event_name: null })),
  ];
  for (const name of PROVIDER_NAMES) {
    const provider = getProvider(name)!;
    for (const body of junk) {
      for (const headers of [githubHeaders('push', body), gitlabHeaders('Push Hook'), gitlabHeaders('System Hook'), adoHeaders(), {}]) {
        const result = provider.parse(body, headers);
        assert.ok(['invalid', 'ignored'].includes(result.kind), `${name}: ${JSON.stringify(result)}`);
      }
    }
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('the registry knows the three providers and nothing else', () => {
  assert.deepEqual([...PROVIDER_NAMES], ['github', 'gitlab', 'azure-devops']);
  for (const name of PROVIDER_NAMES) assert.equal(getProvider(name)?.name, name);
  assert.equal(getProvider('GitHub')?.name, 'github');
  for (const name of ['bitbucket', 'constructor', '__proto__', 'toString', '']) assert.equal(getProvider(name), undefined, name);
  assert.equal(isProviderName('gitlab'), true);
  assert.equal(isProviderName('hasOwnProperty'), false);
  assert.equal(MAX_WEBHOOK_BODY_BYTES, 5 * 1024 * 1024);
});

test('parse and verify never throw on arbitrary JSON, headers and bytes (property)', async () => {
  const fc = (await import('fast-check')).default;
  const headerArb = fc.dictionary(
    fc.constantFrom('x-github-event', 'x-github-delivery', 'x-hub-signature-256', 'x-gitlab-event', 'x-gitlab-token', 'authorization', 'content-type', 'idempotency-key'),
    fc.oneof(fc.string(), fc.constantFrom('push', 'ping', 'Push Hook', 'System Hook', 'Tag Push Hook', 'application/x-www-form-urlencoded', 'Basic Og==', 'sha256=' + '0'.repeat(64))),
  );
  const bodyArb = fc.oneof(
    fc.json().map((j) => Buffer.from(j)),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    fc.record({ ref: fc.string(), before: fc.string(), after: fc.string(), eventType: fc.constantFrom('git.push', 'x'), resource: fc.anything() }).map((o) => Buffer.from(JSON.stringify(o))),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...PROVIDER_NAMES), bodyArb, headerArb, fc.oneof(fc.string(), fc.array(fc.string())), async (name, body, headers, secrets) => {
      const provider = getProvider(name)!;
      const parsed = provider.parse(body, headers);
      assert.ok(['push', 'ping', 'ignored', 'invalid'].includes(parsed.kind));
      const verified = await provider.verify(body, headers, secrets);
      assert.equal(typeof verified.ok, 'boolean');
    }),
    { numRuns: 300 },
  );
});
