/**
 * Where the kubernetes target's cluster credentials come from: a kubeconfig (YAML) held in a
 * setting the environment names (`kubeconfigSetting`), or — when it names none — the in-cluster
 * service account (the token and CA Kubernetes mounts into a pod). Kubeconfigs are parsed once
 * per setting value.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeTargetSpec } from '../../domain/pipeline.js';
import { ValidationError } from '../../errors.js';
import type { KubeconfigResolver } from './kubernetes.target.js';

/**
 * A resolver reading kubeconfigs from settings through `readSetting` (the settings catalogue's
 * per-app lookup), falling back to the in-cluster service account.
 */
export function settingKubeconfig(readSetting: (name: string) => string | undefined, loadInCluster: (kc: KubeConfig) => void = (kc) => kc.loadFromCluster()): KubeconfigResolver {
  const cache = new Map<string, KubeConfig>();
  return async (spec: KubeTargetSpec) => {
    if (spec.type !== 'kubernetes') throw new Error(`settingKubeconfig serves kubernetes targets, not ${spec.type}`);
    if (!spec.kubeconfigSetting) {
      const kc = new KubeConfig();
      loadInCluster(kc);
      if (!kc.getCurrentCluster()) throw new ValidationError('no kubeconfigSetting given and Conveyor does not run in a cluster (no service account mounted)', [{ path: 'target.kubeconfigSetting', message: 'name the setting that holds the kubeconfig' }]);
      return kc;
    }
    const text = readSetting(spec.kubeconfigSetting);
    if (!text) throw new ValidationError(`the setting ${spec.kubeconfigSetting} (target.kubeconfigSetting) is not set`, [{ path: 'target.kubeconfigSetting', message: `setting ${spec.kubeconfigSetting} is empty or missing` }]);
    const key = `${spec.context ?? ''}\u0000${text}`;
    let kc = cache.get(key);
    if (!kc) {
      kc = new KubeConfig();
      try {
        kc.loadFromString(text);
      } catch (err) {
        throw new ValidationError(`the setting ${spec.kubeconfigSetting} does not hold a kubeconfig`, [{ path: 'target.kubeconfigSetting', message: (err as Error).message }]);
      }
      if (spec.context) {
        if (!kc.getContextObject(spec.context)) throw new ValidationError(`the kubeconfig in ${spec.kubeconfigSetting} has no context ${spec.context}`, [{ path: 'target.context', message: `no context named ${spec.context}` }]);
        kc.setCurrentContext(spec.context);
      }
      cache.set(key, kc);
    }
    return kc;
  };
}
