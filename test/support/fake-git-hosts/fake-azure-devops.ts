// A protocol-level fake of Azure DevOps' Git commit status API, checking each request the way
// the REST reference documents it:
// POST /{organization}/{project}/_apis/git/repositories/{repositoryId}/commits/{commitId}/statuses?api-version=7.1
// - Basic authentication with a personal access token (any user name, the PAT as password);
//   no credentials get the 203 sign-in page Azure DevOps serves, a wrong PAT 401;
// - `api-version` required (400 VssVersionNotSpecifiedException), and at most 7.1 unless it
//   says -preview;
// - body `state` notSet|pending|succeeded|failed|error|notApplicable, `context.name` required,
//   `context.genre`, `description`, `targetUrl`; unknown repository 404 (TF401019).
import { SHA, startLoopbackServer, type LoopbackServer, type Reply } from './loopback-server.js';

export interface AzureDevOpsStatus {
  id: number;
  state: string;
  description?: string;
  targetUrl?: string;
  context: { name: string; genre?: string };
}

export interface FakeAzureDevOps extends LoopbackServer {
  statuses(repository: string, sha: string): AzureDevOpsStatus[];
  /** The newest state per `genre/name` on a commit. */
  latest(repository: string, sha: string): Record<string, string>;
}

const STATES = ['notSet', 'pending', 'succeeded', 'failed', 'error', 'notApplicable'];

/** Starts the fake; `repositories` maps `organization/project/repository` to its commits. */
export async function startFakeAzureDevOps(options: { pat: string; repositories: Record<string, string[]> }): Promise<FakeAzureDevOps> {
  let nextId = 1;
  const store = new Map<string, AzureDevOpsStatus[]>();
  const server = await startLoopbackServer(({ method, path, query, headers, body }): Reply => {
    const basic = /^Basic (\S+)$/i.exec(String(headers.authorization ?? ''));
    if (!basic) return { status: 203, body: '<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body></body></html>' };
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    if (decoded.slice(decoded.indexOf(':') + 1) !== options.pat) return { status: 401, body: { message: 'Access Denied: the Personal Access Token used has expired or is invalid.' } };
    const m = /^\/([^/]+)\/([^/]+)\/_apis\/git\/repositories\/([^/]+)\/commits\/([^/]+)\/statuses$/.exec(path);
    if (!m || method !== 'POST') return { status: 404, body: { message: 'The controller for path was not found', typeKey: 'ControllerNotFoundException' } };
    const version = query.get('api-version');
    if (!version) {
      return { status: 400, body: { message: 'No api-version was supplied for the "POST" request. The version must be supplied either as part of the Accept header or as a query parameter.', typeKey: 'VssVersionNotSpecifiedException' } };
    }
    const vm = /^(\d+)\.(\d+)(-preview(\.\d+)?)?$/.exec(version);
    if (!vm || (!vm[3] && Number(`${vm[1]}.${vm[2]}`) > 7.1)) return { status: 400, body: { message: `The requested REST API version of ${version} is out of range for this server.`, typeKey: 'VssVersionOutOfRangeException' } };
    const repository = [m[1], m[2], m[3]].map((p) => decodeURIComponent(p!)).join('/');
    const commits = options.repositories[repository];
    if (!commits) return { status: 404, body: { message: `TF401019: The Git repository with name or identifier ${decodeURIComponent(m[3]!)} does not exist or you do not have permissions for the operation you are attempting.`, typeKey: 'GitRepositoryNotFoundException' } };
    const sha = m[4]!;
    if (!SHA.test(sha) || !commits.includes(sha)) return { status: 404, body: { message: `TF401175: The Git commit ${sha} does not exist.`, typeKey: 'GitCommitDoesNotExistException' } };
    if (!String(headers['content-type'] ?? '').startsWith('application/json')) return { status: 415, body: { message: 'Unsupported media type' } };
    const json = (typeof body === 'object' && body) as Record<string, unknown> | false;
    const context = json ? (json.context as { name?: unknown; genre?: unknown } | undefined) : undefined;
    if (!json || !STATES.includes(String(json.state))) return { status: 400, body: { message: 'The status state is invalid.', typeKey: 'InvalidArgumentValueException' } };
    if (!context || typeof context.name !== 'string' || context.name === '') return { status: 400, body: { message: 'Value cannot be null.\r\nParameter name: Context.Name', typeKey: 'ArgumentNullException' } };
    const status: AzureDevOpsStatus = {
      id: nextId++,
      state: String(json.state),
      context: { name: context.name, ...(typeof context.genre === 'string' ? { genre: context.genre } : {}) },
      ...(typeof json.description === 'string' ? { description: json.description } : {}),
      ...(typeof json.targetUrl === 'string' ? { targetUrl: json.targetUrl } : {}),
    };
    const key = `${repository}@${sha}`;
    store.set(key, [...(store.get(key) ?? []), status]);
    return { status: 201, body: { ...status, creationDate: new Date().toISOString(), createdBy: { displayName: 'Conveyor' } } };
  });
  return {
    ...server,
    statuses: (repository, sha) => store.get(`${repository}@${sha}`) ?? [],
    latest(repository, sha) {
      const out: Record<string, string> = {};
      for (const s of store.get(`${repository}@${sha}`) ?? []) out[`${s.context.genre ?? ''}/${s.context.name}`] = s.state;
      return out;
    },
  };
}
