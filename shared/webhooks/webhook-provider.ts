/**
 * The contract every webhook provider module implements, the normalised push event they
 * produce, and the small helpers they share (constant-time comparison, header look-up).
 *
 * Providers are pure with respect to Conveyor: no I/O, no clock. The HTTP adapter in
 * functions/ caps the body (413), calls `verify` with the raw bytes, then `parse`, and maps
 * the result to a response.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The providers Conveyor understands (also the `{provider}` segment of the webhook route). */
export const PROVIDER_NAMES = ['github', 'gitlab', 'azure-devops'] as const;

/** A webhook provider name. */
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/**
 * Largest webhook body accepted; bigger requests get 413 without being read further. GitHub
 * caps its payloads at 25 MB but push payloads are far smaller (commits are truncated to 20),
 * so 5 MiB leaves room while bounding memory per request.
 */
export const MAX_WEBHOOK_BODY_BYTES = 5 * 1024 * 1024;

/** Request headers with lower-cased names (as node:http and the Functions host deliver them). */
export type WebhookHeaders = Readonly<Record<string, string | undefined>>;

/** The outcome of checking a request's signature or token. */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

/**
 * A configured secret, or several: during rotation both the old and the new secret are
 * accepted, and a request passes if it matches any of them.
 */
export type WebhookSecrets = string | readonly string[];

/** The repository a push went to, in every URL form the provider reports. */
export interface PushRepository {
  /**
   * Clone, web and SSH URLs as the provider sent them, most useful first (the HTTPS clone URL).
   * Compare with `sameRepository` / `normaliseRepoUrl` (shared/git), not with `===`.
   */
  urls: string[];
  /** `owner/name` (GitHub), `group/subgroup/name` (GitLab), `project/name` (Azure DevOps). */
  fullName: string;
}

/** A push to a branch, normalised across providers. */
export interface PushEvent {
  provider: ProviderName;
  /** The provider's delivery id (stable across redeliveries of the same webhook), when sent. */
  deliveryId?: string;
  repository: PushRepository;
  /** The full ref, e.g. `refs/heads/main`. */
  ref: string;
  /** The branch name when `ref` is a branch (`main`). */
  branch?: string;
  /** The commit the ref points to after the push (lower-case hex). */
  commit: string;
  /** The commit the ref pointed to before (all zeros for a new branch). */
  before: string;
  /** True when the push deleted the ref. */
  deleted: boolean;
  /** True when the ref is a tag. */
  isTag: boolean;
  /** Who pushed. Untrusted text: pass it to commands only as environment variables. */
  pusher: { name: string; email?: string };
  /** The pushed head commit, when the payload describes it. Untrusted text. */
  headCommit?: { message: string; author: { name: string; email?: string } };
}

/** Why a well-formed delivery starts nothing; lets the HTTP adapter choose 200/202 or 400. */
export type IgnoreCode = 'tag-push' | 'branch-deleted' | 'not-a-branch' | 'unsupported-event';

/** What a delivery means, as far as the provider can tell without Conveyor's configuration. */
export type ParseResult =
  | { kind: 'push'; event: PushEvent }
  | { kind: 'ping'; deliveryId?: string; /** The repository, when the provider names it in its ping. */ repository?: PushRepository }
  | {
      kind: 'ignored';
      code: IgnoreCode;
      reason: string;
      deliveryId?: string;
      /** The push that was ignored (tag pushes, deletions), so the response can name its repository and ref. */
      event?: PushEvent;
    }
  | { kind: 'invalid'; reason: string };

/** One provider: signature verification and payload parsing. Neither method throws. */
export interface WebhookProvider {
  readonly name: ProviderName;
  /** Human-readable name for messages ("GitHub"). */
  readonly displayName: string;
  /**
   * Checks the request's authenticity over the exact raw body bytes. Async because the GitHub
   * check goes through `@octokit/webhooks-methods`, whose API is promise-based.
   */
  verify(rawBody: Buffer, headers: WebhookHeaders, secrets: WebhookSecrets): Promise<VerifyResult>;
  /** Classifies and normalises a delivery. Call only after `verify` succeeded. */
  parse(rawBody: Buffer, headers: WebhookHeaders): ParseResult;
}

/** Reads a header by its lower-cased name, treating an empty value as absent. */
export function header(headers: WebhookHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** The configured secrets as a list without empty entries (an empty secret must never match). */
export function secretList(secrets: WebhookSecrets): string[] {
  return (typeof secrets === 'string' ? [secrets] : [...secrets]).filter((s) => s.length > 0);
}

/**
 * Compares two byte strings in time independent of where they differ and of their lengths:
 * both are hashed first so `timingSafeEqual` always sees equal-length digests.
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** A git object id: SHA-1 (40 hex) or SHA-256 (64 hex). */
export const COMMIT_SHA_PATTERN = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;

/** True when a sha is all zeros (git's "no object": the before of a new ref, the after of a deletion). */
export function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
}

/**
 * Rejects ref names git itself would refuse in ways that matter here (control characters,
 * absurd length). The name still never reaches a shell; this only keeps logs and records sane.
 */
export function isPlausibleRef(ref: string): boolean {
  // eslint-disable-next-line no-control-regex
  return ref.length > 0 && ref.length <= 1024 && !/[\u0000-\u001f\u007f]/.test(ref);
}

/** Splits a full ref into branch or tag. */
export function classifyRef(ref: string): { branch?: string; isTag: boolean } {
  if (ref.startsWith('refs/heads/')) return { branch: ref.slice('refs/heads/'.length), isTag: false };
  if (ref.startsWith('refs/tags/')) return { isTag: true };
  return { isTag: false };
}

/**
 * Turns a push into a result: tag pushes, deletions and refs that are not branches are
 * "ignored" with the event attached; a branch update is a "push".
 */
export function classifyPush(event: PushEvent, providerLabel: string): ParseResult {
  const deliveryId = event.deliveryId;
  const withId = deliveryId === undefined ? {} : { deliveryId };
  if (event.isTag) {
    return { kind: 'ignored', code: 'tag-push', reason: `tag pushes do not start runs (${event.ref})`, event, ...withId };
  }
  if (event.deleted) {
    return { kind: 'ignored', code: 'branch-deleted', reason: `branch deletions do not start runs (${event.ref})`, event, ...withId };
  }
  if (event.branch === undefined || event.branch === '') {
    return { kind: 'ignored', code: 'not-a-branch', reason: `${providerLabel} push to ${event.ref} is not a branch`, event, ...withId };
  }
  return { kind: 'push', event };
}

/** Parses a JSON body, reporting a short reason instead of throwing. */
export function parseJsonBody(rawBody: Buffer): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (rawBody.length === 0) return { ok: false, reason: 'empty body' };
  try {
    return { ok: true, value: JSON.parse(rawBody.toString('utf8')) as unknown };
  } catch (err) {
    return { ok: false, reason: `body is not valid JSON: ${(err as Error).message}` };
  }
}

/** Formats zod-style issues as `field: message; ...` for an "invalid" reason. */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}
