/**
 * Azure DevOps (Services or Server) through its documented REST API with `fetch`:
 * `POST {organization}/{project}/_apis/git/repositories/{repository}/commits/{sha}/statuses?api-version=7.1`,
 * Basic authentication with a personal access token, context `{ name, genre: 'conveyor' }`.
 *
 * Not `azure-devops-node-api`: that client first discovers every route through the location
 * service (`OPTIONS _apis/Location`, `GET _apis/resourceAreas`, `OPTIONS _apis/git`) and
 * negotiates the api-version from what the server advertises (it asks for 7.2-preview), where
 * the documented contract is one POST pinned to api-version 7.1 (see the README's libraries table).
 */
import { classifyFailure, type FeedbackPost, type FeedbackTarget, type GitHostReporter } from './git-host-reporter.js';
import { AZURE_DEVOPS_STATE } from './feedback-mapping.js';

/** Reports to Azure DevOps. */
export class AzureDevOpsReporter implements GitHostReporter {
  constructor(private readonly timeoutMs = 15_000) {}

  async report(target: FeedbackTarget, post: FeedbackPost): Promise<void> {
    const [organization, project, repository] = target.repository.split('/').map((p) => encodeURIComponent(p)) as [string, string, string];
    const url = `${target.baseUrl}/${organization}/${project}/_apis/git/repositories/${repository}/commits/${encodeURIComponent(post.commit)}/statuses?api-version=7.1`;
    const body = {
      state: AZURE_DEVOPS_STATE[post.update.state],
      description: post.update.description,
      context: { name: post.update.environment ?? 'run', genre: 'conveyor' },
      ...(post.targetUrl ? { targetUrl: post.targetUrl } : {}),
    };
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`:${target.token}`).toString('base64')}`,
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': 'conveyor-git-feedback',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'manual',
      });
    } catch (err) {
      throw classifyFailure(undefined, `Azure DevOps: ${(err as Error).message}`, err);
    }
    // 203 is how Azure DevOps answers a PAT it did not accept: a sign-in page, not the API.
    if (res.status === 200 || res.status === 201) {
      await res.arrayBuffer();
      return;
    }
    const text = (await res.text().catch(() => '')).slice(0, 500);
    let message = text;
    try {
      message = String((JSON.parse(text) as { message?: unknown }).message ?? text);
    } catch {
      /* not JSON: keep the text */
    }
    // A sign-in page (203) or a redirect to one means the PAT was not accepted.
    throw classifyFailure(res.status === 203 || (res.status >= 300 && res.status < 400) ? 401 : res.status, `Azure DevOps: HTTP ${res.status} ${message}`);
  }
}
