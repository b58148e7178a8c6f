/** Content-addressed artifacts: deterministic packing, once-only upload, verified download, safe extraction. */
export { packArtifact, digestFile, isDigest, assertDigest, type ArtifactDigest, type PackResult, type PackOptions } from './pack.js';
export { extractArtifact, findUnsafeEntries, normaliseEntryPath, type ExtractOptions } from './extract.js';
export {
  ArtifactStore,
  artifactBlobPath,
  artifactMetadataPath,
  artifactMetadataSchema,
  type ArtifactMetadata,
  type ArtifactOrigin,
  type ArtifactStoreOptions,
  type StoredArtifact,
} from './artifact-store.js';
export { ArtifactCache, ARTIFACT_CACHE_KEEP } from './artifact-cache.js';
