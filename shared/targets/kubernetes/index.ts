/**
 * The kubernetes deploy target: manifests (read, validated, rendered), the API client with its
 * fault policy, rollout reading, and where credentials come from.
 */
export { KubernetesTarget, hasRollout, type RolloutReader, type KubernetesTargetOptions, type KubeconfigResolver, type ImageChecker, type DriftItem, type DriftReport } from './kubernetes.target.js';
export { settingKubeconfig, kubeconfigSecrets } from './kubeconfig.js';
export { ClusterUnavailableError, KubeRequestError, DEFAULT_RETRY, type RetryOptions } from './kube-api.js';
export { environmentRollout, deploymentRollout, type RolloutReport, type DeploymentRollout } from './rollout.js';
export { parseManifests, readManifestFolder, renderManifests, parseRendered, SUPPORTED_KINDS, LABELS, ANNOTATIONS, type ManifestObject, type RenderedManifests } from './manifests.js';
