/**
 * Webhook providers (GitHub, GitLab, Azure DevOps): signature verification and payload
 * normalisation behind one registry. See webhook-provider.ts for the contract.
 */
export { getProvider, isProviderName } from './provider-registry.js';
export { githubProvider } from './github.provider.js';
export { gitlabProvider } from './gitlab.provider.js';
export { azureDevOpsProvider } from './azure-devops.provider.js';
export {
  MAX_WEBHOOK_BODY_BYTES,
  PROVIDER_NAMES,
  type IgnoreCode,
  type ParseResult,
  type ProviderName,
  type PushEvent,
  type PushRepository,
  type VerifyResult,
  type WebhookHeaders,
  type WebhookProvider,
  type WebhookSecrets,
} from './webhook-provider.js';
