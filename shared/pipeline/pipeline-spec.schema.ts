/**
 * The one definition of `.conveyor/pipeline.yaml`: a zod 4 schema of the file shape that
 * transforms into the normalised {@link PipelineSpec} of shared/domain/pipeline.ts (durations
 * in ms, defaults filled in). The JSON Schema editors use (docs/pipeline.schema.json) is
 * generated from this same definition by `npm run schema`, so the two cannot drift.
 *
 * Every object is strict: an unknown key is an error, because a typo such as `timout:` would
 * otherwise silently fall back to a default.
 *
 * The normalised parts have schemas of their own (`buildStepSpec`, `commandStepSpec`,
 * `targetSpec`, `verifySpec`), built from the same validators: each file schema ends in its spec
 * schema, and the activity inputs that carry a part of a loaded spec are checked with the very
 * same schemas (shared/contracts/activity-inputs.schema.ts).
 */
import { z } from 'zod';
import type {
  ApprovalSpec,
  BuildStep,
  CommandStep,
  EnvironmentSpec,
  HttpCheckSpec,
  JsonValue,
  PipelineSpec,
  ProcessTargetSpec,
  SealedSecretSource,
  SecretBinding,
  SecretBindings,
  StepResources,
  TargetSpec,
  VerifySpec,
} from '../domain/pipeline.js';
import { parseBytes } from '../steps/step-limits.js';
import { NAME_PATTERN, NAME_RULE } from '../domain/ids.js';
import { acrImageBuildFile, acrImageBuildSpec, aksTargetFile, aksTargetSpec, coveredBy, kubernetesTargetFile, kubernetesTargetSpec } from '../targets/kubernetes/kubernetes-spec.schema.js';

/** Default location of the pipeline file in an application's repository. */
export const DEFAULT_PIPELINE_PATH = '.conveyor/pipeline.yaml';

/** A URL- and blob-path-safe name (apps, environments): the rule of shared/domain/ids.ts. */
export const safeName = z.string().regex(NAME_PATTERN, NAME_RULE);

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_PATTERN = /^(\d{1,9})(ms|s|m|h|d)$/;
/** Longest duration accepted anywhere (durable timers loop beyond ~6 days, but a year is absurd). */
const MAX_DURATION_MS = 365 * DURATION_UNITS.d;

/** Converts `500ms`, `90s`, `15m`, `24h`, `7d` to milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_PATTERN.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS];
}

/** A positive duration string (`500ms`, `90s`, `15m`, `24h`, `7d`) that becomes milliseconds. */
function duration(description: string) {
  return z
    .string()
    .regex(DURATION_PATTERN, 'must be a duration such as 500ms, 90s, 15m, 24h or 7d')
    .transform((text, ctx) => {
      const ms = parseDuration(text) ?? 0;
      if (ms <= 0) ctx.addIssue({ code: 'custom', message: 'must be greater than zero' });
      if (ms > MAX_DURATION_MS) ctx.addIssue({ code: 'custom', message: 'must be at most 365d' });
      return ms;
    })
    .describe(description);
}

/** Environment variable names a file may set (POSIX-portable); `CONVEYOR_*` is reserved. */
const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a valid environment variable name')
  .refine((k) => !k.startsWith('CONVEYOR_'), 'CONVEYOR_* variables are set by Conveyor and cannot be overridden');

const envMap = z
  .record(
    envName,
    // YAML users write `DEBUG: 1` or `VERBOSE: true`; the process sees strings anyway.
    z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean' }).transform((v) => String(v)),
  )
  .describe('Extra environment variables (literal values; never put secrets here).');

const relativePath = z
  .string()
  .min(1)
  .max(512)
  .refine((p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p), 'must be relative to the repository root')
  .refine((p) => !p.split(/[\\/]/).includes('..'), 'must not contain ".." segments');

const command = z.string().trim().min(1, 'must not be empty').max(16_384).describe('Run with `bash -c` in the workspace.');

const DEFAULT_STEP_TIMEOUT = '30m';

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const secretName = z.string().regex(SECRET_NAME, 'must be 1-64 letters, digits, ".", "_" or "-"');

/** One use: the secret's name (the variable holds the value), or `{ secret, as: file }` (the variable holds a file's path). */
const secretUse = z.union([
  secretName,
  z
    .strictObject({ secret: secretName, as: z.literal('file') })
    .describe('The value as a read-only file in memory inside the sandbox, /run/secrets/<VARIABLE>; the variable holds that path.'),
]);

/** `secrets:` of a step or environment: variable name -> name of a top-level secret. */
const secretUses = z
  .record(envName, secretUse)
  .describe('Environment variables filled from sealed secrets: VARIABLE: <name in the top-level secrets>, or VARIABLE: { secret: <name>, as: file } for a file. Opened only where used, masked in logs.');

/** Bindings as parsed; the ciphertext is filled in by the top-level transform (or the loader, for files). */
function bindSecrets(uses: Record<string, string | { secret: string; as: 'file' }> | undefined, where: string): { secrets: SecretBindings } | Record<string, never> {
  if (!uses || Object.keys(uses).length === 0) return {};
  const secrets: SecretBindings = {};
  for (const [variable, use] of Object.entries(uses)) {
    const secret = typeof use === 'string' ? use : use.secret;
    secrets[variable] = { secret, reference: `secrets.${secret} (${where}.secrets.${variable})`, sealed: '', ...(typeof use === 'string' ? {} : { as: 'file' as const }) };
  }
  return { secrets };
}

const byteSize = (what: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const bytes = typeof v === 'number' ? (Number.isInteger(v) && v > 0 ? v : undefined) : parseBytes(v);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: 'must be a size such as 512Mi, 2Gi or 1G' });
        return z.NEVER;
      }
      return bytes;
    })
    .describe(what);

/** `resources:` of a step. */
const resources = z
  .strictObject({
    cpu: z.number().positive().max(1024).optional().describe('CPUs the step may use (whole CPUs locally: rounded up).'),
    memory: byteSize('Memory, e.g. 2Gi. Locally: what each process may allocate.').optional(),
    disk: byteSize('Disk, e.g. 5Gi. Locally: the largest file, the private /tmp and HOME, and the workspace growth.').optional(),
  })
  .transform((v): StepResources => ({
    ...(v.cpu !== undefined ? { cpu: v.cpu } : {}),
    ...(v.memory !== undefined ? { memoryBytes: v.memory } : {}),
    ...(v.disk !== undefined ? { diskBytes: v.disk } : {}),
  }))
  .describe('CPU, memory and disk limits; each defaults to, and is at most, the installation\'s (CONVEYOR_STEP_CPU, CONVEYOR_STEP_MEMORY, CONVEYOR_STEP_DISK).');

/** Largest sealed value accepted inline or from a file (armored). */
export const MAX_SEALED_BYTES = 64 * 1024;

const armoredText = z
  .string()
  .max(MAX_SEALED_BYTES)
  .refine((t) => t.trim().startsWith('-----BEGIN AGE ENCRYPTED FILE-----') && t.trim().endsWith('-----END AGE ENCRYPTED FILE-----'), 'must be ASCII-armored age output (age -r <recipient> -a)');

/** One top-level `secrets:` entry. */
const sealedSecretFile = z
  .union([armoredText, z.strictObject({ file: z.string().min(1).max(512).refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), 'must be relative to the repository root, without ".."') })])
  .transform((v): SealedSecretSource => (typeof v === 'string' ? { sealed: v } : { file: v.file }))
  .describe('A sealed value: armored age text sealed to the app\'s recipient (GET /api/public-key?app=<app>), or { file: <path of such a file in the repository> }.');

const runner = z
  .enum(['local', 'kubernetes'])
  .describe("Where the step runs: `local` (Conveyor's machine, sandboxed) or `kubernetes` (a Job, docs/kubernetes.md). Default: the top-level runner, else the installation's CONVEYOR_STEP_RUNNER.");

const stepImage = z
  .string()
  .max(512)
  .regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, 'must be an image reference such as mcr.microsoft.com/devcontainers/javascript-node:22')
  .describe("Image a `kubernetes` step runs in (needs bash, curl, tar and git). Default: the installation's CONVEYOR_STEP_IMAGE.");

/** `runner` and `image` of a step, as the domain holds them. */
function placement(v: { runner?: 'local' | 'kubernetes' | undefined; jobImage?: string | undefined }): Pick<CommandStep, 'runner' | 'jobImage'> {
  return { ...(v.runner ? { runner: v.runner } : {}), ...(v.jobImage ? { jobImage: v.jobImage } : {}) };
}

const network = z
  .enum(['on', 'none'])
  .describe('`on` (default): the step may use the network (e.g. to fetch dependencies). `none`: the sandbox has no network at all, not even loopback.');

/** A duration in the normalised spec: whole milliseconds, at most 365 days. */
const specMs = z.number().int().positive().max(MAX_DURATION_MS);
/** Environment values in the normalised spec: strings (the file's numbers and booleans were turned into text). */
const specEnv = z.record(envName, z.string());
/** A sealed secret bound to a variable, as the spec carries it (ciphertext only). */
const secretBindingSpec = z.object({ secret: secretName, reference: z.string().min(1).max(400), sealed: z.string().max(MAX_SEALED_BYTES), as: z.literal('file').optional() });
/** A step's limits in the normalised spec (bytes, CPUs). */
const stepResourcesSpec = z.object({
  cpu: z.number().positive().max(1024).optional(),
  memoryBytes: z.number().int().positive().optional(),
  diskBytes: z.number().int().positive().optional(),
}) satisfies z.ZodType<StepResources>;
const secretBindingsSpec = z.record(envName, secretBindingSpec);

/** A normalised {@link CommandStep} (the file's `test:` after parsing). */
export const commandStepSpec = z.object({
  command,
  timeoutMs: specMs,
  env: specEnv,
  network: network.optional(),
  secrets: secretBindingsSpec.optional(),
  resources: stepResourcesSpec.optional(),
  runner: runner.optional(),
  jobImage: stepImage.optional(),
}) satisfies z.ZodType<CommandStep>;

/** A normalised {@link BuildStep} (the file's `build:` after parsing). */
export const buildStepSpec = commandStepSpec.extend({ artifact: z.array(relativePath).min(1).max(100), image: acrImageBuildSpec.optional() }) satisfies z.ZodType<BuildStep>;

/** `build:` in the file. */
export const buildStepFile = z
  .strictObject({
    command: command.optional(),
    artifact: z.array(relativePath).min(1).max(100).optional().describe('Workspace-relative files or folders packed into the artifact.'),
    image: acrImageBuildFile.optional(),
    timeout: duration('Kill the whole step after this long. Default 30m.').prefault(DEFAULT_STEP_TIMEOUT),
    env: envMap.optional(),
    network: network.optional(),
    secrets: secretUses.optional(),
    resources: resources.optional(),
    runner: runner.optional(),
    jobImage: stepImage.optional(),
  })
  .superRefine((v, ctx) => {
    // With an image build, the command and the artifact are optional (the digest file is packed).
    if (v.image) return;
    if (v.command === undefined) ctx.addIssue({ code: 'custom', path: ['command'], message: 'is required' });
    if (v.artifact === undefined) ctx.addIssue({ code: 'custom', path: ['artifact'], message: 'is required' });
  })
  .transform(
    (v): BuildStep => ({
      // No command with an image build: the step does nothing but leave the digest file to pack.
      command: v.command ?? ':',
      artifact: v.image && !coveredBy(v.image.digestFile, v.artifact ?? []) ? [...(v.artifact ?? []), v.image.digestFile] : (v.artifact ?? []),
      timeoutMs: v.timeout,
      env: v.env ?? {},
      ...(v.network ? { network: v.network } : {}),
      ...bindSecrets(v.secrets, 'build'),
      ...(v.resources ? { resources: v.resources } : {}),
      ...(v.image ? { image: v.image } : {}),
      ...placement(v),
    }),
  )
  .pipe(buildStepSpec)
  .describe('How the commit is built, once; the artifact (and image) is promoted through every environment.');

/** True when `name` (an image name without tag) is the one `image` builds: `<registry>.<domain>/<repository>`. */
function imageBuiltBy(name: string, image: { registry: string; repository: string }): boolean {
  const slash = name.indexOf('/');
  return slash > 0 && name.slice(0, slash).toLowerCase().startsWith(`${image.registry}.`) && name.slice(slash + 1) === image.repository;
}

/** `test:` in the file. */
export const commandStepFile = z
  .strictObject({
    command,
    timeout: duration('Kill the whole step after this long. Default 30m.').prefault(DEFAULT_STEP_TIMEOUT),
    env: envMap.optional(),
    network: network.optional(),
    secrets: secretUses.optional(),
    resources: resources.optional(),
    runner: runner.optional(),
    jobImage: stepImage.optional(),
  })
  .transform(
    (v): CommandStep => ({
      command: v.command,
      timeoutMs: v.timeout,
      env: v.env ?? {},
      ...(v.network ? { network: v.network } : {}),
      ...bindSecrets(v.secrets, 'test'),
      ...(v.resources ? { resources: v.resources } : {}),
      ...placement(v),
    }),
  )
  .pipe(commandStepSpec)
  .describe('Tests run in the built workspace before any environment is deployed.');

const port = z.number().int().min(1024).max(65535);

/** A normalised {@link ProcessTargetSpec}. */
const processTargetSpec = z.object({
  type: z.literal('process'),
  start: command,
  port,
  env: specEnv,
  startTimeoutMs: specMs,
  secrets: secretBindingsSpec.optional(),
}) satisfies z.ZodType<ProcessTargetSpec>;

/**
 * A normalised {@link TargetSpec}, any kind. Secrets are checked on every kind: the environment's
 * `secrets:` are bound onto its target after the target itself is parsed.
 */
export const targetSpec = z.discriminatedUnion('type', [
  processTargetSpec,
  kubernetesTargetSpec.extend({ secrets: secretBindingsSpec.optional() }),
  aksTargetSpec.extend({ secrets: secretBindingsSpec.optional() }),
]) satisfies z.ZodType<TargetSpec>;

const processTargetFile = z
  .strictObject({
    type: z.literal('process'),
    start: command.describe('Start command, run with `bash -c` in the release folder.'),
    port: port.describe('Port the process listens on (127.0.0.1); passed as PORT.'),
    env: envMap.optional(),
    startTimeout: duration('How long the port may take to accept connections. Default 30s.').prefault('30s'),
  })
  .transform((v): ProcessTargetSpec => ({ type: 'process', start: v.start, port: v.port, env: v.env ?? {}, startTimeoutMs: v.startTimeout }))
  .pipe(processTargetSpec);

/** `target:` — a tagged union on `type`, so other target kinds (AKS) slot in later. */
export const targetFile = z.discriminatedUnion('type', [processTargetFile, kubernetesTargetFile, aksTargetFile]).describe('Where the artifact runs for this environment.');

const jsonPath = z.string().min(1).max(256);
const checkPath = z.string().startsWith('/', 'must start with "/"').max(2048);
const statusCode = z.number().int().min(100).max(599);
const retryCount = z.number().int().min(0).max(100);
const successCount = z.number().int().min(1).max(100);

/** A normalised {@link HttpCheckSpec}. */
const httpCheckSpec = z
  .object({
    type: z.literal('http'),
    path: checkPath,
    expectStatus: statusCode,
    bodyContains: z.string().min(1).optional(),
    json: z.object({ path: jsonPath, equals: z.json() }).optional(),
    timeoutMs: specMs,
    retries: retryCount,
    intervalMs: specMs,
    successes: successCount,
  })
  .refine((v) => v.successes <= v.retries + 1, { path: ['successes'], message: 'cannot need more passing tries than there are tries' });

/** A normalised {@link VerifySpec} (one entry of an environment's `verify:` after parsing). */
export const verifySpec = httpCheckSpec satisfies z.ZodType<VerifySpec, unknown>;

const jsonCheckFile = z.strictObject({
  path: jsonPath.describe('Dotted path into the JSON body, e.g. build.commit.'),
  equals: z.json().describe('Value the field must equal.'),
});

const httpCheckFile = z
  .strictObject({
    path: checkPath.describe("Path (and query) appended to the environment's base URL."),
    expect: statusCode.default(200).describe('Expected HTTP status. Default 200.'),
    bodyContains: z.string().min(1).optional().describe('The body must contain this text.'),
    json: jsonCheckFile.optional(),
    timeout: duration('Per-try timeout. Default 5s.').prefault('5s'),
    retries: retryCount.default(0).describe('Extra tries after a failing one. Default 0.'),
    interval: duration('Wait between tries. Default 2s.').prefault('2s'),
    successes: successCount.default(1).describe('Consecutive passing tries needed. Default 1.'),
  })
  .superRefine((v, ctx) => {
    if (v.successes > v.retries + 1) {
      ctx.addIssue({ code: 'custom', path: ['successes'], message: `cannot need ${v.successes} passing tries with only ${v.retries + 1} tries in total (raise retries)` });
    }
  })
  .transform(
    (v): HttpCheckSpec => ({
      type: 'http',
      path: v.path,
      expectStatus: v.expect,
      ...(v.bodyContains !== undefined ? { bodyContains: v.bodyContains } : {}),
      ...(v.json !== undefined ? { json: { path: v.json.path, equals: v.json.equals as JsonValue } } : {}),
      timeoutMs: v.timeout,
      retries: v.retries,
      intervalMs: v.interval,
      successes: v.successes,
    }),
  )
  .pipe(httpCheckSpec);

/**
 * One `verify:` entry. Key-tagged (`- http: {...}`) so that later check kinds become further
 * members of a union without changing existing files.
 */
export const verifyFile = z
  .strictObject({ http: httpCheckFile })
  .transform((v): VerifySpec => v.http)
  .describe('A check run after deploying; all must pass.');

/** An approver: an e-mail-like identity or `group:<name>`. */
const approver = z
  .string()
  .regex(/^(group:[A-Za-z0-9._-]{1,64}|[^\s@]{1,64}@[^\s@]{1,255})$/, 'must be an e-mail address or group:<name>');

/** `approval:` in an environment. */
export const approvalFile = z
  .strictObject({
    approvers: z.array(approver).min(1).max(100).describe('Users (e-mail) or groups (group:name) allowed to approve.'),
    required: z.number().int().min(1).default(1).describe('Distinct approvals needed. Default 1.'),
    timeout: duration('Give up (the run ends Aborted) after this long. Default 24h.').prefault('24h'),
    allowSelfApproval: z.boolean().default(false).describe('Whether the pusher may approve their own change. Default false.'),
  })
  .superRefine((v, ctx) => {
    if (v.required > v.approvers.length) {
      ctx.addIssue({ code: 'custom', path: ['required'], message: `cannot need ${v.required} approvals from ${v.approvers.length} approver(s)` });
    }
    const seen = new Set<string>();
    v.approvers.forEach((a, i) => {
      if (seen.has(a.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['approvers', i], message: `approver "${a}" is listed twice` });
      seen.add(a.toLowerCase());
    });
  })
  .transform((v): ApprovalSpec => ({ approvers: v.approvers, required: v.required, timeoutMs: v.timeout, allowSelfApproval: v.allowSelfApproval }))
  .describe('A manual gate before this environment is deployed.');

/** One `environments:` entry. */
export const environmentFile = z
  .strictObject({
    name: safeName.describe('Unique name; lowercase letters, digits and "-", starting with a letter.'),
    target: targetFile,
    verify: z.array(verifyFile).max(50).default([]),
    approval: approvalFile.optional(),
    rollback: z.enum(['auto', 'manual']).default('auto').describe('auto: failed verification redeploys the last good revision. Default auto.'),
    concurrency: z.enum(['latest', 'queue']).default('latest').describe('latest: a newer run supersedes a waiting one; queue: runs wait their turn. Default latest.'),
    soak: duration(
      'After this environment is deployed and verified, the next one is promoted only once the revision has run this long and passes its checks again (e.g. 30m). Default none.',
    ).optional(),
    drift: z
      .enum(['report', 'heal'])
      .default('report')
      .describe('What the reconcile sweep does when the environment does not run what the ledger says: report it, or heal (redeploy the recorded revision). Default report.'),
    secrets: secretUses.optional().describe("Environment variables of this environment's service, filled from sealed secrets: VARIABLE: <name in the top-level secrets>."),
  })
  .transform(
    (v): EnvironmentSpec => ({
      name: v.name,
      target: { ...v.target, ...bindSecrets(v.secrets, `environments.${v.name}`) },
      verify: v.verify,
      ...(v.approval ? { approval: v.approval } : {}),
      rollback: v.rollback,
      concurrency: v.concurrency,
      drift: v.drift,
      ...(v.soak !== undefined ? { soakMs: v.soak } : {}),
    }),
  );

/** Most environments a pipeline may declare. */
export const MAX_ENVIRONMENTS = 32;

/** The whole file. Parse with `parsePipelineSpec` (shared/pipeline/parse-pipeline.ts) for line/column errors. */
export const pipelineFileSchema = z
  .strictObject({
    version: z.literal(1).default(1).describe('File format version. Default 1.'),
    secrets: z.record(secretName, sealedSecretFile).optional().describe('Sealed secrets by name, used by `secrets:` of steps and environments.'),
    runner: runner.optional().describe("Where build and test run unless a step says otherwise: `local` or `kubernetes`. Default: the installation's CONVEYOR_STEP_RUNNER."),
    build: buildStepFile,
    test: commandStepFile.optional(),
    environments: z.array(environmentFile).min(1).max(MAX_ENVIRONMENTS).describe('Promotion order: each environment is deployed and verified before the next.'),
  })
  .superRefine((v, ctx) => {
    const names = new Map<string, number>();
    const ports = new Map<number, number>();
    v.environments.forEach((env, i) => {
      const firstName = names.get(env.name);
      if (firstName !== undefined) ctx.addIssue({ code: 'custom', path: ['environments', i, 'name'], message: `environment "${env.name}" is already declared at environments[${firstName}]` });
      else names.set(env.name, i);
      if (env.target.type === 'kubernetes' || env.target.type === 'aks') {
        // The manifests are read from the repository at the commit; the image digest from the
        // artifact, so the build must pack it.
        // Conveyor does not hand an environment's sealed secrets to a cluster: refused here
        // rather than dropped without a word.
        if (env.target.secrets && Object.keys(env.target.secrets).length > 0) {
          ctx.addIssue({ code: 'custom', path: ['environments', i, 'secrets'], message: `a ${env.target.type} environment's service does not receive sealed secrets from Conveyor: keep them in a Kubernetes Secret its manifests reference` });
        }
        const path = env.target.image.digestFile;
        const image = v.build.image;
        if (image && !imageBuiltBy(env.target.image.name, image)) {
          ctx.addIssue({ code: 'custom', path: ['environments', i, 'target', 'image', 'name'], message: `the build's image is ${image.registry}.<registry domain>/${image.repository}; name that image here (e.g. ${image.registry}.azurecr.io/${image.repository})` });
        }
        if (!path.split('/').includes('..') && !coveredBy(path, [...(v.build.artifact ?? []), ...(image ? [image.digestFile] : [])])) {
          ctx.addIssue({ code: 'custom', path: ['environments', i, 'target', 'image', 'digestFile'], message: `${path} is not packed with the artifact: add it (or a folder holding it) to build.artifact` });
        }
      }
      if (env.target.type !== 'process') return; // only local processes share this machine's ports
      const port = env.target.port;
      const firstPort = ports.get(port);
      if (firstPort !== undefined) ctx.addIssue({ code: 'custom', path: ['environments', i, 'target', 'port'], message: `port ${port} is already used by environments[${firstPort}]` });
      else ports.set(port, i);
    });
    // A sealed kubeconfig names a declared secret.
    v.environments.forEach((env, i) => {
      const sealedKc = env.target.type === 'kubernetes' ? env.target.kubeconfigSealed : undefined;
      if (sealedKc && (!v.secrets || !Object.hasOwn(v.secrets, sealedKc.secret))) {
        ctx.addIssue({ code: 'custom', path: ['environments', i, 'target', 'kubeconfigSecret'], message: `secret "${sealedKc.secret}" is not declared in the top-level secrets` });
      }
    });
    // Every `secrets:` use names a declared secret, and does not also appear in `env`.
    const uses: [Array<string | number>, { secrets?: SecretBindings; env?: Record<string, string> }][] = [[['build'], v.build]];
    if (v.test) uses.push([['test'], v.test]);
    v.environments.forEach((env, i) => uses.push([['environments', i], env.target]));
    for (const [path, holder] of uses) {
      for (const [variable, binding] of Object.entries(holder.secrets ?? {})) {
        const at = [...path, 'secrets', variable];
        if (!v.secrets || !Object.hasOwn(v.secrets, binding.secret)) {
          ctx.addIssue({ code: 'custom', path: at, message: `secret "${binding.secret}" is not declared in the top-level secrets` });
        }
        if (holder.env && Object.hasOwn(holder.env, variable)) ctx.addIssue({ code: 'custom', path: at, message: `${variable} is also set in env` });
      }
    }
  })
  .transform((v): PipelineSpec => {
    const fillKubeconfig = <T extends TargetSpec>(target: T): T =>
      target.type === 'kubernetes' && target.kubeconfigSealed ? { ...target, kubeconfigSealed: { ...target.kubeconfigSealed, sealed: v.secrets?.[target.kubeconfigSealed.secret]?.sealed ?? '' } } : target;
    const fill = <T extends { secrets?: SecretBindings }>(holder: T): T => {
      if (!holder.secrets) return holder;
      const secrets: SecretBindings = {};
      for (const [variable, binding] of Object.entries(holder.secrets)) secrets[variable] = { ...binding, sealed: v.secrets?.[binding.secret]?.sealed ?? '' };
      return { ...holder, secrets };
    };
    return {
      version: v.version,
      ...(v.secrets ? { secrets: v.secrets } : {}),
      build: { ...(v.runner ? { runner: v.runner } : {}), ...fill(v.build) },
      ...(v.test ? { test: { ...(v.runner ? { runner: v.runner } : {}), ...fill(v.test) } } : {}),
      environments: v.environments.map((env) => ({ ...env, target: fillKubeconfig(fill(env.target)) })),
    };
  })
  .describe('Conveyor pipeline (.conveyor/pipeline.yaml): how an app is built, tested and promoted.');

/** The file shape as written (what editors validate against). */
export type PipelineFile = z.input<typeof pipelineFileSchema>;

// Compile-time proof that the schema produces exactly the domain contract, both ways.
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// The same for each spec schema: a field added to a domain type without its spec schema would
// otherwise be stripped from every loaded pipeline by the file schema's final spec stage.
type ExactlyKeys<A, B> = Exactly<keyof A, keyof B>;
const _specsAreExact: [
  ExactlyKeys<z.output<typeof commandStepSpec>, CommandStep>,
  ExactlyKeys<z.output<typeof buildStepSpec>, BuildStep>,
  ExactlyKeys<z.output<typeof processTargetSpec>, ProcessTargetSpec>,
  ExactlyKeys<z.output<typeof httpCheckSpec>, HttpCheckSpec>,
  ExactlyKeys<z.output<typeof stepResourcesSpec>, StepResources>,
  ExactlyKeys<z.output<typeof secretBindingSpec>, SecretBinding>,
] = [true, true, true, true, true, true];
const _producesPipelineSpec: Exactly<z.output<typeof pipelineFileSchema>, PipelineSpec> = true;
const _schemaIsTyped = pipelineFileSchema satisfies z.ZodType<PipelineSpec, PipelineFile>;

/** JSON Schema (draft 2020-12) of the file shape, generated from {@link pipelineFileSchema}. */
export function pipelineJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(pipelineFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { $schema: schema.$schema, title: 'Conveyor pipeline', ...schema };
}
