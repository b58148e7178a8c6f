/**
 * GitLab (gitlab.com or a self-managed server) with `@gitbeaker/rest`:
 *
 * - `status`: commit statuses (`POST /api/v4/projects/:id/statuses/:sha`, `name`
 *   `conveyor[/<environment>]`). GitLab answers 400 "Cannot transition status ..." when a status
 *   already has the state posted; for a redelivered event that means it is already reported, so
 *   it counts as done.
 * - `deployments`: the Deployments API, one deployment per commit and environment (one run per
 *   commit), so the environment's page shows what runs there. The first update creates it
 *   (`POST /projects/:id/deployments` with `environment`, `sha`, `ref` — the run's branch —,
 *   `tag: false` and `status` `created` while waiting for approval or `running`); later ones move
 *   it (`PUT /projects/:id/deployments/:deployment_id`, `status` `running` → `success` /
 *   `failed` / `canceled`). The deployment is found again by listing the environment's
 *   deployments for the commit; one already in the wanted or a finished state is left alone, so
 *   a redelivered event changes nothing. Runs as a whole are not deployments: only environment
 *   updates are reported in this mode.
 */
import { Gitlab } from '@gitbeaker/rest';
import { classifyFailure, type FeedbackPost, type FeedbackTarget, type GitHostReporter } from './git-host-reporter.js';
import { GITLAB_DEPLOYMENT_STATE, GITLAB_STATE, statusContext } from './feedback-mapping.js';

const FINISHED = new Set(['success', 'failed', 'canceled']);

async function failure(err: unknown): Promise<{ status?: number; message: string }> {
  const response = (err as { cause?: { response?: Response } }).cause?.response;
  const description = (err as { cause?: { description?: string } }).cause?.description;
  return { status: response?.status, message: description ?? (err as Error).message };
}

/** Reports to GitLab. */
export class GitLabReporter implements GitHostReporter {
  async report(target: FeedbackTarget, post: FeedbackPost): Promise<void> {
    const api = new Gitlab({ host: target.baseUrl, token: target.token });
    if (target.kind === 'deployments') {
      if (!post.update.environment) return;
      try {
        await this.deployment(api, target.repository, post);
      } catch (err) {
        const { status, message } = await failure(err);
        throw classifyFailure(status, `GitLab: ${message}`, err);
      }
      return;
    }
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

  private async deployment(api: InstanceType<typeof Gitlab>, project: string, post: FeedbackPost): Promise<void> {
    const environment = post.update.environment!;
    const want = GITLAB_DEPLOYMENT_STATE[post.update.state];
    const listed = await api.Deployments.all(project, { environment, orderBy: 'id', sort: 'desc', perPage: 100, maxPages: 1 } as Parameters<typeof api.Deployments.all>[1]);
    const mine = (listed as { id: number; sha: string; status: string }[]).find((d) => d.sha === post.commit);
    if (!mine) {
      await api.Deployments.create(project, environment, post.commit, post.ref ?? post.commit, false, { status: want as 'running' });
      return;
    }
    if (mine.status === want || FINISHED.has(mine.status) || want === 'created') return;
    await api.Deployments.edit(project, mine.id, want);
  }
}
