/**
 * Verification of deployed environments: one try of an HTTP check. The retry/successes policy
 * that decides between tries is pure and lives in shared/domain/verification.ts.
 */
export { runHttpCheck, joinUrl, readJsonPath, MAX_CHECK_BODY_BYTES, type HttpCheckResult } from './http-check.js';
export { decideVerification, maxVerificationTries, type CheckTry, type RetrySettings, type VerificationDecision } from '../domain/verification.js';
