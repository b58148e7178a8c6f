/**
 * Connections the way the Azure Functions host resolves them, so one setting scheme serves the
 * host's own bindings and Conveyor's clients. A connection named `X` is either
 * - a connection string in the setting `X` (local emulators: Azurite, the Service Bus emulator), or
 * - identity-based: settings `X__<property>` naming the endpoint (`X__accountName`,
 *   `X__blobServiceUri` / `X__serviceUri` for storage; `X__fullyQualifiedNamespace` for Service
 *   Bus; `X__vaultUri` for Key Vault), with `X__credential=managedidentity` and `X__clientId`
 *   choosing a (user-assigned) managed identity. Without `__credential`, the default credential
 *   chain is used (developer sign-in locally, workload or managed identity in Azure).
 * The host also accepts `:` as the separator (`X:accountName`); environment variables on Linux
 * use `__`, and both are read here.
 */
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';

/** How to authenticate an identity-based connection. */
export interface IdentityOptions {
  /** `managedidentity` to use the managed identity only (as in Azure); absent = default chain. */
  credential?: 'managedidentity';
  /** Client id of a user-assigned managed identity. */
  clientId?: string;
}

/** A resolved connection: a secret connection string, or an endpoint reached with an identity. */
export type Connection =
  | { kind: 'connectionString'; name: string; connectionString: string }
  | { kind: 'identity'; name: string; endpoint: string; identity: IdentityOptions };

type Env = Readonly<Record<string, string | undefined>>;

function prop(env: Env, name: string, property: string): string | undefined {
  const wanted = [`${name}__${property}`, `${name}:${property}`].map((k) => k.toLowerCase());
  for (const [k, v] of Object.entries(env)) if (v && v.trim() !== '' && wanted.includes(k.toLowerCase())) return v.trim();
  return undefined;
}

function identityOf(env: Env, name: string): IdentityOptions {
  const credential = prop(env, name, 'credential');
  const clientId = prop(env, name, 'clientId');
  return {
    ...(credential && credential.toLowerCase() === 'managedidentity' ? { credential: 'managedidentity' as const } : {}),
    ...(clientId ? { clientId } : {}),
  };
}

/** Which service a connection is for (decides the identity-based endpoint properties). */
export type ConnectionService = 'blob' | 'serviceBus' | 'keyVault';

/**
 * Resolves connection `name` for `service` from `env`, or undefined when neither form is set.
 * Storage endpoints: `__blobServiceUri`, then `__serviceUri`, then `__accountName` (public cloud
 * blob endpoint, as the host derives it). Service Bus: `__fullyQualifiedNamespace`. Key Vault:
 * `__vaultUri`.
 */
export function resolveConnection(env: Env, name: string, service: ConnectionService): Connection | undefined {
  const direct = env[name];
  if (direct && direct.trim() !== '') return { kind: 'connectionString', name, connectionString: direct.trim() };
  let endpoint: string | undefined;
  if (service === 'blob') {
    const account = prop(env, name, 'accountName');
    endpoint = prop(env, name, 'blobServiceUri') ?? prop(env, name, 'serviceUri') ?? (account ? `https://${account}.blob.core.windows.net` : undefined);
  } else if (service === 'serviceBus') {
    endpoint = prop(env, name, 'fullyQualifiedNamespace');
  } else {
    endpoint = prop(env, name, 'vaultUri');
  }
  if (!endpoint) return undefined;
  return { kind: 'identity', name, endpoint: endpoint.replace(/\/+$/, ''), identity: identityOf(env, name) };
}

const credentials = new Map<string, TokenCredential>();

/**
 * The token credential for an identity-based connection: the managed identity (user-assigned
 * when a client id is given) with `credential=managedidentity`, else the default chain. One
 * instance per choice, so tokens are cached across clients.
 */
export function credentialFor(identity: IdentityOptions): TokenCredential {
  const key = `${identity.credential ?? 'default'}|${identity.clientId ?? ''}`;
  let found = credentials.get(key);
  if (!found) {
    found =
      identity.credential === 'managedidentity'
        ? identity.clientId
          ? new ManagedIdentityCredential({ clientId: identity.clientId })
          : new ManagedIdentityCredential()
        : new DefaultAzureCredential(identity.clientId ? { managedIdentityClientId: identity.clientId } : {});
    credentials.set(key, found);
  }
  return found;
}

/** A connection for display (no secret): the endpoint, or the connection string's account/endpoint part. */
export function describeConnection(connection: Connection): string {
  if (connection.kind === 'identity') return `${connection.name}: ${connection.endpoint} (${connection.identity.credential ?? 'default credential'}${connection.identity.clientId ? `, client ${connection.identity.clientId}` : ''})`;
  const account = /AccountName=([^;]+)/i.exec(connection.connectionString)?.[1] ?? (/UseDevelopmentStorage=true/i.test(connection.connectionString) ? 'devstoreaccount1' : 'connection string');
  return `${connection.name}: ${account}`;
}
