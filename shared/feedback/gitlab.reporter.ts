/**
 * GitLab (gitlab.com or a self-managed server) with `@gitbeaker/rest`: commit statuses
 * (`POST /api/v4/projects/:id/statuses/:sha`, `name` `conveyor[/<environment>]`). GitLab
 * answers 400 "Cannot transition status ..." when a status already has the state posted; for a
 * redelivered event that means it is already reported, so it counts as done.
 */
import { Gitlab } from '@gitbeaker/rest';
import { classifyFailure, type FeedbackPost, type FeedbackTarget, type GitHostReporter } from './git-host-reporter.js';
import { GITLAB_STATE, statusContext } from './feedback-mapping.js';

async function failure(err: unknown): Promise<{ status?: number; message: string }> {
  const response = (err as { cause?: { response?: Response } }).cause?.response;
  const description = (err as { cause?: { description?: string } }).cause?.description;
  return { status: response?.status, message: description ?? (err as Error).message };
}

/** Reports to GitLab. */
export class GitLabReporter implements GitHostReporter {
  async report(target: FeedbackTarget, post: FeedbackPost): Promise<void> {
    const api = new Gitlab({ host: target.baseUrl, token: target.token });
    try {
      await api.Commits.editStatus(target.repository, post.commit, GITLAB_STATE[post.update.state], {
        name: statusContext(post.update),
        description: post.update.description,
        ...(post.targetUrl ? { targetUrl: post.targetUrl } : {}),
      });
    } catch (err) {
      const { status, message } = await failure(err);
      if (status === 400 && /cannot transition status/i.test(message)) return;
      throw classifyFailure(status, `GitLab: ${message}`, err);
    }
  }
}
