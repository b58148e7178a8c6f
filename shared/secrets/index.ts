/** Secret registry and redaction of logs and error messages. */
export { SecretRegistry, StreamingRedactor, redact, REDACTED, MIN_SECRET_LENGTH } from './redactor.js';
