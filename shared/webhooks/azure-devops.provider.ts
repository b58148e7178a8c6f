/**
 * Azure DevOps service hooks (Web Hooks consumer, event `git.push`). Azure DevOps cannot sign
 * payloads; the subscription is given basic-auth credentials instead, and every delivery
 * carries `Authorization: Basic base64(user:password)`.
 *
 * The configured secret has the form `user:password` (the exact text whose base64 goes in the
 * header; the user part may be empty, the password may contain further colons). The whole
 * decoded credential is compared with it in constant time.
 *
 * There is no delivery header: the payload's event `id` (a GUID that is the same when the
 * notification is retried) is the delivery id, falling back to `subscriptionId/notificationId`.
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

const envelope = z.object({
  id: z.string().optional(),
  eventType: z.string().min(1),
  notificationId: z.union([z.number(), z.string()]).optional(),
  subscriptionId: z.string().optional(),
});

/** The parts of the `git.push` payload Conveyor reads. */
const pushResource = z.object({
  refUpdates: z
    .array(z.object({ name: z.string().refine(isPlausibleRef, 'must be a git ref'), oldObjectId: sha, newObjectId: sha }))
    .min(1, 'must list at least one ref update'),
  repository: z.object({
    name: z.string().min(1),
    remoteUrl: z.string().optional(),
    sshUrl: z.string().optional(),
    webUrl: z.string().optional(),
    url: z.string().optional(),
    project: z.object({ name: z.string().min(1) }),
  }),
  pushedBy: z.object({ displayName: z.string().nullish(), uniqueName: z.string().nullish() }).optional(),
  commits: z
    .array(z.object({ commitId: z.string(), comment: z.string().nullish(), author: z.object({ name: z.string().nullish(), email: z.string().nullish() }).nullish() }))
    .optional(),
});

async function verify(_rawBody: Buffer, headers: WebhookHeaders, secrets: WebhookSecrets): Promise<VerifyResult> {
  const authorization = header(headers, 'authorization');
  if (authorization === undefined) return { ok: false, reason: 'missing Authorization header (configure basic authentication on the service hook)' };
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)$/i.exec(authorization);
  if (!m) return { ok: false, reason: 'Authorization header is not Basic credentials' };
  const candidates = secretList(secrets);
  if (candidates.length === 0) return { ok: false, reason: 'no webhook secret is configured' };
  if (candidates.some((s) => !s.includes(':'))) return { ok: false, reason: 'webhook secret is misconfigured (expected user:password)' };
  const presented = Buffer.from(m[1]!, 'base64');
  let matched = false;
  for (const secret of candidates) matched = constantTimeEqual(presented, Buffer.from(secret, 'utf8')) || matched;
  return matched ? { ok: true } : { ok: false, reason: 'basic-auth credentials do not match' };
}

function parse(rawBody: Buffer, _headers: WebhookHeaders): ParseResult {
  const body = parseJsonBody(rawBody);
  if (!body.ok) return { kind: 'invalid', reason: body.reason };
  const env = envelope.safeParse(body.value);
  if (!env.success) return { kind: 'invalid', reason: `service hook payload: ${describeIssues(env.error.issues)}` };
  const { id, eventType, notificationId, subscriptionId } = env.data;
  const deliveryId = id ?? (notificationId !== undefined ? `${subscriptionId ?? ''}/${notificationId}` : undefined);
  const withId = deliveryId === undefined ? {} : { deliveryId };
  if (eventType !== 'git.push') {
    return { kind: 'ignored', code: 'unsupported-event', reason: `Azure DevOps event "${eventType}" is not handled (only git.push)`, ...withId };
  }

  const resource = pushResource.safeParse((body.value as { resource?: unknown }).resource);
  if (!resource.success) {
    return { kind: 'invalid', reason: `git.push payload: ${describeIssues(resource.error.issues.map((i) => ({ ...i, path: ['resource', ...i.path] })))}` };
  }
  const r = resource.data;
  // One push can update several refs; a branch update is what matters, so prefer the first
  // branch ref that was not deleted, and otherwise report the first ref (a tag or a deletion).
  const update =
    r.refUpdates.find((u) => u.name.startsWith('refs/heads/') && !isZeroSha(u.newObjectId)) ?? r.refUpdates[0]!;
  const { branch, isTag } = classifyRef(update.name);
  const repo = r.repository;
  const urls = [repo.remoteUrl, repo.webUrl, repo.sshUrl, repo.url].filter((u): u is string => typeof u === 'string' && u !== '');
  const commit = update.newObjectId.toLowerCase();
  // Azure DevOps lists the pushed commits newest first.
  const head = r.commits?.find((c) => c.commitId.toLowerCase() === commit) ?? r.commits?.[0];
  const pusherName = r.pushedBy?.displayName ?? r.pushedBy?.uniqueName ?? '';
  const pusherEmail = r.pushedBy?.uniqueName?.includes('@') ? r.pushedBy.uniqueName : undefined;
  const event: PushEvent = {
    provider: 'azure-devops',
    ...withId,
    repository: { urls: [...new Set(urls)], fullName: `${repo.project.name}/${repo.name}` },
    ref: update.name,
    ...(branch !== undefined ? { branch } : {}),
    commit,
    before: update.oldObjectId.toLowerCase(),
    deleted: isZeroSha(commit),
    isTag,
    pusher: { name: pusherName, ...(pusherEmail ? { email: pusherEmail } : {}) },
    ...(head
      ? {
          headCommit: {
            message: head.comment ?? '',
            author: { name: head.author?.name ?? '', ...(head.author?.email ? { email: head.author.email } : {}) },
          },
        }
      : {}),
  };
  return classifyPush(event, 'Azure DevOps');
}

/** The Azure DevOps provider (secret format: `user:password`). */
export const azureDevOpsProvider: WebhookProvider = { name: 'azure-devops', displayName: 'Azure DevOps', verify, parse };
