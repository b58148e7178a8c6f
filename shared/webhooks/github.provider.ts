/**
 * GitHub webhooks: `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the webhook
 * secret, checked by `@octokit/webhooks-methods`), `X-GitHub-Event` (`push`, `ping`) and
 * `X-GitHub-Delivery` (a GUID that stays the same when GitHub redelivers).
 */
import { isUtf8 } from 'node:buffer';
import { verify as verifyGithubSignature } from '@octokit/webhooks-methods';
import { z } from 'zod';
import {
  COMMIT_SHA_PATTERN,
  classifyPush,
  classifyRef,
  describeIssues,
  header,
  isPlausibleRef,
  isZeroSha,
  parseJsonBody,
  secretList,
  type ParseResult,
  type PushEvent,
  type PushRepository,
  type VerifyResult,
  type WebhookHeaders,
  type WebhookProvider,
  type WebhookSecrets,
} from './webhook-provider.js';

const SIGNATURE_PATTERN = /^sha256=[0-9a-f]{64}$/;

const sha = z.string().regex(COMMIT_SHA_PATTERN, 'must be a commit sha');
const person = z.object({ name: z.string().nullish(), email: z.string().nullish(), username: z.string().nullish() });

const repositorySchema = z.object({
  full_name: z.string().min(1),
  clone_url: z.string().optional(),
  html_url: z.string().optional(),
  ssh_url: z.string().optional(),
  git_url: z.string().optional(),
  url: z.string().optional(),
});

function repositoryOf(repo: z.infer<typeof repositorySchema>): PushRepository {
  const urls = [repo.clone_url, repo.html_url, repo.ssh_url, repo.git_url, repo.url].filter((u): u is string => typeof u === 'string' && u !== '');
  return { urls: [...new Set(urls)], fullName: repo.full_name };
}

/** The parts of GitHub's push payload Conveyor reads (the rest is ignored). */
const pushPayload = z.object({
  ref: z.string().refine(isPlausibleRef, 'must be a git ref'),
  before: sha,
  after: sha,
  deleted: z.boolean().optional(),
  repository: repositorySchema,
  pusher: z.object({ name: z.string(), email: z.string().nullish() }),
  head_commit: z.object({ id: z.string(), message: z.string(), author: person }).nullish(),
});

// Repository webhooks' pings name the repository (organisation hooks' do not).
const pingPayload = z.object({ zen: z.string().optional(), hook_id: z.number().optional(), repository: repositorySchema.optional() });

async function verify(rawBody: Buffer, headers: WebhookHeaders, secrets: WebhookSecrets): Promise<VerifyResult> {
  const signature = header(headers, 'x-hub-signature-256');
  if (signature === undefined) return { ok: false, reason: 'missing X-Hub-Signature-256 header' };
  if (!SIGNATURE_PATTERN.test(signature)) return { ok: false, reason: 'malformed X-Hub-Signature-256 header (expected sha256=<64 hex>)' };
  const candidates = secretList(secrets);
  if (candidates.length === 0) return { ok: false, reason: 'no webhook secret is configured' };
  if (rawBody.length === 0) return { ok: false, reason: 'empty body' };
  // The library signs a string; a body that is not valid UTF-8 would be altered by decoding,
  // so the HMAC would no longer cover the exact bytes received. GitHub only sends UTF-8 JSON.
  if (!isUtf8(rawBody)) return { ok: false, reason: 'body is not valid UTF-8' };
  const payload = rawBody.toString('utf8');
  try {
    for (const secret of candidates) {
      // Compares in constant time (timingSafeEqual on equal-length digests).
      if (await verifyGithubSignature(secret, payload, signature)) return { ok: true };
    }
  } catch (err) {
    return { ok: false, reason: `signature check failed: ${(err as Error).message}` };
  }
  return { ok: false, reason: 'X-Hub-Signature-256 does not match the body' };
}

function parse(rawBody: Buffer, headers: WebhookHeaders): ParseResult {
  const eventName = header(headers, 'x-github-event');
  if (eventName === undefined) return { kind: 'invalid', reason: 'missing X-GitHub-Event header' };
  const deliveryId = header(headers, 'x-github-delivery');
  const withId = deliveryId === undefined ? {} : { deliveryId };

  const body = decodeBody(rawBody, headers);
  if (!body.ok) return { kind: 'invalid', reason: body.reason };

  if (eventName === 'ping') {
    const ping = pingPayload.safeParse(body.value);
    if (!ping.success) return { kind: 'invalid', reason: `ping payload: ${describeIssues(ping.error.issues)}` };
    return { kind: 'ping', ...withId, ...(ping.data.repository ? { repository: repositoryOf(ping.data.repository) } : {}) };
  }
  if (eventName !== 'push') {
    return { kind: 'ignored', code: 'unsupported-event', reason: `GitHub event "${eventName}" is not handled (only push and ping)`, ...withId };
  }

  const parsed = pushPayload.safeParse(body.value);
  if (!parsed.success) return { kind: 'invalid', reason: `push payload: ${describeIssues(parsed.error.issues)}` };
  const p = parsed.data;
  const { branch, isTag } = classifyRef(p.ref);
  const event: PushEvent = {
    provider: 'github',
    ...withId,
    repository: repositoryOf(p.repository),
    ref: p.ref,
    ...(branch !== undefined ? { branch } : {}),
    commit: p.after.toLowerCase(),
    before: p.before.toLowerCase(),
    deleted: p.deleted === true || isZeroSha(p.after),
    isTag,
    pusher: { name: p.pusher.name, ...(p.pusher.email ? { email: p.pusher.email } : {}) },
    ...(p.head_commit
      ? {
          headCommit: {
            message: p.head_commit.message,
            author: {
              name: p.head_commit.author.name ?? p.head_commit.author.username ?? '',
              ...(p.head_commit.author.email ? { email: p.head_commit.author.email } : {}),
            },
          },
        }
      : {}),
  };
  return classifyPush(event, 'GitHub');
}

/**
 * GitHub sends JSON, or `application/x-www-form-urlencoded` with the JSON in a `payload`
 * field when the webhook was configured that way; both are accepted.
 */
function decodeBody(rawBody: Buffer, headers: WebhookHeaders): { ok: true; value: unknown } | { ok: false; reason: string } {
  const contentType = header(headers, 'content-type') ?? '';
  if (contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const payload = new URLSearchParams(rawBody.toString('utf8')).get('payload');
    if (payload === null) return { ok: false, reason: 'form body has no payload field' };
    return parseJsonBody(Buffer.from(payload, 'utf8'));
  }
  return parseJsonBody(rawBody);
}

/** The GitHub provider. */
export const githubProvider: WebhookProvider = { name: 'github', displayName: 'GitHub', verify, parse };
