/**
 * `target: { type: kubernetes, … }` in the pipeline file: the zod schema the pipeline schema
 * puts in its target union (shared/pipeline/pipeline-spec.schema.ts), normalised into
 * {@link KubernetesTargetSpec}. Durations use the pipeline file's syntax (`90s`, `10m`).
 * The normalised specs have schemas too (`kubernetesTargetSpec`, `aksTargetSpec`): the file
 * schemas end in them, and activity inputs carrying a target are checked with them.
 */
import { z } from 'zod';
import type { AcrImageBuildSpec, AksTargetSpec, KubernetesTargetSpec } from '../../domain/pipeline.js';

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const MAX_ROLLOUT_TIMEOUT_MS = 6 * UNITS.h;
const MAX_ROLLOUT_POLL_MS = 10 * UNITS.m;

function duration(description: string, max: number) {
  return z
    .string()
    .regex(/^(\d{1,9})(ms|s|m|h)$/, 'must be a duration such as 500ms, 90s, 15m or 2h')
    .transform((text, ctx) => {
      const m = /^(\d{1,9})(ms|s|m|h)$/.exec(text)!;
      const ms = Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
      if (ms <= 0) ctx.addIssue({ code: 'custom', message: 'must be greater than zero' });
      if (ms > max) ctx.addIssue({ code: 'custom', message: `must be at most ${max / 60_000}m` });
      return ms;
    })
    .describe(description);
}

const baseUrl = z.url({ protocol: /^https?$/ });

/** A DNS-1123 label (namespace names). */
const namespaceName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name: lower-case letters, digits and "-", starting and ending with a letter or digit');

/** A relative path inside the artifact, without `..`. */
const artifactPath = z
  .string()
  .min(1)
  .max(512)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path inside the artifact, without ".."');

/** An image name without tag or digest (`myregistry.azurecr.io/shop/web`). */
const imageName = z
  .string()
  .max(255)
  .regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, 'must be an image name without tag or digest, e.g. myregistry.azurecr.io/shop/web');

/**
 * Names of settings a pipeline may read a kubeconfig from. The repository proposes, the
 * installation disposes: a pipeline file cannot point Conveyor at an arbitrary setting.
 */
export const KUBECONFIG_SETTING_PATTERN = /^CONVEYOR_KUBECONFIG_[A-Z0-9_]{1,64}$/;

/** The shape shared by the kubernetes and aks targets (everything but cluster access). */
export const kubernetesCommonFields = {
  namespace: namespaceName.describe('Namespace every object goes to.'),
  manifests: artifactPath.describe('Folder of *.yaml manifests in the repository, read at the run\'s commit.'),
  image: z
    .strictObject({
      name: imageName.describe('Image the build pushes; containers using it (any tag) are pinned to name@digest.'),
      digestFile: artifactPath.describe('File in the artifact where the build wrote the pushed digest (sha256:…).'),
      registryCheck: z
        .boolean()
        .default(true)
        .describe("Before deploying, ask the image's registry whether it holds the digest (a missing digest fails before anything is applied; an unreachable registry is noted and skipped). Default true."),
    })
    .describe('The image the build pushes, promoted by digest.'),
  forceConflicts: z.boolean().default(false).describe('Take over fields another field manager owns instead of failing. Default false.'),
  prune: z.boolean().default(false).describe("Delete this environment's objects (carrying Conveyor's labels) that the manifests no longer contain. Default false."),
  rolloutTimeout: duration('How long the rollout may take before verification fails. Default 10m.', MAX_ROLLOUT_TIMEOUT_MS).prefault('10m'),
  rolloutPoll: duration('Wait between rollout status reads. Default 5s.', MAX_ROLLOUT_POLL_MS).prefault('5s'),
  url: baseUrl.describe('Base URL where HTTP checks reach the environment.'),
};

const kubeconfigSetting = z.string().regex(KUBECONFIG_SETTING_PATTERN, 'must name a setting CONVEYOR_KUBECONFIG_<NAME> (letters, digits, _)');
const kubeContext = z.string().min(1).max(253);
const subscriptionId = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a subscription id (a GUID)');
const resourceGroupName = z.string().min(1).max(90).regex(/^[-\w._()]+$/, 'must be a resource group name');
const clusterName = z.string().min(1).max(63).regex(/^[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?$/, 'must be an AKS cluster name');
const ms = (max: number) => z.number().int().positive().max(max);

/** The normalised fields shared by both Kubernetes target specs, from the same validators as the file's. */
const kubeDeploySpecFields = {
  namespace: namespaceName,
  manifests: artifactPath,
  image: z.object({ name: imageName, digestFile: artifactPath, registryCheck: z.boolean().optional() }),
  forceConflicts: z.boolean(),
  prune: z.boolean(),
  rolloutTimeoutMs: ms(MAX_ROLLOUT_TIMEOUT_MS),
  rolloutPollMs: ms(MAX_ROLLOUT_POLL_MS),
  url: baseUrl,
};

/** A normalised {@link KubernetesTargetSpec} (what the file schema produces; what activity inputs carry), without its sealed secrets. */
export const kubernetesTargetSpec = z.object({
  type: z.literal('kubernetes'),
  kubeconfigSetting: kubeconfigSetting.optional(),
  kubeconfigSealed: z.object({ secret: z.string().min(1), reference: z.string().min(1), sealed: z.string() }).optional(),
  context: kubeContext.optional(),
  ...kubeDeploySpecFields,
});

/** A normalised {@link AksTargetSpec}, without its sealed secrets. */
export const aksTargetSpec = z.object({
  type: z.literal('aks'),
  subscription: subscriptionId,
  resourceGroup: resourceGroupName,
  cluster: clusterName,
  ...kubeDeploySpecFields,
});

/** `target:` for `type: kubernetes`. */
export const kubernetesTargetFile = z
  .strictObject({
    type: z.literal('kubernetes'),
    kubeconfigSetting: kubeconfigSetting.optional().describe('Setting holding the kubeconfig (YAML). Absent: the in-cluster service account.'),
    kubeconfigSecret: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must name a secret of the top-level secrets')
      .optional()
      .describe('Name of a top-level sealed secret holding the kubeconfig (YAML), instead of kubeconfigSetting.'),
    context: kubeContext.optional().describe('kubeconfig context (default: its current context).'),
    ...kubernetesCommonFields,
  })
  .refine((v) => !(v.kubeconfigSetting && v.kubeconfigSecret), { message: 'name either kubeconfigSetting or kubeconfigSecret, not both', path: ['kubeconfigSecret'] })
  .transform(
    (v): KubernetesTargetSpec => ({
      type: 'kubernetes',
      namespace: v.namespace,
      manifests: v.manifests,
      image: { name: v.image.name, digestFile: v.image.digestFile, ...(v.image.registryCheck ? {} : { registryCheck: false }) },
      ...(v.kubeconfigSetting ? { kubeconfigSetting: v.kubeconfigSetting } : {}),
      // The ciphertext is filled in from the top-level secrets (or the loader, for files).
      ...(v.kubeconfigSecret ? { kubeconfigSealed: { secret: v.kubeconfigSecret, reference: `secrets.${v.kubeconfigSecret} (target.kubeconfigSecret)`, sealed: '' } } : {}),
      ...(v.context ? { context: v.context } : {}),
      forceConflicts: v.forceConflicts,
      prune: v.prune,
      rolloutTimeoutMs: v.rolloutTimeout,
      rolloutPollMs: v.rolloutPoll,
      url: v.url,
    }),
  )
  .pipe(kubernetesTargetSpec);

/** `target:` for `type: aks`: the cluster is found through Azure Resource Manager. */
export const aksTargetFile = z
  .strictObject({
    type: z.literal('aks'),
    subscription: subscriptionId.describe('Subscription id of the cluster.'),
    resourceGroup: resourceGroupName.describe('Resource group of the cluster.'),
    cluster: clusterName.describe('Name of the managed cluster.'),
    ...kubernetesCommonFields,
  })
  .transform(
    (v): AksTargetSpec => ({
      type: 'aks',
      subscription: v.subscription,
      resourceGroup: v.resourceGroup,
      cluster: v.cluster,
      namespace: v.namespace,
      manifests: v.manifests,
      image: { name: v.image.name, digestFile: v.image.digestFile, ...(v.image.registryCheck ? {} : { registryCheck: false }) },
      forceConflicts: v.forceConflicts,
      prune: v.prune,
      rolloutTimeoutMs: v.rolloutTimeout,
      rolloutPollMs: v.rolloutPoll,
      url: v.url,
    }),
  )
  .pipe(aksTargetSpec);

/** True when `path` is `root` or inside it (artifact-relative paths). */
export function coveredBy(path: string, roots: readonly string[]): boolean {
  const norm = (p: string) => p.replace(/^\.\//, '').replace(/\/+$/, '');
  const p = norm(path);
  return roots.some((r) => {
    const root = norm(r);
    return root === '' || root === '.' || p === root || p.startsWith(`${root}/`);
  });
}

/** A repository-relative path (`.` for the root), without `..`. */
const repoPath = z
  .string()
  .min(1)
  .max(512)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a path relative to the repository root, without ".."');

const registryName = z.string().regex(/^[a-zA-Z0-9]{5,50}$/, 'must be a container registry name: 5-50 letters and digits');
const repositoryName = z.string().max(255).regex(/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, 'must be a repository name such as shop/web');
const MAX_IMAGE_BUILD_MS = 8 * UNITS.h;
const MAX_IMAGE_POLL_MS = 10 * UNITS.m;

/** A normalised {@link AcrImageBuildSpec} (what the file schema produces; what the image-build activities' inputs carry). */
export const acrImageBuildSpec = z.object({
  type: z.literal('acr'),
  subscription: subscriptionId,
  resourceGroup: resourceGroupName,
  registry: registryName,
  repository: repositoryName,
  dockerfile: repoPath,
  context: repoPath,
  timeoutMs: ms(MAX_IMAGE_BUILD_MS),
  pollMs: ms(MAX_IMAGE_POLL_MS),
  digestFile: artifactPath,
}) satisfies z.ZodType<AcrImageBuildSpec>;

/** `build.image:` an image built by Azure Container Registry (ACR Tasks) from the run's source. */
export const acrImageBuildFile = z
  .strictObject({
    type: z.literal('acr').default('acr').describe('Who builds the image: `acr` (Azure Container Registry Tasks). Default acr.'),
    subscription: subscriptionId.describe('Subscription id of the registry.'),
    resourceGroup: resourceGroupName.describe('Resource group of the registry.'),
    registry: registryName.describe('The registry resource name (login server <registry>.azurecr.io).'),
    repository: repositoryName.describe('Repository the image is pushed to; the tag is the commit id.'),
    dockerfile: repoPath.default('Dockerfile').describe('Dockerfile, relative to context. Default Dockerfile.'),
    context: repoPath.default('.').describe('Repository folder uploaded as the build context. Default . (the whole tree at the commit).'),
    timeout: duration('How long the image build may take. Default 30m.', MAX_IMAGE_BUILD_MS).prefault('30m'),
    poll: duration('Wait between status reads of the build. Default 5s.', MAX_IMAGE_POLL_MS).prefault('5s'),
    digestFile: artifactPath.default('image.digest').describe('File the pushed digest is written to in the workspace (packed with the artifact). Default image.digest.'),
  })
  .transform(
    (v): AcrImageBuildSpec => ({
      type: 'acr',
      subscription: v.subscription,
      resourceGroup: v.resourceGroup,
      registry: v.registry.toLowerCase(),
      repository: v.repository,
      dockerfile: v.dockerfile,
      context: v.context,
      timeoutMs: v.timeout,
      pollMs: v.poll,
      digestFile: v.digestFile,
    }),
  )
  .pipe(acrImageBuildSpec)
  .describe('An image built from the run\'s source by Azure Container Registry and promoted by digest (docs/kubernetes.md).');

// A field added to a domain type without its spec schema would be stripped from every loaded
// pipeline by the file schema's final spec stage: the key sets must match exactly.
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
const _specsAreExact: [
  SameKeys<z.output<typeof kubernetesTargetSpec>, Omit<KubernetesTargetSpec, 'secrets'>>,
  SameKeys<z.output<typeof aksTargetSpec>, Omit<AksTargetSpec, 'secrets'>>,
  SameKeys<z.output<typeof acrImageBuildSpec>, AcrImageBuildSpec>,
] = [true, true, true];
