// The resources the fake Kubernetes API server serves, with the discovery documents built
// from them (legacy discovery: /api, /apis, /api/v1, /apis/<group>/<version>).

/** One served resource (a row of an APIResourceList). */
export interface ResourceDef {
  /** API group ('' for the core group). */
  group: string;
  version: string;
  /** Plural resource name as it appears in paths. */
  resource: string;
  kind: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Has a `status` subresource: writes to the main resource ignore `status`. */
  status: boolean;
  /** Whether changes to the spec bump `metadata.generation`. */
  generation: boolean;
  /** Extra subresources served (besides `status`). */
  subresources?: string[];
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** What the fake serves. */
export const RESOURCES: readonly ResourceDef[] = [
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', singular: 'namespace', namespaced: false, shortNames: ['ns'], status: true, generation: false },
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', singular: 'pod', namespaced: true, shortNames: ['po'], status: true, generation: false, subresources: ['log'] },
  { group: '', version: 'v1', resource: 'services', kind: 'Service', singular: 'service', namespaced: true, shortNames: ['svc'], status: true, generation: false },
  { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', singular: 'configmap', namespaced: true, shortNames: ['cm'], status: false, generation: false },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', singular: 'secret', namespaced: true, status: false, generation: false },
  { group: '', version: 'v1', resource: 'serviceaccounts', kind: 'ServiceAccount', singular: 'serviceaccount', namespaced: true, shortNames: ['sa'], status: false, generation: false },
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', singular: 'deployment', namespaced: true, shortNames: ['deploy'], status: true, generation: true },
  { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job', singular: 'job', namespaced: true, status: true, generation: true },
  { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', kind: 'Ingress', singular: 'ingress', namespaced: true, shortNames: ['ing'], status: true, generation: true },
];

/** `apps/v1`, or `v1` for the core group. */
export function groupVersion(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** The resource definition for a group/version and plural name. */
export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** The resource definition for an apiVersion and kind. */
export function findKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
}

/** GET /api */
export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

/** GET /apis */
export function apiGroupList(): object {
  const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const versions = [...new Set(RESOURCES.filter((r) => r.group === name).map((r) => r.version))].map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions, preferredVersion: versions[0] };
    }),
  };
}

/** GET /apis/<group> */
export function apiGroup(name: string): object | undefined {
  const versions = [...new Set(RESOURCES.filter((r) => r.group === name).map((r) => r.version))].map((version) => ({ groupVersion: `${name}/${version}`, version }));
  if (versions.length === 0) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions, preferredVersion: versions[0] };
}

/** GET /api/v1 or /apis/<group>/<version>; undefined when nothing is served there. */
export function apiResourceList(group: string, version: string): object | undefined {
  const defs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (defs.length === 0) return undefined;
  const resources: object[] = [];
  for (const d of defs) {
    resources.push({ name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: ALL_VERBS, ...(d.shortNames ? { shortNames: d.shortNames } : {}) });
    if (d.status) resources.push({ name: `${d.resource}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
    for (const sub of d.subresources ?? []) resources.push({ name: `${d.resource}/${sub}`, singularName: '', namespaced: d.namespaced, kind: sub === 'log' ? 'Pod' : d.kind, verbs: ['get'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources };
}

/** GET /openapi/v3: where each group version's OpenAPI v3 document lives. */
export function openapiV3Root(): object {
  const paths: Record<string, object> = {};
  for (const gv of new Set(RESOURCES.map((r) => groupVersion(r)))) {
    const p = gv === 'v1' ? 'api/v1' : `apis/${gv}`;
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=conveyor-fake` };
  }
  return { paths };
}

/**
 * GET /openapi/v3/api/v1 or /openapi/v3/apis/<group>/<version>: the operations only (no
 * schemas), each with its `x-kubernetes-group-version-kind` and query parameters, which is
 * what kubectl reads to learn that the server validates fields itself (`fieldValidation`).
 */
export function openapiV3Spec(group: string, version: string): object | undefined {
  const defs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (defs.length === 0) return undefined;
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const query = (names: string[]) => names.map((name) => ({ name, in: 'query', schema: { type: name === 'force' ? 'boolean' : 'string' }, uniqueItems: true }));
  const paths: Record<string, object> = {};
  for (const d of defs) {
    const item = d.namespaced ? `${prefix}/namespaces/{namespace}/${d.resource}/{name}` : `${prefix}/${d.resource}/{name}`;
    const gvk = { group: d.group, version: d.version, kind: d.kind };
    const op = (action: string, params: string[]) => ({ operationId: `${action}${d.kind}`, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk, parameters: query(params), responses: { '200': { description: 'OK' } } });
    paths[item] = {
      get: op('get', ['pretty']),
      put: op('put', ['dryRun', 'fieldManager', 'fieldValidation']),
      patch: op('patch', ['dryRun', 'fieldManager', 'fieldValidation', 'force']),
      delete: op('delete', ['dryRun', 'gracePeriodSeconds', 'propagationPolicy']),
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths };
}
