/**
 * Sends a commit of the demo repository to Conveyor the way GitHub would: a `push` webhook
 * whose body is signed with HMAC-SHA256 (`x-hub-signature-256`). Used by the repository's
 * post-commit hook and by `npm start` to catch up on commits made while Conveyor was down.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { DemoRepo } from './demo-repo.js';

/** What Conveyor answered. */
export interface PushResult {
  status: number;
  body: { status?: string; runId?: string; statusUrl?: string; detail?: string; title?: string; reason?: string };
  commit: string;
  branch: string;
}

/** The GitHub push payload for `commit` on `branch` of `repo` (pusher = the commit's author). */
export async function githubPushPayload(repo: DemoRepo, commit: string, branch: string): Promise<Buffer> {
  const before = await repo.git('rev-parse', '--verify', '--quiet', `${commit}^`).catch(() => '0'.repeat(40));
  const [name, email, message, timestamp] = (await repo.git('log', '-1', '--format=%an%x00%ae%x00%B%x00%aI', commit)).split('\0');
  const author = { name: name ?? 'unknown', email: email ?? '', username: (email ?? 'unknown').split('@')[0] };
  const head = { id: commit, message: (message ?? '').trim(), timestamp, author, committer: author };
  return Buffer.from(
    JSON.stringify({
      ref: `refs/heads/${branch}`,
      before,
      after: commit,
      created: /^0+$/.test(before),
      deleted: false,
      forced: false,
      commits: [head],
      head_commit: head,
      repository: { name: 'conveyor-demo-service', full_name: 'local/conveyor-demo-service', clone_url: repo.url, html_url: repo.url, url: repo.dir },
      pusher: { name: author.name, email: author.email },
      sender: { login: author.username },
    }),
  );
}

/** Signs and POSTs the push of `commit` to `<origin>/api/webhooks/github`. */
export async function sendPush(options: { origin: string; secret: string; repo: DemoRepo; commit: string; branch: string; timeoutMs?: number }): Promise<PushResult> {
  const body = await githubPushPayload(options.repo, options.commit, options.branch);
  const signature = `sha256=${createHmac('sha256', options.secret).update(body).digest('hex')}`;
  const res = await fetch(`${options.origin}/api/webhooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': signature,
      'user-agent': 'conveyor-demo-post-commit',
    },
    body,
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  let parsed: PushResult['body'] = {};
  try {
    parsed = JSON.parse(text) as PushResult['body'];
  } catch {
    parsed = { detail: text.slice(0, 500) };
  }
  return { status: res.status, body: parsed, commit: options.commit, branch: options.branch };
}
