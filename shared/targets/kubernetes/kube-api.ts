/**
 * The few Kubernetes API calls the kubernetes target makes, through `@kubernetes/client-node`'s
 * generic object client (discovery-driven, so any supported kind works), with the target's
 * fault policy:
 *
 * - an unreachable cluster, 429 and 5xx are retried with exponential back-off (honouring
 *   `Retry-After`), then surface as {@link ClusterUnavailableError} (a transient fault: the
 *   activity throws it, the durable retry policy retries, and the run ends Errored with it);
 * - 403 becomes a {@link KubeRequestError} naming the verb, resource and namespace Conveyor
 *   lacks; a server-side apply conflict names each field and the manager that owns it; other
 *   4xx keep the API server's Status message.
 */
import * as k8s from '@kubernetes/client-node';
import type { ManifestObject, ManifestValue } from './manifests.js';

/** Back-off for transient faults. */
export interface RetryOptions {
  /** Tries in all (default 4). */
  attempts: number;
  /** First wait (default 250 ms); doubles each time. */
  baseMs: number;
  /** Longest wait (default 4 s), also the cap on `Retry-After`. */
  maxMs: number;
}

/** The default back-off: 4 tries over about 2 s. */
export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseMs: 250, maxMs: 4000 };

/** The cluster could not be reached or kept failing (network, 429, 5xx) after every retry. */
export class ClusterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClusterUnavailableError';
  }
}

/** What a request was about, for messages. */
export interface RequestSubject {
  verb: 'get' | 'list' | 'patch' | 'delete';
  apiVersion: string;
  kind: string;
  namespace: string;
  name?: string;
}

/** A 4xx answer that retrying cannot fix, described for humans. */
export class KubeRequestError extends Error {
  constructor(
    message: string,
    /** HTTP status of the answer. */
    readonly status: number,
    /** The API's `reason` (Forbidden, Conflict, Invalid, NotFound…). */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeRequestError';
  }
}

interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: Array<{ field?: string; message?: string; reason?: string }> };
}

function statusBody(err: k8s.ApiException<unknown>): StatusBody {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as StatusBody;
}

const RESOURCE_OF: Record<string, string> = {
  Deployment: 'deployments',
  Service: 'services',
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  ServiceAccount: 'serviceaccounts',
  Ingress: 'ingresses',
};

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
}

/** Turns a non-transient API error into a message naming what failed. */
export function describeRequestError(err: k8s.ApiException<unknown>, s: RequestSubject): KubeRequestError {
  const body = statusBody(err);
  const what = `${s.kind}${s.name ? ` ${s.name}` : 's'} in namespace ${s.namespace}`;
  if (err.code === 403) {
    const group = groupOf(s.apiVersion);
    const resource = RESOURCE_OF[s.kind] ?? `${s.kind.toLowerCase()}s`;
    return new KubeRequestError(
      `forbidden: Conveyor may not ${s.verb} ${resource}${group ? ` (API group ${group})` : ''} in namespace ${s.namespace}; grant verb "${s.verb}" on resource "${resource}" in a Role there${body.message ? ` (API server: ${body.message})` : ''}`,
      403,
      'Forbidden',
      { cause: err },
    );
  }
  if (err.code === 409 && body.details?.causes?.some((c) => c.reason === 'FieldManagerConflict')) {
    const fields = body.details.causes.filter((c) => c.reason === 'FieldManagerConflict').map((c) => `${c.field ?? '?'} (managed by ${(c.message ?? '').replace(/^conflict with /, '')})`);
    return new KubeRequestError(
      `server-side apply conflict on ${what}: ${fields.join(', ')} ${fields.length === 1 ? 'is' : 'are'} owned by another field manager; change the manifests to match, remove the other manager's edit, or set forceConflicts: true to take ${fields.length === 1 ? 'it' : 'them'} over`,
      409,
      'Conflict',
      { cause: err },
    );
  }
  if (err.code === 401) return new KubeRequestError(`the cluster rejected Conveyor's credentials (401) while trying to ${s.verb} ${what}`, 401, 'Unauthorized', { cause: err });
  return new KubeRequestError(`${s.verb} ${what} failed (${err.code}${body.reason ? ` ${body.reason}` : ''}): ${body.message ?? err.message}`, err.code, body.reason ?? 'Unknown', { cause: err });
}

function isTransient(err: unknown): boolean {
  if (err instanceof k8s.ApiException) return err.code === 429 || err.code >= 500;
  // Network-level failures (refused, reset, DNS, TLS handshake cut short) from the fetch layer.
  return err instanceof Error;
}

function retryAfterMs(err: unknown): number | undefined {
  if (!(err instanceof k8s.ApiException)) return undefined;
  const h = (err.headers ?? {}) as Record<string, string>;
  const v = h['retry-after'] ?? h['Retry-After'];
  const s = v === undefined ? NaN : Number(v);
  return Number.isFinite(s) ? s * 1000 : undefined;
}

function describeTransient(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body = statusBody(err);
    return `${err.code}${body.reason ? ` ${body.reason}` : ''}${body.message ? `: ${body.message}` : ''}`;
  }
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}

/** JSON round trip: client-node hands back class instances with Date fields. */
function plain<T>(v: unknown): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** A connection to one cluster with the target's fault policy. */
export class KubeApi {
  private readonly objects: k8s.KubernetesObjectApi;
  /** The API server URL (for messages). */
  readonly server: string;

  constructor(
    kc: k8s.KubeConfig,
    private readonly retry: RetryOptions = DEFAULT_RETRY,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.server = kc.getCurrentCluster()?.server ?? '(unknown cluster)';
  }

  /** Server-side apply as field manager `conveyor`. */
  async apply(obj: ManifestObject, force: boolean): Promise<ManifestObject> {
    const s = subject('patch', obj);
    return this.call(s, async () => plain<ManifestObject>(await this.objects.patch(obj as unknown as k8s.KubernetesObject, undefined, undefined, 'conveyor', force, k8s.PatchStrategy.ServerSideApply)));
  }

  /** Reads one object; undefined when it does not exist. */
  async read(apiVersion: string, kind: string, namespace: string, name: string): Promise<ManifestObject | undefined> {
    const s: RequestSubject = { verb: 'get', apiVersion, kind, namespace, name };
    return this.call(s, async () => {
      try {
        return plain<ManifestObject>(await this.objects.read({ apiVersion, kind, metadata: { name, namespace } }));
      } catch (err) {
        if (err instanceof k8s.ApiException && err.code === 404) return undefined;
        throw err;
      }
    });
  }

  /** Lists objects of a kind in a namespace by label selector. */
  async list(apiVersion: string, kind: string, namespace: string, labelSelector: string): Promise<ManifestObject[]> {
    const s: RequestSubject = { verb: 'list', apiVersion, kind, namespace };
    return this.call(s, async () => {
      const res = await this.objects.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector);
      // List items carry no apiVersion/kind on the wire; put them back for the caller.
      return plain<ManifestObject[]>(res.items).map((o) => ({ ...o, apiVersion, kind }) as ManifestObject);
    });
  }

  /** Deletes one object (in the background: dependants go too); a missing object is fine. */
  async remove(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean> {
    const s: RequestSubject = { verb: 'delete', apiVersion, kind, namespace, name };
    return this.call(s, async () => {
      try {
        await this.objects.delete({ apiVersion, kind, metadata: { name, namespace } }, undefined, undefined, undefined, undefined, 'Background');
        return true;
      } catch (err) {
        if (err instanceof k8s.ApiException && err.code === 404) return false;
        throw err;
      }
    });
  }

  private async call<T>(s: RequestSubject, fn: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof k8s.ApiException && !isTransient(err)) throw describeRequestError(err, s);
        if (!isTransient(err)) throw err;
        last = err;
        if (attempt === this.retry.attempts) break;
        const backoff = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (attempt - 1));
        await this.sleep(Math.min(this.retry.maxMs, retryAfterMs(err) ?? backoff));
      }
    }
    throw new ClusterUnavailableError(
      `the Kubernetes API at ${this.server} kept failing (${describeTransient(last)}) for ${s.verb} ${s.kind}${s.name ? ` ${s.name}` : 's'} in namespace ${s.namespace}; gave up after ${this.retry.attempts} tries`,
      { cause: last },
    );
  }
}

function subject(verb: RequestSubject['verb'], obj: ManifestObject): RequestSubject {
  const meta = (obj['metadata'] ?? {}) as { [k: string]: ManifestValue };
  return { verb, apiVersion: String(obj['apiVersion']), kind: String(obj['kind']), namespace: String(meta['namespace'] ?? ''), name: String(meta['name'] ?? '') };
}
