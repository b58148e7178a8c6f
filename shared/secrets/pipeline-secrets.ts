/**
 * Sealed secrets of a pipeline file at load time: reads `file:` secrets from the repository at
 * the run's commit, puts the ciphertext into every use, and opens each used value once so a
 * value that does not open fails the run before any step runs. The opened values are dropped
 * at once: only ciphertext leaves this function (into durable history and records).
 */
import type { CommandStep, PipelineSpec, SecretBinding, SecretBindings, TargetSpec } from '../domain/pipeline.js';
import { NotFoundError } from '../errors.js';
import { MAX_SEALED_BYTES } from '../pipeline/pipeline-spec.schema.js';
import { UnsealError, type SealedSecrets } from './sealed-secrets.js';

/** Reads a repository file at the run's commit; rejects with NotFoundError when it is absent. */
export type ReadRepositoryFile = (path: string) => Promise<string>;

/**
 * Resolves and checks every sealed secret `spec` uses, for `app`. Throws {@link UnsealError}
 * (a validation verdict) naming the first reference that does not open and why.
 */
export async function loadSealedSecrets(spec: PipelineSpec, app: string, readFile: ReadRepositoryFile, sealed: SealedSecrets): Promise<PipelineSpec> {
  const holders = (): { secrets?: SecretBindings }[] => [spec.build, ...(spec.test ? [spec.test] : []), ...spec.environments.map((e) => e.target)];
  const sealedKubeconfigs = (): SecretBinding[] => spec.environments.flatMap((e) => (e.target.type === 'kubernetes' && e.target.kubeconfigSealed ? [e.target.kubeconfigSealed] : []));
  const used = [...holders().flatMap((h) => Object.values(h.secrets ?? {})), ...sealedKubeconfigs()];
  if (used.length === 0) return spec;

  const texts = new Map<string, string>();
  for (const [name, source] of Object.entries(spec.secrets ?? {})) {
    if (source.sealed !== undefined) {
      texts.set(name, source.sealed);
      continue;
    }
    if (source.file === undefined || !used.some((b) => b.secret === name)) continue;
    const reference = `secrets.${name} (file ${source.file})`;
    let text: string;
    try {
      text = await readFile(source.file);
    } catch (err) {
      if (err instanceof NotFoundError) throw new UnsealError(reference, 'missing-file');
      throw err;
    }
    if (Buffer.byteLength(text) > MAX_SEALED_BYTES) throw new UnsealError(reference, 'too-large');
    texts.set(name, text);
  }

  const fill = <T extends { secrets?: SecretBindings }>(holder: T): T => {
    if (!holder.secrets) return holder;
    const secrets: SecretBindings = {};
    for (const [variable, binding] of Object.entries(holder.secrets)) secrets[variable] = { ...binding, sealed: texts.get(binding.secret) ?? '' };
    return { ...holder, secrets };
  };
  const resolved: PipelineSpec = {
    ...spec,
    ...(spec.secrets
      ? { secrets: Object.fromEntries(Object.entries(spec.secrets).map(([name, source]) => [name, texts.has(name) ? { ...source, sealed: texts.get(name)! } : source])) }
      : {}),
    build: fill(spec.build),
    ...(spec.test ? { test: fill<CommandStep>(spec.test) } : {}),
    environments: spec.environments.map((env) => {
      const target = fill<TargetSpec>(env.target);
      // A sealed kubeconfig (kubernetes targets) is filled in the same way.
      return { ...env, target: target.type === 'kubernetes' && target.kubeconfigSealed ? { ...target, kubeconfigSealed: { ...target.kubeconfigSealed, sealed: texts.get(target.kubeconfigSealed.secret) ?? '' } } : target };
    }),
  };

  // Open each use once (a value may open for nobody, whatever the file claims): a failure
  // fails the run now, naming the reference, instead of in the middle of a deployment.
  for (const holder of [resolved.build, ...(resolved.test ? [resolved.test] : []), ...resolved.environments.map((e) => e.target)]) {
    for (const binding of Object.values(holder.secrets ?? {})) await sealed.open(app, binding.sealed, binding.reference);
  }
  for (const env of resolved.environments) if (env.target.type === 'kubernetes' && env.target.kubeconfigSealed) await sealed.open(app, env.target.kubeconfigSealed.sealed, env.target.kubeconfigSealed.reference);
  return resolved;
}
