/**
 * The `kubernetes` deploy target: an environment is a namespace of a cluster.
 *
 * deploy: the manifests are code in the app's repository, read at the run's commit; the artifact
 * (the build's output for that commit) holds the file where the build (or the image build)
 * wrote the pushed image's digest. The target validates the manifests,
 * renders them for the revision (namespace, `image@sha256:…`, Conveyor's labels and annotations),
 * and server-side applies them as field manager `conveyor`, config first, workloads after. It
 * does not wait for the rollout: the orchestrator polls {@link KubernetesTarget.rollout} with
 * durable timers. Every environment of a run applies the same digest; a rollback or heal
 * re-applies exactly the manifests the ledger recorded for that revision (same content hash),
 * with the new revision's labels.
 *
 * Expected failures come back as `ok: false` before anything is applied where possible (invalid
 * manifests, no digest, an image the registry lacks) or name what failed (403 naming verb,
 * resource and namespace; a conflict naming field and manager). An unreachable or failing
 * cluster (network, 429, 5xx) is retried with back-off and then thrown as
 * {@link ClusterUnavailableError}: a technical fault the caller retries and finally reports
 * Errored.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeTargetSpec, TargetSpec } from '../../domain/pipeline.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { revisionFromText, type DeployRequest, type DeployResult, type DeployTarget, type StopResult, type TargetStatus } from '../deploy-target.js';
import { ClusterUnavailableError, DEFAULT_RETRY, KubeApi, KubeRequestError, type RetryOptions } from './kube-api.js';
import { ANNOTATIONS, imageName, isImageDigest, kindOf, LABELS, name as nameOf, parseManifests, parseRendered, podSpec, relabelRecorded, renderManifests, SUPPORTED_KINDS, type ManifestObject, type ManifestValue, type RenderedManifests } from './manifests.js';
import type { ImageCheck } from './oci-registry.js';
import { environmentRollout, type RolloutReport } from './rollout.js';

/** A deploy target whose deployments roll out after `deploy` returns (read with {@link KubernetesTarget.rollout}). */
export interface RolloutReader {
  rollout(app: string, environment: string, spec: TargetSpec, revision?: number): Promise<RolloutReport>;
}

/** True for targets that report rollouts (kubernetes, aks). */
export function hasRollout(target: DeployTarget): target is DeployTarget & RolloutReader {
  return typeof (target as Partial<RolloutReader>).rollout === 'function';
}

/** Returns the kubeconfig to use for an environment's spec (`app` opens a sealed kubeconfig with that app's key). */
export type KubeconfigResolver = (spec: KubeTargetSpec, app?: string) => Promise<KubeConfig>;

/** Asks the registry whether it holds an image digest, before anything is applied (oci-registry.ts). */
export type ImageChecker = (imageName: string, digest: string) => Promise<ImageCheck>;

/** Collaborators of {@link KubernetesTarget}. */
export interface KubernetesTargetOptions {
  /** Where cluster credentials come from (a setting's kubeconfig, in-cluster, AKS). */
  kubeconfig: KubeconfigResolver;
  /** The registry check of the image digest (on unless a pipeline's `image.registryCheck` is false); none when absent. */
  imageExists?: ImageChecker;
  /** Back-off for unreachable clusters, 429 and 5xx. */
  retry?: RetryOptions;
  /** The `type` served (`kubernetes`; the AKS target is this class as `aks`). */
  type?: KubeTargetSpec['type'];
}

/** One difference between what the ledger recorded and what runs. */
export interface DriftItem {
  object: string;
  field: string;
  recorded: string;
  live: string;
}

/** Drift of an environment: live objects compared with the recorded manifests. */
export interface DriftReport {
  drifted: boolean;
  items: DriftItem[];
}

type Obj = { [k: string]: ManifestValue };

function meta(o: ManifestObject): Obj {
  return (o['metadata'] ?? {}) as Obj;
}

function selector(app: string, environment: string): string {
  return `${LABELS.managedBy}=conveyor,${LABELS.app}=${app},${LABELS.environment}=${environment}`;
}

/** The kubernetes deploy target. */
export class KubernetesTarget implements DeployTarget<KubeTargetSpec>, RolloutReader {
  readonly type: KubeTargetSpec['type'];
  private readonly retry: RetryOptions;

  constructor(private readonly options: KubernetesTargetOptions) {
    this.type = options.type ?? 'kubernetes';
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /** The environment's URL as the pipeline names it. */
  baseUrl(_app: string, _environment: string, spec: KubeTargetSpec): string {
    return spec.url;
  }

  /** Image digests read from artifacts, by artifact digest and file (immutable). */
  private readonly digests = new Map<string, string>();
  /** Manifest files read from repositories, by app, commit and folder (immutable). */
  private readonly sources = new Map<string, ReadonlyArray<{ file: string; text: string }>>();
  /** One client per kubeconfig (resolvers cache those), so API discovery is read once per process. */
  private readonly apis = new WeakMap<KubeConfig, KubeApi>();

  private async api(spec: KubeTargetSpec, app: string): Promise<KubeApi> {
    const kc = await this.options.kubeconfig(spec, app);
    let api = this.apis.get(kc);
    if (!api) {
      api = new KubeApi(kc, this.retry);
      this.apis.set(kc, api);
    }
    return api;
  }

  /**
   * Validates, renders and server-side applies the revision's manifests: read from the
   * repository at the commit (`request.readRepository`), or, for a rollback or heal, the
   * manifests recorded for the revision deployed again (`request.recorded`), as they were.
   */
  async deploy(request: DeployRequest<KubeTargetSpec>): Promise<DeployResult> {
    const { spec } = request;
    const startedAt = new Date().toISOString();
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-k8s-'));
    try {
      let rendered: RenderedManifests;
      let digest: string;
      const recordedYaml = request.recorded?.['renderedManifests'];
      if (typeof recordedYaml === 'string' && recordedYaml.length > 0) {
        digest = String(request.recorded?.['imageDigest'] ?? '');
        rendered = relabelRecorded(recordedYaml, { revision: String(request.revision), ...(request.runId ? { runId: request.runId } : {}) });
      } else {
        // An artifact and a commit never change: what was read for one environment serves the next.
        const digestKey = `${request.digest}\u0000${spec.image.digestFile}`;
        digest = this.digests.get(digestKey) ?? '';
        if (!digest) {
          await request.materialize(dir);
          const digestPath = safeJoin(dir, spec.image.digestFile);
          digest = digestPath ? (await readFile(digestPath, 'utf8').catch(() => '')).trim() : '';
          if (isImageDigest(digest)) remember(this.digests, digestKey, digest);
        }
        if (!isImageDigest(digest)) {
          return fail(
            digest === ''
              ? `the build reported no image digest: ${spec.image.digestFile} is missing or empty in the artifact; nothing was applied`
              : `the build's image digest in ${spec.image.digestFile} is not sha256:<64 hex digits> ("${digest.slice(0, 80)}"); nothing was applied`,
          );
        }
        if (!request.readRepository) return fail(`the kubernetes target reads the manifests (${spec.manifests}) from the repository at the commit, and this deployment has no repository access; nothing was applied`);
        const sourceKey = `${request.app}\u0000${request.commit}\u0000${spec.manifests}`;
        const files =
          this.sources.get(sourceKey) ??
          (await request.readRepository(spec.manifests, /\.ya?ml$/).catch((err: unknown) => {
            if (err instanceof NotFoundError) throw new ValidationError(`the manifests folder ${spec.manifests} does not exist at commit ${request.commit.slice(0, 12)}`, [{ path: 'target.manifests', message: `${spec.manifests} is not a folder of the repository at that commit` }]);
            throw err;
          }));
        remember(this.sources, sourceKey, files);
        if (files.length === 0) return fail(`no manifests in ${spec.manifests} at commit ${request.commit.slice(0, 12)} (it holds no *.yaml or *.yml files); nothing was applied`);
        rendered = renderManifests(parseManifests(files.map((f) => ({ file: `${spec.manifests}/${f.file}`, text: f.text })), spec.namespace), {
          app: request.app,
          environment: request.environment,
          namespace: spec.namespace,
          revision: String(request.revision),
          commit: request.commit,
          ...(request.runId ? { runId: request.runId } : {}),
          digest: request.digest,
          imageName: spec.image.name,
          imageDigest: digest,
        });
      }
      let registryCheck = 'off (image.registryCheck: false)';
      if (this.options.imageExists && spec.image.registryCheck !== false && isImageDigest(digest)) {
        const found = await this.options.imageExists(spec.image.name, digest);
        if (found.state === 'missing') {
          return fail(`the registry has no image ${spec.image.name}@${digest}: the build reported a digest that was never pushed there; nothing was applied`, [found.detail]);
        }
        registryCheck = found.state === 'present' ? 'present' : `unverified: ${found.reason}`;
      } else if (!this.options.imageExists) registryCheck = 'not configured';
      const api = await this.api(spec, request.app);
      const applied: string[] = [];
      for (const o of rendered.objects) {
        try {
          // A heal takes back what was edited on the cluster: that edit is the drift it repairs.
          await api.apply(o, spec.forceConflicts || request.heal === true);
          applied.push(`${String(o['kind'])}/${nameOf(o)}`);
        } catch (err) {
          if (err instanceof KubeRequestError) {
            return fail(err.message, applied.length > 0 ? [`applied before the failure: ${applied.join(', ')}`] : ['nothing was applied']);
          }
          throw err;
        }
      }
      let pruned: string[] = [];
      if (spec.prune) pruned = await this.prune(api, request.app, request.environment, spec, rendered.objects);
      return {
        ok: true,
        baseUrl: spec.url,
        revision: request.revision,
        startedAt,
        unchanged: false,
        details: {
          namespace: spec.namespace,
          image: `${spec.image.name}@${digest}`,
          imageDigest: digest,
          manifestsHash: rendered.hash,
          registryCheck,
          renderedManifests: rendered.yaml,
          objects: applied.join(', '),
          pruned: pruned.join(', '),
        },
      };
    } catch (err) {
      if (err instanceof ValidationError) return fail(err.message, err.issues.map((i) => `${i.path}${i.line !== undefined ? ` (line ${i.line}, column ${i.column ?? 1})` : ''}: ${i.message}`));
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async prune(api: KubeApi, app: string, environment: string, spec: KubeTargetSpec, keep: readonly ManifestObject[]): Promise<string[]> {
    const wanted = new Set(keep.map((o) => `${String(o['kind'])}/${nameOf(o)}`));
    const removed: string[] = [];
    for (const k of [...SUPPORTED_KINDS].reverse()) {
      for (const live of await api.list(k.apiVersion, k.kind, spec.namespace, selector(app, environment))) {
        const id = `${k.kind}/${String(meta(live)['name'])}`;
        if (wanted.has(id)) continue;
        // Only objects that carry every Conveyor label for this app and environment get here (the selector).
        if (await api.remove(k.apiVersion, k.kind, spec.namespace, String(meta(live)['name']))) removed.push(id);
      }
    }
    return removed;
  }

  /**
   * Reads the rollout of the environment's Deployments once (no waiting). `revision`, when
   * given, must be the one the Deployments carry: anything else is still progressing.
   */
  async rollout(app: string, environment: string, anySpec: TargetSpec, revision?: number): Promise<RolloutReport> {
    if (anySpec.type === 'process' || anySpec.type !== this.type) throw new Error(`the ${this.type} target cannot read a ${anySpec.type} target's rollout`);
    const spec: KubeTargetSpec = anySpec;
    const api = await this.api(spec, app);
    const deployments = await api.list('apps/v1', 'Deployment', spec.namespace, selector(app, environment));
    if (deployments.length === 0) return { state: 'failed', message: `no Deployment of ${app} in namespace ${spec.namespace} (was it deleted?)`, deployments: [] };
    const report = environmentRollout(deployments);
    if (revision !== undefined) {
      const stale = deployments.filter((d) => String(((meta(d)['labels'] ?? {}) as Obj)[LABELS.revision]) !== String(revision));
      if (stale.length > 0) return { state: 'failed', message: `Deployment ${stale.map((d) => String(meta(d)['name'])).join(', ')} no longer carries revision ${revision}: another deployment replaced it`, deployments: report.deployments };
    }
    return report;
  }

  /** What runs in the environment, from its Deployments. */
  async status(app: string, environment: string, spec?: KubeTargetSpec): Promise<TargetStatus> {
    const base: TargetStatus = { app, environment, state: 'absent', running: false, healthy: false, details: {} };
    if (!spec) return { ...base, reason: 'the kubernetes target needs the environment spec to find its cluster' };
    const api = await this.api(spec, app);
    const deployments = await api.list('apps/v1', 'Deployment', spec.namespace, selector(app, environment));
    if (deployments.length === 0) return { ...base, details: { namespace: spec.namespace } };
    const report = environmentRollout(deployments);
    const first = meta(deployments[0]!);
    const annotations = (first['annotations'] ?? {}) as Obj;
    const image = podSpec(deployments[0]!)?.['containers'];
    const common: Pick<TargetStatus, 'revision' | 'commit' | 'digest' | 'baseUrl' | 'details'> = {
      revision: revisionFromText(annotations[ANNOTATIONS.revision]),
      commit: String(annotations[ANNOTATIONS.commit] ?? ''),
      digest: String(annotations[ANNOTATIONS.artifact] ?? ''),
      baseUrl: spec.url,
      details: { namespace: spec.namespace, rollout: report.message, image: Array.isArray(image) ? String((image[0] as Obj | undefined)?.['image'] ?? '') : '' },
    };
    if (report.state === 'failed') return { ...base, ...common, state: 'failed', running: true, healthy: false, reason: report.message };
    const edits = deployments.flatMap(editedOnCluster);
    if (edits.length > 0) common.details = { ...common.details, drift: edits.join('; ') };
    const available = report.deployments.some((d) => d.available > 0);
    return { ...base, ...common, state: 'running', running: available, healthy: report.state === 'complete' };
  }

  /** Deletes every object of the environment that carries Conveyor's labels. */
  async stop(app: string, environment: string, spec?: KubeTargetSpec): Promise<StopResult> {
    if (!spec) return { ok: false, reason: 'the kubernetes target needs the environment spec to find its cluster' };
    try {
      const api = await this.api(spec, app);
      let wasRunning = false;
      let revision: number | undefined;
      for (const k of [...SUPPORTED_KINDS].reverse()) {
        for (const live of await api.list(k.apiVersion, k.kind, spec.namespace, selector(app, environment))) {
          if (k.kind === 'Deployment') {
            wasRunning = true;
            revision ??= revisionFromText(((meta(live)['labels'] ?? {}) as Obj)[LABELS.revision]);
          }
          await api.remove(k.apiVersion, k.kind, spec.namespace, String(meta(live)['name']));
        }
      }
      return { ok: true, wasRunning, ...(revision !== undefined ? { revision } : {}) };
    } catch (err) {
      if (err instanceof KubeRequestError || err instanceof ClusterUnavailableError) return { ok: false, reason: err.message };
      throw err;
    }
  }

  /**
   * Compares live objects with the manifests recorded for the current revision: each object
   * present, its content hash annotation, and for Deployments the image of every container and
   * the replica count. Objects carrying Conveyor's labels that the record lacks are drift too.
   */
  async drift(app: string, environment: string, spec: KubeTargetSpec, recordedYaml: string): Promise<DriftReport> {
    const api = await this.api(spec, app);
    const recorded = parseRendered(recordedYaml);
    const items: DriftItem[] = [];
    for (const r of recorded) {
      const id = `${String(r['kind'])}/${nameOf(r)}`;
      const live = await api.read(String(r['apiVersion']), String(r['kind']), spec.namespace, nameOf(r));
      if (!live) {
        items.push({ object: id, field: '(object)', recorded: 'present', live: 'missing' });
        continue;
      }
      const hash = (o: ManifestObject) => String(((meta(o)['annotations'] ?? {}) as Obj)[ANNOTATIONS.hash] ?? '');
      if (hash(live) !== hash(r)) items.push({ object: id, field: `metadata.annotations.${ANNOTATIONS.hash}`, recorded: hash(r), live: hash(live) || '(none)' });
      if (kindOf(r).podTemplate) {
        const want = containerImages(r);
        const have = containerImages(live);
        for (const [c, img] of want) if (have.get(c) !== img) items.push({ object: id, field: `spec.template.spec.containers[${c}].image`, recorded: img, live: have.get(c) ?? '(none)' });
        const replicas = (o: ManifestObject) => {
          const v = ((o['spec'] ?? {}) as Obj)['replicas'];
          return typeof v === 'number' ? v : 1;
        };
        if (replicas(live) !== replicas(r)) items.push({ object: id, field: 'spec.replicas', recorded: String(replicas(r)), live: String(replicas(live)) });
      }
    }
    const known = new Set(recorded.map((r) => `${String(r['kind'])}/${nameOf(r)}`));
    for (const k of SUPPORTED_KINDS) {
      for (const live of await api.list(k.apiVersion, k.kind, spec.namespace, selector(app, environment))) {
        const id = `${k.kind}/${String(meta(live)['name'])}`;
        if (!known.has(id)) items.push({ object: id, field: '(object)', recorded: 'absent', live: 'present' });
      }
    }
    return { drifted: items.length > 0, items };
  }
}

/** Differences between a live workload and what Conveyor applied (its image and replicas annotations). */
function editedOnCluster(live: ManifestObject): string[] {
  const m = meta(live);
  const annotations = (m['annotations'] ?? {}) as Obj;
  const out: string[] = [];
  const pinned = annotations[ANNOTATIONS.image];
  if (typeof pinned === 'string') {
    for (const [c, img] of containerImages(live)) {
      if (imageName(img) === imageName(pinned) && img !== pinned) out.push(`${String(live['kind'])} ${String(m['name'])} container ${c} runs ${img} instead of ${pinned}`);
    }
  }
  const replicas = annotations[ANNOTATIONS.replicas];
  const liveReplicas = ((live['spec'] ?? {}) as Obj)['replicas'];
  if (typeof replicas === 'string' && String(liveReplicas) !== replicas) out.push(`${String(live['kind'])} ${String(m['name'])} has ${String(liveReplicas)} replicas instead of ${replicas}`);
  return out;
}

function containerImages(o: ManifestObject): Map<string, string> {
  const out = new Map<string, string>();
  const containers = podSpec(o)?.['containers'];
  if (Array.isArray(containers)) for (const c of containers as Obj[]) out.set(String(c['name']), String(c['image']));
  return out;
}

/** Keeps `value` under `key`, dropping the oldest entries beyond a few dozen. */
function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  cache.set(key, value);
  while (cache.size > 64) cache.delete(cache.keys().next().value!);
}

function fail(reason: string, details: string[] = []): DeployResult {
  return { ok: false, reason, logTail: details.join('\n') };
}

/** `rel` inside `root`, or undefined when it would leave it. */
function safeJoin(root: string, rel: string): string | undefined {
  const p = normalize(join(root, rel));
  return p === root || p.startsWith(`${root}/`) ? p : undefined;
}

/** The image name a spec pins (exported for the AKS target and the docs' examples). */
export function pinnedImage(spec: KubeTargetSpec, digest: string): string {
  return `${imageName(spec.image.name)}@${digest}`;
}
