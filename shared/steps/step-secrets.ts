/** Secret handling shared by the step runners. */
import { SecretRegistry } from '../secrets/redactor.js';
import type { StepRequest } from './step-runner.js';

/**
 * The values to mask in one step's output: everything in `request.redact` plus every
 * `secretEnv` value. A fresh registry, so one step's secrets do not widen the pattern of others.
 */
export function stepRedactor(request: Pick<StepRequest, 'redact' | 'secretEnv'>): SecretRegistry {
  const values = request.redact instanceof SecretRegistry ? request.redact.list() : [...(request.redact ?? [])];
  const registry = new SecretRegistry(values);
  for (const value of Object.values(request.secretEnv ?? {})) registry.add(value);
  return registry;
}
