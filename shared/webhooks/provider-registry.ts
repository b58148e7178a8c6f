/**
 * The webhook providers by route name (`POST /api/webhooks/{provider}`). Adding a provider
 * means one module and one line here.
 */
import { azureDevOpsProvider } from './azure-devops.provider.js';
import { githubProvider } from './github.provider.js';
import { gitlabProvider } from './gitlab.provider.js';
import { PROVIDER_NAMES, type ProviderName, type WebhookProvider } from './webhook-provider.js';

const providers: ReadonlyMap<ProviderName, WebhookProvider> = new Map<ProviderName, WebhookProvider>([
  ['github', githubProvider],
  ['gitlab', gitlabProvider],
  ['azure-devops', azureDevOpsProvider],
]);

/**
 * The provider for a route segment (case-insensitive), or undefined for an unknown name. A
 * Map, not an object literal, so names like `constructor` or `__proto__` find nothing.
 */
export function getProvider(name: string): WebhookProvider | undefined {
  return providers.get(name.toLowerCase() as ProviderName);
}

/** True when `name` is a provider Conveyor knows. */
export function isProviderName(name: string): name is ProviderName {
  return (PROVIDER_NAMES as readonly string[]).includes(name);
}

/** Re-exported so callers of the registry need one import. */
export { PROVIDER_NAMES, type ProviderName };
