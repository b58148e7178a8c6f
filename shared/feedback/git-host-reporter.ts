/**
 * The port every Git host adapter implements, and how a host's answer is classified: a 4xx
 * (other than 408 and 429) will never succeed on retry, so it is a {@link FeedbackRejectedError}
 * the subscriber records and drops; anything else (5xx, 429, 408, network) is transient and
 * thrown on, so the Service Bus trigger retries the message.
 */
import type { FeedbackConfig } from './feedback-config.schema.js';
import type { FeedbackUpdate } from './feedback-mapping.js';

/** Where and as whom to report. */
export interface FeedbackTarget {
  provider: FeedbackConfig['provider'];
  kind: FeedbackConfig['kind'];
  /** API base URL without a trailing slash. */
  baseUrl: string;
  /** GitHub `owner/repo`, GitLab project path or id, Azure DevOps `organization/project/repository`. */
  repository: string;
  token: string;
}

/** One update for one commit. */
export interface FeedbackPost {
  commit: string;
  /** The branch the run came from, when known (GitLab deployments name the ref deployed). */
  ref?: string;
  update: FeedbackUpdate;
  targetUrl?: string;
}

/** Reports updates to one kind of Git host. */
export interface GitHostReporter {
  /** Resolves once the host accepted the update; throws {@link FeedbackRejectedError} or a transient error. */
  report(target: FeedbackTarget, post: FeedbackPost): Promise<void>;
}

/** The host refused the update for good (bad token, no such repository or commit, invalid body). */
export class FeedbackRejectedError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FeedbackRejectedError';
  }
}

/** True for HTTP statuses a retry cannot fix. */
export function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Turns a failed request's HTTP status and message into the right error. */
export function classifyFailure(status: number | undefined, message: string, cause?: unknown): Error {
  if (status !== undefined && isPermanentStatus(status)) return new FeedbackRejectedError(status, message);
  return new Error(status === undefined ? message : `HTTP ${status}: ${message}`, { cause });
}
