/**
 * Where the kubernetes target's cluster credentials come from: a kubeconfig (YAML) held in a
 * setting the environment names (`kubeconfigSetting`) or a sealed secret of the pipeline file
 * (`kubeconfigSecret`, opened with the app's key), or — when it names neither — the in-cluster
 * service account (the token and CA Kubernetes mounts into a pod). Kubeconfigs are parsed once
 * per setting value, and their credentials are handed to the redaction list when loaded.
 */
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeTargetSpec } from '../../domain/pipeline.js';
import { ValidationError } from '../../errors.js';
import type { KubeconfigResolver } from './kubernetes.target.js';

/**
 * A resolver reading kubeconfigs from settings through `readSetting` (the settings catalogue's
 * per-app lookup), falling back to the in-cluster service account.
 */
export function settingKubeconfig(
  readSetting: (name: string) => string | undefined,
  loadInCluster: (kc: KubeConfig) => void = (kc) => kc.loadFromCluster(),
  /** Told every credential value of each kubeconfig loaded (the redaction list). */
  onSecrets: (values: string[]) => void = () => undefined,
  /** Opens a sealed kubeconfig (`kubeconfigSecret:`) with the app's key; absent: sealed kubeconfigs are refused. */
  openSealed?: (app: string, sealed: string, reference: string) => Promise<string>,
): KubeconfigResolver {
  const cache = new Map<string, KubeConfig>();
  let inCluster: KubeConfig | undefined;
  return async (spec: KubeTargetSpec, app?: string) => {
    if (spec.type !== 'kubernetes') throw new Error(`settingKubeconfig serves kubernetes targets, not ${spec.type}`);
    let text: string | undefined;
    let from: string;
    if (spec.kubeconfigSealed) {
      from = spec.kubeconfigSealed.reference;
      if (!openSealed || !app) throw new ValidationError(`the kubeconfig in ${from} cannot be opened here`, [{ path: 'target.kubeconfigSecret', message: 'sealed kubeconfigs need the app and the installation\'s sealed-secrets identity' }]);
      text = await openSealed(app, spec.kubeconfigSealed.sealed, from);
      // The opened kubeconfig is a secret as a whole, whatever else is in it.
      onSecrets([text]);
    } else if (spec.kubeconfigSetting) {
      from = `the setting ${spec.kubeconfigSetting}`;
      text = readSetting(spec.kubeconfigSetting);
      if (!text) throw new ValidationError(`the setting ${spec.kubeconfigSetting} (target.kubeconfigSetting) is not set`, [{ path: 'target.kubeconfigSetting', message: `setting ${spec.kubeconfigSetting} is empty or missing` }]);
    } else {
      if (!inCluster) {
        const kc = new KeepAliveKubeConfig();
        loadInCluster(kc);
        onSecrets(kubeconfigSecrets(kc));
        if (!kc.getCurrentCluster()) throw new ValidationError('no kubeconfigSetting given and Conveyor does not run in a cluster (no service account mounted)', [{ path: 'target.kubeconfigSetting', message: 'name the setting that holds the kubeconfig' }]);
        inCluster = kc;
      }
      return inCluster;
    }
    const key = `${spec.context ?? ''}\u0000${text}`;
    let kc = cache.get(key);
    if (!kc) {
      kc = new KeepAliveKubeConfig();
      const path = spec.kubeconfigSealed ? 'target.kubeconfigSecret' : 'target.kubeconfigSetting';
      try {
        kc.loadFromString(text);
      } catch (err) {
        throw new ValidationError(`${from} does not hold a kubeconfig`, [{ path, message: (err as Error).message }]);
      }
      onSecrets(kubeconfigSecrets(kc));
      if (spec.context) {
        if (!kc.getContextObject(spec.context)) throw new ValidationError(`the kubeconfig in ${from} has no context ${spec.context}`, [{ path: 'target.context', message: `no context named ${spec.context}` }]);
        kc.setCurrentContext(spec.context);
      }
      cache.set(key, kc);
    }
    return kc;
  };
}

/**
 * The credential values of a kubeconfig, for the redaction list: every user's token, password,
 * client key (base64 as written, and the PEM it holds), the tokens and secrets of an
 * auth-provider's config, and the values of an exec plugin's environment. Never the server,
 * CA or client certificate (public).
 */
export function kubeconfigSecrets(kc: KubeConfig): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string' && v.length > 0) out.push(v);
  };
  for (const u of kc.getUsers()) {
    add(u.token);
    add(u.password);
    if (u.keyData) {
      add(u.keyData);
      add(Buffer.from(u.keyData, 'base64').toString('utf8'));
    }
    const provider = u.authProvider as { config?: Record<string, unknown> } | undefined;
    for (const [k, v] of Object.entries(provider?.config ?? {})) if (/token|secret|password|key/i.test(k)) add(v);
    const exec = u.exec as { env?: Array<{ name?: unknown; value?: unknown }> | null } | undefined;
    for (const e of exec?.env ?? []) add(e.value);
  }
  return out;
}

/**
 * A KubeConfig whose API clients reuse TLS connections. `@kubernetes/client-node` builds a new
 * `https.Agent` for every request (so every request paid a TCP and TLS handshake); this one
 * hands each request a keep-alive agent shared by every request with the same TLS options
 * (server CA, client certificate and key, verification settings).
 */
export class KeepAliveKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, https.Agent>();

  override async applySecurityAuthentication(context: Parameters<KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getAgent();
    // Only the plain https case: proxy agents keep their own behaviour.
    if (!fresh || fresh.constructor !== https.Agent) return;
    const o = (fresh as https.Agent).options;
    const key = JSON.stringify([o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername]);
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new https.Agent({ ...o, keepAlive: true, maxSockets: 16 });
      this.agents.set(key, agent);
    }
    context.setAgent(agent);
  }
}
