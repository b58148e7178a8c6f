/**
 * GitHub (and GitHub Enterprise Server) with `@octokit/rest`: commit statuses
 * (`POST /repos/{owner}/{repo}/statuses/{sha}`, context `conveyor[/<environment>]`), or the
 * Deployments API (one deployment per run and environment, found again by its payload's run id
 * so a redelivered event adds a status to the same deployment instead of creating another).
 */
import { Octokit } from '@octokit/rest';
import { classifyFailure, type FeedbackPost, type FeedbackTarget, type GitHostReporter } from './git-host-reporter.js';
import { GITHUB_DEPLOYMENT_STATE, GITHUB_STATUS_STATE, statusContext } from './feedback-mapping.js';

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status;
  return typeof s === 'number' ? s : undefined;
}

/** Reports to GitHub. */
export class GitHubReporter implements GitHostReporter {
  private client(target: FeedbackTarget): Octokit {
    // No retry or throttling plugins: the Service Bus trigger owns retries.
    return new Octokit({ auth: target.token, baseUrl: target.baseUrl, userAgent: 'conveyor-git-feedback', request: { retries: 0 } });
  }

  async report(target: FeedbackTarget, post: FeedbackPost): Promise<void> {
    const [owner, repo] = target.repository.split('/') as [string, string];
    const octokit = this.client(target);
    try {
      if (target.kind === 'deployments' && post.update.environment) await this.deployment(octokit, owner, repo, post);
      else if (target.kind === 'status') {
        await octokit.rest.repos.createCommitStatus({
          owner,
          repo,
          sha: post.commit,
          state: GITHUB_STATUS_STATE[post.update.state],
          context: statusContext(post.update),
          description: post.update.description,
          ...(post.targetUrl ? { target_url: post.targetUrl } : {}),
        });
      }
      // Deployments mode reports environments only: a run is not a deployment.
    } catch (err) {
      throw classifyFailure(statusOf(err), `GitHub: ${(err as Error).message}`, err);
    }
  }

  private async deployment(octokit: Octokit, owner: string, repo: string, post: FeedbackPost): Promise<void> {
    const environment = post.update.environment!;
    const existing = await octokit.rest.repos.listDeployments({ owner, repo, sha: post.commit, environment, per_page: 100 });
    const mine = existing.data.find((d) => typeof d.payload === 'object' && d.payload !== null && (d.payload as Record<string, unknown>).runId === post.update.runId);
    let id = mine?.id;
    if (id === undefined) {
      const created = await octokit.rest.repos.createDeployment({
        owner,
        repo,
        ref: post.commit,
        environment,
        auto_merge: false,
        // Conveyor already ran its own checks; GitHub must not refuse the record for others' statuses.
        required_contexts: [],
        payload: { runId: post.update.runId, app: post.update.app },
        description: `Conveyor run ${post.update.runId}`,
      });
      if (!('id' in created.data)) throw new Error(`GitHub did not create a deployment: ${created.data.message ?? created.status}`);
      id = created.data.id;
    }
    await octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: id,
      state: GITHUB_DEPLOYMENT_STATE[post.update.state],
      description: post.update.description,
      ...(post.targetUrl ? { log_url: post.targetUrl } : {}),
    });
  }
}
