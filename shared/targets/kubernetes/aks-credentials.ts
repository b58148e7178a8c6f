/**
 * Cluster endpoint and credentials of an AKS cluster, from Azure Resource Manager through
 * `@azure/arm-containerservice` with an `@azure/identity` credential (managed identity in Azure).
 *
 * - Clusters with local accounts: the user kubeconfig ARM returns is used as it is.
 * - Entra ID clusters (`aadProfile` set): that kubeconfig names the `kubelogin` exec plugin,
 *   which Conveyor does not run; it keeps the kubeconfig's server and CA and authenticates with
 *   a bearer token for the AKS server application (6dae42f8-4368-4678-94ff-3960e28e3630) from
 *   the same credential. The identity needs a Kubernetes role binding (or Azure RBAC for
 *   Kubernetes) in the namespaces it deploys to.
 *
 * Kubeconfigs are cached per cluster until shortly before the token expires. ARM 429/5xx are
 * retried by the SDK's pipeline; what still fails becomes {@link ClusterUnavailableError}
 * (transient) or a ValidationError naming the cluster and the missing permission (a verdict).
 */
import { ContainerServiceClient, type ContainerServiceClientOptionalParams } from '@azure/arm-containerservice';
import type { TokenCredential } from '@azure/core-auth';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeTargetSpec } from '../../domain/pipeline.js';
import { ValidationError } from '../../errors.js';
import { ClusterUnavailableError } from './kube-api.js';
import { KeepAliveKubeConfig, kubeconfigSecrets } from './kubeconfig.js';
import type { KubeconfigResolver } from './kubernetes.target.js';

/** The Entra ID application every AKS API server accepts tokens for. */
export const AKS_SERVER_APP_ID = '6dae42f8-4368-4678-94ff-3960e28e3630';

/** Collaborators of {@link aksKubeconfig}. */
export interface AksCredentialOptions {
  /** The identity Conveyor acts as (managed identity, workload identity, a service principal). */
  credential: TokenCredential;
  /** ARM client options: endpoint (sovereign clouds, tests), TLS, retry. */
  clientOptions?: ContainerServiceClientOptionalParams;
  /** Refresh this long before the token expires (default 5 minutes). */
  refreshMarginMs?: number;
  /** Told every credential obtained (cluster user kubeconfig values, Entra ID tokens): the redaction list. */
  onSecrets?: (values: string[]) => void;
}

interface Cached {
  kc: KubeConfig;
  expiresAt: number;
}

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message: string;
}

/** A resolver that gets AKS kubeconfigs from ARM (for `type: aks` specs). */
export function aksKubeconfig(options: AksCredentialOptions): KubeconfigResolver {
  const cache = new Map<string, Cached>();
  const clients = new Map<string, ContainerServiceClient>();
  const margin = options.refreshMarginMs ?? 5 * 60_000;
  return async (spec: KubeTargetSpec) => {
    if (spec.type !== 'aks') throw new Error(`aksKubeconfig serves aks targets, not ${spec.type}`);
    const key = `${spec.subscription}/${spec.resourceGroup}/${spec.cluster}`;
    const hit = cache.get(key);
    if (hit && hit.expiresAt - margin > Date.now()) return hit.kc;
    let client = clients.get(spec.subscription);
    if (!client) {
      client = new ContainerServiceClient(options.credential, spec.subscription, options.clientOptions);
      clients.set(spec.subscription, client);
    }
    const where = `AKS cluster ${spec.cluster} (resource group ${spec.resourceGroup}, subscription ${spec.subscription})`;
    const arm = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        const e = err as RestErrorLike;
        if (e.statusCode === 404) throw new ValidationError(`${where} was not found`, [{ path: 'target.cluster', message: `${action}: ${e.code ?? 'NotFound'}` }]);
        if (e.statusCode === 403 || e.statusCode === 401) {
          throw new ValidationError(`Conveyor's identity may not ${action} of ${where} (${e.code ?? e.statusCode}); grant it "Azure Kubernetes Service Cluster User Role" on the cluster`, [
            { path: 'target.cluster', message: e.message.split('\n')[0] ?? 'forbidden' },
          ]);
        }
        throw new ClusterUnavailableError(`Azure Resource Manager failed to ${action} of ${where}: ${e.statusCode ?? e.code ?? ''} ${e.message.split('\n')[0] ?? ''}`.trim(), { cause: err });
      }
    };
    const cluster = await arm('read the managed cluster', () => client.managedClusters.get(spec.resourceGroup, spec.cluster));
    const creds = await arm('list the cluster user credentials', () => client.managedClusters.listClusterUserCredentials(spec.resourceGroup, spec.cluster));
    const raw = creds.kubeconfigs?.[0]?.value;
    if (!raw) throw new ClusterUnavailableError(`Azure Resource Manager returned no kubeconfig for ${where}`);
    const fromArm = new KeepAliveKubeConfig();
    fromArm.loadFromString(Buffer.from(raw).toString('utf8'));
    options.onSecrets?.(kubeconfigSecrets(fromArm));
    const server = fromArm.getCurrentCluster();
    if (!server) throw new ClusterUnavailableError(`the kubeconfig of ${where} names no cluster`);
    let kc: KubeConfig;
    let expiresAt: number;
    if (cluster.aadProfile) {
      const token = await options.credential.getToken(`${AKS_SERVER_APP_ID}/.default`);
      if (!token) throw new ClusterUnavailableError(`no Entra ID token for the AKS server application (${AKS_SERVER_APP_ID}) to reach ${where}`);
      options.onSecrets?.([token.token]);
      kc = new KeepAliveKubeConfig();
      kc.loadFromClusterAndUser({ ...server, name: spec.cluster }, { name: 'conveyor', token: token.token });
      expiresAt = token.expiresOnTimestamp;
    } else {
      kc = fromArm;
      expiresAt = Date.now() + 60 * 60_000;
    }
    cache.set(key, { kc, expiresAt });
    return kc;
  };
}

/** Picks the resolver by spec type: `kubernetes` from settings, `aks` from ARM. */
export function kubeconfigByType(resolvers: { kubernetes: KubeconfigResolver; aks?: KubeconfigResolver }): KubeconfigResolver {
  return async (spec) => {
    if (spec.type === 'aks') {
      if (!resolvers.aks) throw new ValidationError('AKS targets are not configured in this installation', [{ path: 'target.type', message: 'no Azure credential for AKS' }]);
      return resolvers.aks(spec);
    }
    return resolvers.kubernetes(spec);
  };
}
