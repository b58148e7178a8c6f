/** Git checkout through a per-repository cache, and repository URL identity. */
export { GitCache, type GitCacheOptions, type CheckoutResult, type HttpCredentials } from './git-cache.js';
export { parseRepoUrl, normaliseRepoUrl, sameRepository, repoCacheKey, redactUrl, type ParsedRepoUrl } from './repo-url.js';
export { listRemoteHeads, type RemoteHeadsOptions } from './ls-remote.js';
export { gitEnvironment, resolveCredentials, type CredentialSource } from './git-env.js';
