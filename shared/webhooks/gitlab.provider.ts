/**
 * GitLab webhooks: the secret token arrives verbatim in `X-Gitlab-Token` (compared in constant
 * time), the event in `X-Gitlab-Event` (`Push Hook`, `Tag Push Hook`, `System Hook`, ...).
 * The delivery id is `Idempotency-Key` (GitLab 17.4+, the same on every retry of one delivery),
 * else `X-Gitlab-Event-UUID`.
 */
import { z } from 'zod';
import {
  COMMIT_SHA_PATTERN,
  classifyPush,
  classifyRef,
  constantTimeEqual,
  describeIssues,
  header,
  isPlausibleRef,
  isZeroSha,
  parseJsonBody,
  secretList,
  type ParseResult,
  type PushEvent,
  type VerifyResult,
  type WebhookHeaders,
  type WebhookProvider,
  type WebhookSecrets,
} from './webhook-provider.js';

const sha = z.string().regex(COMMIT_SHA_PATTERN, 'must be a commit sha');

/** The parts of GitLab's push payload Conveyor reads (project hooks and system hooks alike). */
const pushPayload = z.object({
  object_kind: z.string().optional(),
  event_name: z.string().optional(),
  ref: z.string().refine(isPlausibleRef, 'must be a git ref'),
  before: sha,
  after: sha,
  checkout_sha: z.string().nullish(),
  user_name: z.string().nullish(),
  user_username: z.string().nullish(),
  user_email: z.string().nullish(),
  project: z.object({
    path_with_namespace: z.string().min(1),
    git_http_url: z.string().optional(),
    http_url: z.string().optional(),
    web_url: z.string().optional(),
    git_ssh_url: z.string().optional(),
    ssh_url: z.string().optional(),
  }),
  commits: z
    .array(z.object({ id: z.string(), message: z.string(), author: z.object({ name: z.string().nullish(), email: z.string().nullish() }) }))
    .optional(),
});

const systemHookKind = z.object({ object_kind: z.string().optional(), event_name: z.string().optional() });

async function verify(_rawBody: Buffer, headers: WebhookHeaders, secrets: WebhookSecrets): Promise<VerifyResult> {
  const token = header(headers, 'x-gitlab-token');
  if (token === undefined) return { ok: false, reason: 'missing X-Gitlab-Token header' };
  const candidates = secretList(secrets);
  if (candidates.length === 0) return { ok: false, reason: 'no webhook secret is configured' };
  // Compare against every candidate (no early exit) so timing does not reveal which matched.
  let matched = false;
  for (const secret of candidates) matched = constantTimeEqual(token, secret) || matched;
  return matched ? { ok: true } : { ok: false, reason: 'X-Gitlab-Token does not match' };
}

function parse(rawBody: Buffer, headers: WebhookHeaders): ParseResult {
  const eventName = header(headers, 'x-gitlab-event');
  if (eventName === undefined) return { kind: 'invalid', reason: 'missing X-Gitlab-Event header' };
  const deliveryId = header(headers, 'idempotency-key') ?? header(headers, 'x-gitlab-event-uuid');
  const withId = deliveryId === undefined ? {} : { deliveryId };

  const body = parseJsonBody(rawBody);
  if (!body.ok) return { kind: 'invalid', reason: body.reason };

  let kind: string;
  if (eventName === 'Push Hook') kind = 'push';
  else if (eventName === 'Tag Push Hook') kind = 'tag_push';
  else if (eventName === 'System Hook') {
    // Instance-level system hooks carry every project's pushes with the kind in the body.
    const k = systemHookKind.safeParse(body.value);
    kind = (k.success ? (k.data.event_name ?? k.data.object_kind) : undefined) ?? 'unknown';
    if (kind !== 'push' && kind !== 'tag_push') {
      return { kind: 'ignored', code: 'unsupported-event', reason: `GitLab system hook "${kind}" is not handled (only push)`, ...withId };
    }
  } else {
    return { kind: 'ignored', code: 'unsupported-event', reason: `GitLab event "${eventName}" is not handled (only Push Hook)`, ...withId };
  }

  const parsed = pushPayload.safeParse(body.value);
  if (!parsed.success) return { kind: 'invalid', reason: `push payload: ${describeIssues(parsed.error.issues)}` };
  const p = parsed.data;
  const { branch, isTag } = classifyRef(p.ref);
  const urls = [p.project.git_http_url, p.project.http_url, p.project.web_url, p.project.git_ssh_url, p.project.ssh_url].filter(
    (u): u is string => typeof u === 'string' && u !== '',
  );
  const after = p.after.toLowerCase();
  // GitLab lists up to 20 commits oldest first; the head is the one whose id is `after`.
  const head = p.commits?.find((c) => c.id.toLowerCase() === after) ?? p.commits?.at(-1);
  const event: PushEvent = {
    provider: 'gitlab',
    ...withId,
    repository: { urls: [...new Set(urls)], fullName: p.project.path_with_namespace },
    ref: p.ref,
    ...(branch !== undefined ? { branch } : {}),
    commit: after,
    before: p.before.toLowerCase(),
    deleted: isZeroSha(after),
    isTag: isTag || kind === 'tag_push',
    pusher: { name: p.user_username ?? p.user_name ?? '', ...emailField(p.user_email) },
    ...(head
      ? {
          headCommit: {
            message: head.message,
            author: { name: head.author.name ?? '', ...emailField(head.author.email) },
          },
        }
      : {}),
  };
  return classifyPush(event, 'GitLab');
}

/** GitLab sends `[REDACTED]` or an empty string for hidden e-mail addresses: leave those out. */
function emailField(email: string | null | undefined): { email?: string } {
  return typeof email === 'string' && email !== '' && email !== '[REDACTED]' ? { email } : {};
}

/** The GitLab provider. */
export const gitlabProvider: WebhookProvider = { name: 'gitlab', displayName: 'GitLab', verify, parse };
