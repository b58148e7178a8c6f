// A protocol-level fake of GitLab's commit status API, checking each request the way GitLab
// documents it: POST /api/v4/projects/:id/statuses/:sha, where :id is a numeric id or the
// URL-encoded project path; `PRIVATE-TOKEN: <t>` or `Authorization: Bearer <t>` (else 401);
// `state` pending|running|success|failed|canceled (else 400), `name` (default "default"),
// `target_url`, `description`; parameters as JSON, form or query string.
//
// It keeps GitLab's state machine for generic statuses: a status of the same name still
// pending or running is updated (`enqueue`, `run`, `success`, `drop`, `cancel` transitions), a
// finished one is left alone and a new one begins; an impossible transition (pending again,
// running again, pending after running) answers 400 "Cannot transition status via :X from :Y".
//
// The Deployments API as GitLab documents it: GET /api/v4/projects/:id/deployments (filters
// `environment`, `status`; `order_by` id|iid|created_at|updated_at|finished_at|ref, `sort`
// asc|desc); POST /api/v4/projects/:id/deployments with `environment`, `sha`, `ref`, `tag`
// (boolean) and `status` (created|running|success|failed|canceled), all required (else 400);
// PUT /api/v4/projects/:id/deployments/:deployment_id with `status` running|success|failed|canceled,
// following the deployment state machine (run: created → running; succeed, drop, cancel: from
// created or running; anything else 400).
import { SHA, startLoopbackServer, type LoopbackServer, type Reply } from './loopback-server.js';

export interface GitLabStatus {
  id: number;
  sha: string;
  name: string;
  status: string;
  description?: string;
  target_url?: string;
}

export interface GitLabDeployment {
  id: number;
  iid: number;
  sha: string;
  ref: string;
  tag: boolean;
  status: string;
  environment: string;
}

export interface FakeGitLab extends LoopbackServer {
  deployments(project: string): GitLabDeployment[];
  statuses(project: string, sha: string): GitLabStatus[];
  /** The state of the newest status of each name on a commit. */
  latest(project: string, sha: string): Record<string, string>;
}

const STATES = ['pending', 'running', 'success', 'failed', 'canceled'];
const EVENT: Record<string, string> = { pending: 'enqueue', running: 'run', success: 'success', failed: 'drop', canceled: 'cancel' };

/** Starts the fake; `projects` maps a project path to its numeric id and commits. */
export async function startFakeGitLab(options: { token: string; projects: Record<string, { id: number; commits: string[] }> }): Promise<FakeGitLab> {
  let nextId = 100;
  const store = new Map<string, GitLabStatus[]>();
  const deployments = new Map<string, GitLabDeployment[]>();
  let nextDeployment = 500;
  const DEPLOYMENT_STATES = ['created', 'running', 'success', 'failed', 'canceled'];
  const deploymentsRoute = (method: string, id: string, deploymentId: number | undefined, query: URLSearchParams, body: unknown): Reply => {
    const entry = Object.entries(options.projects).find(([p, v]) => p === id || String(v.id) === id);
    if (!entry) return { status: 404, body: { message: '404 Project Not Found' } };
    const [project, { commits }] = entry;
    const list = deployments.get(project) ?? [];
    const params: Record<string, unknown> = { ...Object.fromEntries(query), ...((typeof body === 'object' && body) || {}) };
    const view = (x: GitLabDeployment) => ({ id: x.id, iid: x.iid, sha: x.sha, ref: x.ref, status: x.status, environment: { name: x.environment }, created_at: new Date().toISOString() });
    if (method === 'GET' && deploymentId === undefined) {
      const orderBy = query.get('order_by') ?? 'id';
      if (!['id', 'iid', 'created_at', 'updated_at', 'finished_at', 'ref'].includes(orderBy)) return { status: 400, body: { error: 'order_by does not have a valid value' } };
      const sort = query.get('sort') ?? 'asc';
      if (sort !== 'asc' && sort !== 'desc') return { status: 400, body: { error: 'sort does not have a valid value' } };
      let out = list.filter((x) => (query.has('environment') ? x.environment === query.get('environment') : true) && (query.has('status') ? x.status === query.get('status') : true));
      out = [...out].sort((a, b) => (sort === 'asc' ? a.id - b.id : b.id - a.id));
      return { status: 200, body: out.map(view) };
    }
    if (method === 'POST' && deploymentId === undefined) {
      for (const k of ['environment', 'sha', 'ref', 'tag', 'status']) if (params[k] === undefined) return { status: 400, body: { error: `${k} is missing` } };
      const tag = params.tag === true || params.tag === 'true' ? true : params.tag === false || params.tag === 'false' ? false : undefined;
      if (tag === undefined) return { status: 400, body: { error: 'tag is invalid' } };
      if (!DEPLOYMENT_STATES.includes(String(params.status))) return { status: 400, body: { error: 'status does not have a valid value' } };
      const sha = String(params.sha);
      if (!SHA.test(sha) || !commits.includes(sha)) return { status: 400, body: { message: { sha: ['is not a commit of this project'] } } };
      const created: GitLabDeployment = { id: nextDeployment++, iid: list.length + 1, sha, ref: String(params.ref), tag, status: String(params.status), environment: String(params.environment) };
      deployments.set(project, [...list, created]);
      return { status: 201, body: view(created) };
    }
    if (method === 'PUT' && deploymentId !== undefined) {
      const found = list.find((x) => x.id === deploymentId);
      if (!found) return { status: 404, body: { message: '404 Deployment Not Found' } };
      const want = String(params.status ?? '');
      if (!['running', 'success', 'failed', 'canceled'].includes(want)) return { status: 400, body: { error: 'status does not have a valid value' } };
      const ok = want === 'running' ? found.status === 'created' : found.status === 'created' || found.status === 'running';
      if (!ok) return { status: 400, body: { message: `Cannot transition status via :${{ running: 'run', success: 'succeed', failed: 'drop', canceled: 'cancel' }[want]} from :${found.status}` } };
      found.status = want;
      return { status: 200, body: view(found) };
    }
    return { status: 405, body: { error: '405 Method Not Allowed' } };
  };
  const server = await startLoopbackServer(({ method, path, query, headers, body }): Reply => {
    const token = headers['private-token'] ?? /^Bearer (\S+)$/i.exec(String(headers.authorization ?? ''))?.[1];
    if (token !== options.token) return { status: 401, body: { message: '401 Unauthorized' } };
    const d = /^\/api\/v4\/projects\/([^/]+)\/deployments(?:\/(\d+))?$/.exec(path);
    if (d) return deploymentsRoute(method, decodeURIComponent(d[1]!), d[2] === undefined ? undefined : Number(d[2]), query, body);
    const m = /^\/api\/v4\/projects\/([^/]+)\/statuses\/([^/]+)$/.exec(path);
    if (!m || method !== 'POST') return { status: 404, body: { error: '404 Not Found' } };
    const id = decodeURIComponent(m[1]!);
    const entry = Object.entries(options.projects).find(([p, v]) => p === id || String(v.id) === id);
    if (!entry) return { status: 404, body: { message: '404 Project Not Found' } };
    const [project, { commits }] = entry;
    const sha = m[2]!;
    if (!SHA.test(sha) || !commits.includes(sha)) return { status: 404, body: { message: '404 Commit Not Found' } };
    const params: Record<string, unknown> = { ...Object.fromEntries(query), ...((typeof body === 'object' && body) || {}) };
    if (params.state === undefined) return { status: 400, body: { error: 'state is missing' } };
    if (!STATES.includes(String(params.state))) return { status: 400, body: { error: 'state does not have a valid value' } };
    const name = typeof params.name === 'string' ? params.name : typeof params.context === 'string' ? params.context : 'default';
    const key = `${project}@${sha}`;
    const list = store.get(key) ?? [];
    let status = [...list].reverse().find((s) => s.name === name && (s.status === 'pending' || s.status === 'running'));
    const fresh = !status;
    status ??= { id: nextId++, sha, name, status: 'created' };
    const want = String(params.state);
    const from = status.status;
    const ok =
      want === 'pending' ? from === 'created' : want === 'running' ? from === 'created' || from === 'pending' : ['created', 'pending', 'running'].includes(from);
    if (!ok) return { status: 400, body: { message: `Cannot transition status via :${EVENT[want]} from :${from}` } };
    status.status = want;
    if (typeof params.description === 'string') status.description = params.description;
    if (typeof params.target_url === 'string') status.target_url = params.target_url;
    if (fresh) store.set(key, [...list, status]);
    return { status: 201, body: { ...status, ref: null, allow_failure: false, created_at: new Date().toISOString() } };
  });
  return {
    ...server,
    statuses: (project, sha) => store.get(`${project}@${sha}`) ?? [],
    deployments: (project) => deployments.get(project) ?? [],
    latest(project, sha) {
      const out: Record<string, string> = {};
      for (const s of store.get(`${project}@${sha}`) ?? []) out[s.name] = s.status;
      return out;
    },
  };
}
