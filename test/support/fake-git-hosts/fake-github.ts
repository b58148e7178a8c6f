// A protocol-level fake of GitHub's REST API (the parts Conveyor's feedback uses), checking
// each request the way GitHub documents it:
// - auth `Authorization: token <t>` or `Bearer <t>` (else 401 "Bad credentials"); a User-Agent
//   is required (else 403); JSON bodies;
// - POST /repos/{owner}/{repo}/statuses/{sha}: state error|failure|pending|success, optional
//   target_url, description, context (default "default"); unknown repository 404, unknown
//   commit 422 "No commit found for SHA";
// - GET/POST /repos/{owner}/{repo}/deployments (ref required; without required_contexts GitHub
//   checks every status of the commit and answers 409 unless all succeeded) and
//   POST /repos/{owner}/{repo}/deployments/{id}/statuses with state
//   error|failure|inactive|in_progress|queued|pending|success.
import { SHA, startLoopbackServer, type LoopbackServer, type Reply } from './loopback-server.js';

export interface GitHubStatus {
  id: number;
  sha: string;
  state: string;
  context: string;
  description?: string;
  target_url?: string;
}

export interface GitHubDeployment {
  id: number;
  sha: string;
  ref: string;
  environment: string;
  payload: unknown;
  description?: string;
  statuses: { id: number; state: string; description?: string; log_url?: string }[];
}

export interface FakeGitHub extends LoopbackServer {
  /** Statuses posted to a commit, oldest first. */
  statuses(repo: string, sha: string): GitHubStatus[];
  /** The latest state of each context on a commit. */
  latest(repo: string, sha: string): Record<string, string>;
  deployments(repo: string): GitHubDeployment[];
}

const STATUS_STATES = ['error', 'failure', 'pending', 'success'];
const DEPLOYMENT_STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];

const problem = (status: number, message: string, extra: Record<string, unknown> = {}): Reply => ({
  status,
  body: { message, documentation_url: 'https://docs.github.com/rest', status: String(status), ...extra },
});

/** Starts the fake; `repos` maps `owner/repo` to the commits it has; `token` is the one accepted. */
export async function startFakeGitHub(options: { token: string; repos: Record<string, string[]> }): Promise<FakeGitHub> {
  let nextId = 1;
  const statuses = new Map<string, GitHubStatus[]>();
  const deployments = new Map<string, GitHubDeployment[]>();
  const server = await startLoopbackServer(({ method, path, query, headers, body }) => {
    const auth = /^(?:token|bearer) (\S+)$/i.exec(String(headers.authorization ?? ''));
    if (!auth || auth[1] !== options.token) return problem(401, 'Bad credentials');
    if (!headers['user-agent']) return problem(403, 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header');
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(.+)$/.exec(path);
    if (!m) return problem(404, 'Not Found');
    const repo = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const commits = options.repos[repo];
    if (!commits) return problem(404, 'Not Found');
    const rest = m[3]!;
    const json = (body ?? {}) as Record<string, unknown>;
    if (method === 'POST' && !String(headers['content-type'] ?? '').startsWith('application/json')) return problem(415, 'Unsupported Media Type');
    if (method === 'POST' && (typeof body !== 'object' || body === null)) return problem(400, 'Problems parsing JSON');

    let s = /^statuses\/([^/]+)$/.exec(rest);
    if (s && method === 'POST') {
      const sha = s[1]!;
      if (!SHA.test(sha) || !commits.includes(sha)) return problem(422, `No commit found for SHA: ${sha}`);
      if (!STATUS_STATES.includes(String(json.state))) return problem(422, 'Validation Failed', { errors: [{ resource: 'Status', field: 'state', code: 'custom', message: `state is not included in the list` }] });
      for (const f of ['context', 'description', 'target_url']) if (json[f] !== undefined && json[f] !== null && typeof json[f] !== 'string') return problem(422, `Invalid request. For '${f}', ${JSON.stringify(json[f])} is not a string.`);
      const status: GitHubStatus = {
        id: nextId++,
        sha,
        state: String(json.state),
        context: typeof json.context === 'string' ? json.context : 'default',
        ...(typeof json.description === 'string' ? { description: json.description } : {}),
        ...(typeof json.target_url === 'string' ? { target_url: json.target_url } : {}),
      };
      const key = `${repo}@${sha}`;
      statuses.set(key, [...(statuses.get(key) ?? []), status]);
      return { status: 201, body: { ...status, url: `${server.url}${path}`, created_at: new Date().toISOString() } };
    }
    const list = deployments.get(repo) ?? [];
    if (rest === 'deployments' && method === 'GET') {
      const out = list.filter((d) => (!query.get('sha') || d.sha === query.get('sha')) && (!query.get('environment') || d.environment === query.get('environment')));
      return { status: 200, body: out.map(({ statuses: _s, ...d }) => d).reverse() };
    }
    if (rest === 'deployments' && method === 'POST') {
      if (typeof json.ref !== 'string') return problem(422, 'Invalid request. "ref" wasn\'t supplied.');
      const sha = json.ref;
      if (!commits.includes(sha)) return problem(422, `No ref found for: ${sha}`);
      if (json.required_contexts !== undefined && !Array.isArray(json.required_contexts)) return problem(422, 'Invalid request. For \'required_contexts\', not an array.');
      if (json.required_contexts === undefined) {
        const bad = (statuses.get(`${repo}@${sha}`) ?? []).filter((st) => st.state !== 'success');
        if (bad.length > 0) return problem(409, 'Conflict: Commit status checks failed for ' + sha, { errors: bad.map((b) => ({ contexts: [{ context: b.context, state: b.state }], resource: 'Deployment', field: 'required_contexts', code: 'invalid' })) });
      }
      const d: GitHubDeployment = {
        id: nextId++,
        sha,
        ref: sha,
        environment: typeof json.environment === 'string' ? json.environment : 'production',
        payload: json.payload ?? {},
        ...(typeof json.description === 'string' ? { description: json.description } : {}),
        statuses: [],
      };
      deployments.set(repo, [...list, d]);
      const { statuses: _s, ...shown } = d;
      return { status: 201, body: shown };
    }
    s = /^deployments\/(\d+)\/statuses$/.exec(rest);
    if (s && method === 'POST') {
      const d = list.find((x) => x.id === Number(s![1]));
      if (!d) return problem(404, 'Not Found');
      if (!DEPLOYMENT_STATES.includes(String(json.state))) return problem(422, 'Validation Failed', { errors: [{ resource: 'DeploymentStatus', field: 'state', code: 'invalid' }] });
      const st = { id: nextId++, state: String(json.state), ...(typeof json.description === 'string' ? { description: json.description } : {}), ...(typeof json.log_url === 'string' ? { log_url: json.log_url } : {}) };
      d.statuses.push(st);
      return { status: 201, body: { ...st, environment: d.environment } };
    }
    return problem(404, 'Not Found');
  });
  return {
    ...server,
    statuses: (repo, sha) => statuses.get(`${repo}@${sha}`) ?? [],
    latest(repo, sha) {
      const out: Record<string, string> = {};
      for (const st of statuses.get(`${repo}@${sha}`) ?? []) out[st.context] = st.state;
      return out;
    },
    deployments: (repo) => deployments.get(repo) ?? [],
  };
}
