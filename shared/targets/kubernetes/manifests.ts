/**
 * Kubernetes manifests of an environment: read from a folder of YAML, validated (kinds,
 * namespaces, names) with every problem at its file, line and column, and rendered for one
 * revision: the namespace set, the build's image pinned by digest (a Kustomize-style image
 * override), and Conveyor's labels and annotations on every object.
 *
 * Rendering is deterministic (objects sorted in apply order, keys as written), so the same
 * artifact and environment always give the same manifests, and their hash identifies them.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, stringify, type Document } from 'yaml';
import { ValidationError, type ValidationIssue } from '../../errors.js';

/** A JSON value as manifests hold it. */
export type ManifestValue = null | boolean | number | string | ManifestValue[] | { [key: string]: ManifestValue };
/** One Kubernetes object (a parsed manifest document). */
export type ManifestObject = { [key: string]: ManifestValue };

/** A kind the kubernetes target deploys, with where it sits in the apply order. */
export interface SupportedKind {
  apiVersion: string;
  kind: string;
  /** Plural resource name (paths, RBAC rules, messages). */
  resource: string;
  /** The API group ('' for core), for RBAC rules. */
  group: string;
  /** Lower applies first: config before the workloads that mount it. */
  order: number;
  /** Has a pod template whose images are pinned. */
  podTemplate: boolean;
}

/** The kinds manifests may contain: namespaced application objects only (no cluster-wide kinds). */
export const SUPPORTED_KINDS: readonly SupportedKind[] = [
  { apiVersion: 'v1', kind: 'ServiceAccount', resource: 'serviceaccounts', group: '', order: 0, podTemplate: false },
  { apiVersion: 'v1', kind: 'ConfigMap', resource: 'configmaps', group: '', order: 1, podTemplate: false },
  { apiVersion: 'v1', kind: 'Secret', resource: 'secrets', group: '', order: 1, podTemplate: false },
  { apiVersion: 'v1', kind: 'Service', resource: 'services', group: '', order: 2, podTemplate: false },
  { apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments', group: 'apps', order: 3, podTemplate: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', resource: 'ingresses', group: 'networking.k8s.io', order: 4, podTemplate: false },
];

/** Labels Conveyor puts on every object it applies (selectors for status, drift and prune). */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  app: 'conveyor.dev/app',
  environment: 'conveyor.dev/environment',
  revision: 'conveyor.dev/revision',
} as const;

/** Annotations Conveyor puts on every object it applies. */
export const ANNOTATIONS = {
  app: 'conveyor.dev/app',
  environment: 'conveyor.dev/environment',
  revision: 'conveyor.dev/revision',
  commit: 'conveyor.dev/commit',
  run: 'conveyor.dev/run',
  artifact: 'conveyor.dev/artifact-digest',
  /** sha256 of the object as rendered, without the per-revision labels and annotations. */
  hash: 'conveyor.dev/manifest-hash',
  /** Workloads: the pinned image as applied (a direct edit of the image shows against it). */
  image: 'conveyor.dev/image',
  /** Workloads: the replica count as applied (when the manifest sets one). */
  replicas: 'conveyor.dev/replicas',
} as const;

/** One manifest document with where it came from. */
export interface SourcedObject {
  file: string;
  /** 0-based index of the document in its file. */
  index: number;
  object: ManifestObject;
}

/** Largest manifest folder read (sum of file sizes). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Reads every `*.yaml` / `*.yml` under `dir` (recursively, sorted) and validates the objects. */
export async function readManifestFolder(dir: string, namespace: string, label = dir): Promise<SourcedObject[]> {
  const files: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new ValidationError(`the manifests folder ${label} does not exist in the artifact`, [{ path: 'target.manifests', message: `${label} is not a folder of the artifact (list it among build.artifact)` }]);
      throw err;
    });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.isFile() && /\.ya?ml$/.test(e.name)) files.push(join(d, e.name));
    }
  };
  await walk(dir);
  let total = 0;
  const sources: Array<{ file: string; text: string }> = [];
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    total += Buffer.byteLength(text);
    if (total > MAX_MANIFEST_BYTES) throw new ValidationError(`the manifests in ${label} exceed ${MAX_MANIFEST_BYTES} bytes`, [{ path: relative(dir, f), message: 'manifest folder too large' }]);
    sources.push({ file: relative(dir, f), text });
  }
  if (sources.length === 0) throw new ValidationError(`no manifests in ${label}`, [{ path: 'target.manifests', message: `${label} holds no *.yaml or *.yml files` }]);
  return parseManifests(sources, namespace);
}

/**
 * Parses and validates manifest texts: each document a map with a supported `apiVersion`/`kind`,
 * a valid `metadata.name`, no namespace but `namespace`, no duplicate kind/name, and at least one
 * Deployment (what rollout verification watches). Reports every problem at once.
 */
export function parseManifests(sources: ReadonlyArray<{ file: string; text: string }>, namespace: string): SourcedObject[] {
  const issues: ValidationIssue[] = [];
  const out: SourcedObject[] = [];
  const seen = new Map<string, string>();
  for (const { file, text } of sources) {
    const lc = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [];
    if (!Array.isArray(docs)) {
      issues.push({ path: file, message: 'not a YAML stream', line: 1, column: 1 });
      continue;
    }
    list.forEach((doc, index) => {
      const at = (path: readonly (string | number)[], keyOf?: string) => locate(doc, lc, path, keyOf);
      const issue = (path: readonly (string | number)[], message: string, keyOf?: string) => issues.push({ path: `${file}#${index + 1} ${path.join('.') || '(document)'}`, message, ...at(path, keyOf) });
      if (doc.errors.length > 0) {
        for (const e of doc.errors) {
          const { line, col } = lc.linePos(e.pos[0]);
          issues.push({ path: `${file}#${index + 1}`, message: e.message.split('\n')[0] ?? 'YAML error', line, column: col });
        }
        return;
      }
      const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
      if (value === null || value === undefined) return; // an empty document (e.g. a trailing ---)
      if (typeof value !== 'object' || Array.isArray(value)) {
        issue([], 'a manifest must be a map (an object)');
        return;
      }
      const obj = value as ManifestObject;
      const kind = SUPPORTED_KINDS.find((k) => k.apiVersion === obj['apiVersion'] && k.kind === obj['kind']);
      if (typeof obj['apiVersion'] !== 'string') issue(['apiVersion'], 'Required: a string such as apps/v1', obj['apiVersion'] === undefined ? 'apiVersion' : undefined);
      if (typeof obj['kind'] !== 'string') issue(['kind'], 'Required: a string such as Deployment');
      else if (!kind) {
        issue(['kind'], `${String(obj['apiVersion'])} ${obj['kind']} is not deployed by the kubernetes target (supported: ${SUPPORTED_KINDS.map((k) => `${k.apiVersion} ${k.kind}`).join(', ')})`);
      }
      const meta = obj['metadata'];
      if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
        issue(['metadata'], 'Required: a map with at least `name`');
        return;
      }
      const name = meta['name'];
      if (typeof name !== 'string' || name.length === 0) issue(['metadata', 'name'], 'Required: the object name');
      else if (name.length > 253 || !NAME.test(name)) issue(['metadata', 'name'], `"${name}" is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`);
      const ns = meta['namespace'];
      if (ns !== undefined && ns !== namespace) issue(['metadata', 'namespace'], `namespace ${JSON.stringify(ns)} differs from the environment's namespace "${namespace}" (leave it out, or write "${namespace}")`);
      if (typeof name === 'string' && kind) {
        const key = `${kind.kind}/${name}`;
        const first = seen.get(key);
        if (first) issue(['metadata', 'name'], `${key} is already defined at ${first}`);
        else seen.set(key, `${file}#${index + 1}`);
      }
      if (kind?.kind === 'Deployment') {
        const spec = (obj['spec'] ?? {}) as { [k: string]: ManifestValue };
        const containers = podSpec(obj)?.['containers'];
        if (!Array.isArray(containers) || containers.length === 0) issue(['spec', 'template', 'spec', 'containers'], 'Required: at least one container');
        if (spec['replicas'] !== undefined && (typeof spec['replicas'] !== 'number' || !Number.isInteger(spec['replicas']) || spec['replicas'] < 0)) issue(['spec', 'replicas'], 'must be a whole number of at least 0');
      }
      out.push({ file, index, object: obj });
    });
  }
  if (issues.length === 0 && !out.some((o) => o.object['kind'] === 'Deployment')) {
    issues.push({ path: 'target.manifests', message: 'the manifests hold no Deployment: rollout verification needs at least one' });
  }
  if (issues.length > 0) throw new ValidationError(`invalid Kubernetes manifests: ${issues.length} problem${issues.length === 1 ? '' : 's'}`, issues);
  return out;
}

/** What a revision is rendered with. */
export interface RenderContext {
  app: string;
  environment: string;
  namespace: string;
  revision: string;
  commit: string;
  runId?: string;
  digest: string;
  /** Image name (no tag) whose containers are pinned. */
  imageName: string;
  /** `sha256:<64 hex>` of the image the build pushed. */
  imageDigest: string;
}

/** Rendered manifests of one revision. */
export interface RenderedManifests {
  objects: ManifestObject[];
  /** Multi-document YAML of `objects` (what the ledger records). */
  yaml: string;
  /** sha256 over every object's content hash: identifies the manifests independent of revision. */
  hash: string;
}

/** The image name of a reference, without tag or digest (`registry:5000/team/web:1.2` -> `registry:5000/team/web`). */
export function imageName(ref: string): string {
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** True for `sha256:` and 64 lower-case hex digits. */
export function isImageDigest(s: string): boolean {
  return /^sha256:[a-f0-9]{64}$/.test(s);
}

/**
 * Renders validated manifests for one revision. Throws ValidationError when the digest is not a
 * digest or no container uses the image (so nothing is applied).
 */
export function renderManifests(sources: readonly SourcedObject[], ctx: RenderContext): RenderedManifests {
  if (!isImageDigest(ctx.imageDigest)) {
    throw new ValidationError(`the image digest "${ctx.imageDigest}" is not a sha256 digest: nothing was applied`, [{ path: 'target.image.digestFile', message: 'must hold sha256:<64 hex digits>' }]);
  }
  const pinned = `${ctx.imageName}@${ctx.imageDigest}`;
  let uses = 0;
  const objects = [...sources]
    .sort((a, b) => kindOf(a.object).order - kindOf(b.object).order || `${a.object['kind']}/${name(a.object)}`.localeCompare(`${b.object['kind']}/${name(b.object)}`))
    .map(({ object }) => {
      const o = structuredClone(object);
      const meta = o['metadata'] as { [k: string]: ManifestValue };
      meta['namespace'] = ctx.namespace;
      if (kindOf(o).podTemplate) {
        const spec = podSpec(o);
        for (const list of ['initContainers', 'containers']) {
          const containers = spec?.[list];
          if (!Array.isArray(containers)) continue;
          for (const c of containers) {
            if (c && typeof c === 'object' && !Array.isArray(c) && typeof c['image'] === 'string' && imageName(c['image']) === ctx.imageName) {
              c['image'] = pinned;
              uses += 1;
            }
          }
        }
      }
      const annotationsEarly = asMap((meta['annotations'] ??= {}));
      if (kindOf(o).podTemplate) {
        annotationsEarly[ANNOTATIONS.image] = pinned;
        const replicas = (o['spec'] as { [k: string]: ManifestValue } | undefined)?.['replicas'];
        if (typeof replicas === 'number') annotationsEarly[ANNOTATIONS.replicas] = String(replicas);
      }
      const labels = asMap((meta['labels'] ??= {}));
      labels[LABELS.managedBy] = 'conveyor';
      labels[LABELS.app] = ctx.app;
      labels[LABELS.environment] = ctx.environment;
      const annotations = asMap((meta['annotations'] ??= {}));
      annotations[ANNOTATIONS.app] = ctx.app;
      annotations[ANNOTATIONS.environment] = ctx.environment;
      annotations[ANNOTATIONS.hash] = contentHash(o);
      labels[LABELS.revision] = ctx.revision;
      annotations[ANNOTATIONS.revision] = ctx.revision;
      annotations[ANNOTATIONS.commit] = ctx.commit;
      annotations[ANNOTATIONS.artifact] = ctx.digest;
      if (ctx.runId) annotations[ANNOTATIONS.run] = ctx.runId;
      return o;
    });
  if (uses === 0) {
    throw new ValidationError(`no container in the manifests uses the image ${ctx.imageName}: nothing was applied`, [{ path: 'target.image.name', message: `no Deployment container has an image named ${ctx.imageName}` }]);
  }
  const hash = `sha256:${createHash('sha256').update(objects.map((o) => String((o['metadata'] as { annotations: Record<string, string> }).annotations[ANNOTATIONS.hash])).join('\n')).digest('hex')}`;
  return { objects, yaml: objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'), hash };
}

/**
 * Recorded manifests (a ledger record's `renderedManifests`) made ready to apply again as a new
 * revision: only the revision label and the revision and run annotations change, so the content
 * hashes (and the manifests' hash) stay those of the recorded revision.
 */
export function relabelRecorded(yaml: string, ctx: { revision: string; runId?: string }): RenderedManifests {
  const objects = parseRendered(yaml).map((o) => {
    const c = structuredClone(o);
    const meta = asMap((c['metadata'] ??= {}));
    asMap((meta['labels'] ??= {}))[LABELS.revision] = ctx.revision;
    const annotations = asMap((meta['annotations'] ??= {}));
    annotations[ANNOTATIONS.revision] = ctx.revision;
    if (ctx.runId) annotations[ANNOTATIONS.run] = ctx.runId;
    return c;
  });
  if (objects.length === 0) throw new ValidationError('the recorded manifests are empty: nothing was applied', [{ path: 'renderedManifests', message: 'no objects' }]);
  const hash = `sha256:${createHash('sha256').update(objects.map((o) => String(asMap(asMap(o['metadata'] ?? {})['annotations'] ?? {})[ANNOTATIONS.hash] ?? '')).join('\n')).digest('hex')}`;
  return { objects, yaml: objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'), hash };
}

/** Parses rendered manifests back (from a ledger record). */
export function parseRendered(yaml: string): ManifestObject[] {
  return parseAllDocuments(yaml)
    .map((d) => (d as Document).toJS() as ManifestObject | null)
    .filter((o): o is ManifestObject => o !== null && typeof o === 'object');
}

/** The content hash of an object, ignoring Conveyor's per-revision metadata. */
export function contentHash(o: ManifestObject): string {
  const c = structuredClone(o);
  const meta = asMap(c['metadata'] ?? {});
  const labels = asMap(meta['labels'] ?? {});
  const annotations = asMap(meta['annotations'] ?? {});
  delete labels[LABELS.revision];
  for (const k of [ANNOTATIONS.revision, ANNOTATIONS.commit, ANNOTATIONS.run, ANNOTATIONS.artifact, ANNOTATIONS.hash]) delete annotations[k];
  return `sha256:${createHash('sha256').update(canonical(c)).digest('hex')}`;
}

/** The supported kind of an object (validated objects only). */
export function kindOf(o: ManifestObject): SupportedKind {
  const k = SUPPORTED_KINDS.find((s) => s.apiVersion === o['apiVersion'] && s.kind === o['kind']);
  if (!k) throw new Error(`unsupported kind ${String(o['apiVersion'])} ${String(o['kind'])}`);
  return k;
}

/** `metadata.name` of an object. */
export function name(o: ManifestObject): string {
  return String(asMap(o['metadata'] ?? {})['name']);
}

/** The pod spec of a Deployment (or undefined). */
export function podSpec(o: ManifestObject): { [k: string]: ManifestValue } | undefined {
  const spec = o['spec'];
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return undefined;
  const template = spec['template'];
  if (!template || typeof template !== 'object' || Array.isArray(template)) return undefined;
  const ps = template['spec'];
  return ps && typeof ps === 'object' && !Array.isArray(ps) ? ps : undefined;
}

function asMap(v: ManifestValue): { [k: string]: ManifestValue } {
  if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  throw new Error('expected a map');
}

function canonical(v: ManifestValue): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k]!)}`).join(',')}}`;
  return JSON.stringify(v);
}

function locate(doc: Document, lc: LineCounter, path: readonly (string | number)[], keyOf?: string): { line: number; column: number } {
  let node: unknown = doc.contents;
  let best = { line: 1, column: 1 };
  const mark = (n: unknown) => {
    const range = (n as { range?: [number, number, number] } | null)?.range;
    if (range) {
      const { line, col } = lc.linePos(range[0]);
      best = { line, column: col };
    }
  };
  mark(node);
  const segments = keyOf !== undefined ? [...path.slice(0, -1)] : path;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      mark(pair.key);
      node = pair.value;
      mark(node);
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      mark(node);
    } else return best;
  }
  return best;
}
