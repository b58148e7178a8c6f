/** Secret handling shared by the step runners. */
import { SecretRegistry } from '../secrets/redactor.js';
import type { SecretBindings } from '../domain/pipeline.js';
import type { StepRequest } from './step-runner.js';

/**
 * The values to mask in one step's output: everything in `request.redact` plus every
 * `secretEnv` value. A fresh registry, so one step's secrets do not widen the pattern of others.
 */
export function stepRedactor(request: Pick<StepRequest, 'redact' | 'secretEnv' | 'secretFiles'>): SecretRegistry {
  const values = request.redact instanceof SecretRegistry ? request.redact.list() : [...(request.redact ?? [])];
  const registry = new SecretRegistry(values);
  for (const value of Object.values(request.secretEnv ?? {})) registry.add(value);
  for (const value of Object.values(request.secretFiles ?? {})) registry.add(value);
  return registry;
}

/**
 * Splits opened sealed values by how they are delivered: `as: file` bindings become files,
 * the others environment variables.
 */
export function secretDelivery(bindings: Readonly<SecretBindings> | undefined, opened: Readonly<Record<string, string>>): { secretEnv: Record<string, string>; secretFiles: Record<string, string> } {
  const secretEnv: Record<string, string> = {};
  const secretFiles: Record<string, string> = {};
  for (const [variable, value] of Object.entries(opened)) {
    if (bindings?.[variable]?.as === 'file') secretFiles[variable] = value;
    else secretEnv[variable] = value;
  }
  return { secretEnv, secretFiles };
}
