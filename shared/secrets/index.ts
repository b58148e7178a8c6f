/** Secret registry and redaction of logs and error messages; sealed (age) secrets. */
export { SecretRegistry, StreamingRedactor, redact, REDACTED, MIN_SECRET_LENGTH } from './redactor.js';
export { SealedSecrets, UnsealError, deriveAppIdentity, parseIdentities, bech32Encode, type UnsealFailure, type SealedReference } from './sealed-secrets.js';
export { loadSealedSecrets, type ReadRepositoryFile } from './pipeline-secrets.js';
