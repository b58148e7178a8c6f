/**
 * The settings catalogue: every setting Conveyor reads (app settings in Azure,
 * local.settings.json / the local host's environment locally), with its meaning, default and
 * whether it holds a secret, and the one parser that reads them. Nothing else in functions/ or
 * shared/ reads `process.env` for a setting: add a new setting here (an entry in
 * {@link SETTING_CATALOGUE} and a field in {@link Settings}), and to the README's settings table
 * (a test compares the two).
 *
 * Parsing happens once, in {@link readSettings}. A missing or malformed required setting fails
 * start-up with a message that names it; a malformed `CONVEYOR_API_TOKENS` is kept as an error
 * and reported when a caller presents a token (as before: the rest of the API keeps working).
 */
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import type { Identity } from '../domain/approval.js';
import { resolveConnection, type Connection } from '../azure/connection.js';
import { parseEntraGroupMap, type EntraGroupMap } from '../azure/entra-groups.js';
import { ValidationError } from '../errors.js';
import { parseIdentities } from '../secrets/sealed-secrets.js';
import { parseRegistryAuth, type RegistryCredential } from '../targets/kubernetes/oci-registry.js';
import { DEFAULT_STEP_LIMITS, parseBytes, type StepLimits } from '../steps/step-limits.js';

/** One entry of the catalogue. */
export interface SettingEntry {
  /** The setting's name as it appears in app settings / the environment. */
  name: string;
  /** What it is for. */
  meaning: string;
  /** The value used when it is unset (in words), if any. */
  default?: string;
  /** Whether the value is a secret (never logged; Key Vault in Azure). */
  secret: boolean;
  /**
   * `fixed`: the name above is the setting. `per-app`: the name is a placeholder; each app's
   * registration names the setting to read (`webhookSecretSetting`).
   */
  kind: 'fixed' | 'per-app';
}

/** Every setting Conveyor reads, in the order of the README table. */
export const SETTING_CATALOGUE: readonly SettingEntry[] = [
  {
    name: 'CONVEYOR_STORAGE_CONNECTION',
    meaning: "blob storage connection for Conveyor's records (ledger, runs, artifacts, logs): a connection string, or identity-based as `CONVEYOR_STORAGE_CONNECTION__accountName` / `__blobServiceUri` (+ `__credential=managedidentity`, `__clientId`), the forms the Functions host uses",
    default: '`AzureWebJobsStorage`',
    secret: true,
    kind: 'fixed',
  },
  {
    name: 'AzureWebJobsStorage',
    meaning: "the Functions host's storage (connection string, or `AzureWebJobsStorage__accountName` with a managed identity in Azure); Conveyor's records fall back to it (the local host points it at its Azurite)",
    secret: true,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_DATA_DIR',
    meaning: 'local working folder: git mirrors, workspaces, artifact cache, process-target releases',
    default: '`.conveyor/data` under the working folder; in Azure (`WEBSITE_INSTANCE_ID` set) `conveyor` under the temp folder, since the app folder is read-only there',
    secret: false,
    kind: 'fixed',
  },
  { name: 'CONVEYOR_GIT_TOKEN', meaning: 'token for private https repositories (sent as a header, never in URLs or logs)', secret: true, kind: 'fixed' },
  { name: 'CONVEYOR_GIT_USER', meaning: 'user name paired with `CONVEYOR_GIT_TOKEN`', default: '`x-access-token`', secret: false, kind: 'fixed' },
  {
    name: 'CONVEYOR_API_TOKENS',
    meaning: 'local caller identities: JSON `{ "<token>": { "id", "name", "groups" } }`, presented as `Authorization: Bearer <token>`',
    default: 'no tokens',
    secret: true,
    kind: 'fixed',
  },
  {
    name: 'WEBSITE_AUTH_ENABLED',
    meaning: 'set by App Service when its authentication is on; only then is the `x-ms-client-principal` header trusted as the caller',
    default: 'off',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_ALLOW_UNSANDBOXED_STEPS',
    meaning: 'where bubblewrap is missing or cannot create namespaces, run build/test steps and `process` services without a sandbox (with a warning) instead of refusing them',
    default: '`false` (refuse, naming the fix)',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_SANDBOX_READONLY_PATHS',
    meaning: 'further host folders bound read-only into every sandbox (comma-separated absolute paths, e.g. a tool install under `/opt`)',
    default: 'none',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_STEP_RUNNER',
    meaning: 'where build and test steps run: `local` (this machine, sandboxed) or `kubernetes` (a Job per step, docs/kubernetes.md)',
    default: '`local`',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_STEP_CPU',
    meaning: "CPUs a build or test step may use: its default and its ceiling (a pipeline's `resources.cpu` may only lower it); locally the step is pinned to that many CPUs",
    default: '`2`',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_STEP_MEMORY',
    meaning: "memory of a step (`512Mi`, `4Gi`, ...): default and ceiling of `resources.memory`; locally what each process of the step may allocate (RLIMIT_DATA)",
    default: '`4Gi`',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_STEP_DISK',
    meaning: "disk of a step (`5Gi`, ...): default and ceiling of `resources.disk`; locally the largest file, the private /tmp and HOME, and the workspace's growth",
    default: '`10Gi`',
    secret: false,
    kind: 'fixed',
  },
  { name: 'CONVEYOR_STEP_NAMESPACE', meaning: 'namespace of the step Jobs (`CONVEYOR_STEP_RUNNER=kubernetes`)', default: '`conveyor-steps`', secret: false, kind: 'fixed' },
  { name: 'CONVEYOR_STEP_IMAGE', meaning: 'image the step Jobs run in (needs bash, curl, tar and git); required with `CONVEYOR_STEP_RUNNER=kubernetes`, and what lets a pipeline choose `runner: kubernetes`', secret: false, kind: 'fixed' },
  {
    name: 'CONVEYOR_STEP_SOURCE',
    meaning: 'how a step Job gets the commit it builds: `git` (an init container fetches it, with `CONVEYOR_GIT_TOKEN` from a Secret) or `upload` (the checked-out workspace by a read-only SAS URL, for clusters that cannot reach the git host)',
    default: '`git`',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_ARM_ENDPOINT',
    meaning: 'Azure Resource Manager endpoint for the AKS and ACR calls (a sovereign cloud, Azure Stack, a private endpoint or proxy); the token audience is `CONVEYOR_ARM_AUDIENCE`',
    default: '`https://management.azure.com`',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_REGISTRY_AUTH',
    meaning: 'registry credentials (a Docker config JSON: `{"auths": {"<host>": {"auth": "<base64 user:password>"}}}`) for the check that the registry holds an image digest before it is deployed; ACR hosts without an entry are asked with Conveyor\'s identity, others anonymously',
    default: 'none',
    secret: true,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_ARM_AUDIENCE',
    meaning: 'audience (resource) of the Entra ID token for the AKS and ACR calls: the ARM of your cloud (e.g. `https://management.usgovcloudapi.net` with that cloud\'s `CONVEYOR_ARM_ENDPOINT`); Conveyor asks for `<audience>/.default`',
    default: '`https://management.azure.com` (also when only the endpoint is changed: a proxy or private endpoint of public ARM)',
    secret: false,
    kind: 'fixed',
  },
  { name: 'CONVEYOR_ARM_CA', meaning: 'extra CA certificates (PEM) trusted for `CONVEYOR_ARM_ENDPOINT` (a private endpoint behind its own CA)', default: 'the system CAs', secret: false, kind: 'fixed' },
  {
    name: 'CONVEYOR_KUBECONFIG_STEPS',
    meaning: 'kubeconfig (YAML) of the cluster the step Jobs run in',
    default: 'the in-cluster service account',
    secret: true,
    kind: 'fixed',
  },
  {
    name: 'WEBSITE_INSTANCE_ID',
    meaning: 'set by App Service on every instance; when present the data folder defaults to the temp folder',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_ENTRA_GROUPS',
    meaning: 'Entra ID groups behind App Service authentication -> Conveyor approver groups: JSON `{ "<group>": ["<Entra group object id or name>", ...] }` (docs/azure.md)',
    default: 'no mapping (claim values are groups as they are)',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_ENTRA_TENANT_ID',
    meaning: 'Entra ID tenant whose access tokens approval messages may carry (`credential.entraToken`, docs/events.md); unset: such tokens are refused',
    default: 'none (approval messages need an API token)',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_ENTRA_CLIENT_ID',
    meaning: "Conveyor's application (client) id in that tenant: the audience an approval message's Entra ID token must have (`<id>` or `api://<id>`)",
    default: 'none (Entra ID tokens are refused)',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_ENTRA_AUTHORITY',
    meaning: "the Entra ID authority host: issuer `<authority>/<tenant>/v2.0` and the signing keys from its OpenID configuration (another cloud's login endpoint; tests point it at 127.0.0.1)",
    default: '`https://login.microsoftonline.com`',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_AGE_IDENTITY',
    meaning: "the installation's sealed-secrets key: age X25519 identities (`AGE-SECRET-KEY-1...`, from `age-keygen`), whitespace- or comma-separated, the first current, the others still opening older values until they are re-sealed (Key Vault reference in Azure)",
    default: 'none (sealed secrets cannot be opened)',
    secret: true,
    kind: 'fixed',
  },
  { name: 'CONVEYOR_TASK_HUB', meaning: 'durable task hub name (read by the host through `host.json`)', secret: false, kind: 'fixed' },
  {
    name: 'CONVEYOR_RECONCILE_SCHEDULE',
    meaning: 'when the reconcile sweep runs (missed pushes, drift, heals): a six-field NCRONTAB expression, or `off`',
    default: '`0 * * * * *` (every minute)',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_TEST_KILL_AT',
    meaning: 'test only: the host process kills itself with SIGKILL at the named code point (`lock.request`, `lock.acquire`, `lock.release`, `lock.wake.start`, `lock.wake.before-raise`, `lock.wake.after-raise`; `<point>#<n>` at its n-th pass), for the crash tests; refused unless the local host runs with its test flag (`--test-clock`)',
    default: 'off',
    secret: false,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_SERVICEBUS',
    meaning: 'Service Bus connection string for deployment events out and approval messages in (locally `UseDevelopmentEmulator=true`, or unset, gets the local host\'s emulator)',
    default: 'none (no events are published)',
    secret: true,
    kind: 'fixed',
  },
  {
    name: 'CONVEYOR_SERVICEBUS__fullyQualifiedNamespace',
    meaning: 'instead of a connection string: the namespace (`<name>.servicebus.windows.net`), reached with the managed identity',
    secret: false,
    kind: 'fixed',
  },
  { name: 'CONVEYOR_EVENTS_TOPIC', meaning: 'the topic deployment events are published to (docs/events.md)', default: '`conveyor-events`', secret: false, kind: 'fixed' },
  {
    name: 'webhookSecretSetting',
    meaning: "each app's webhook secret, in the setting its registration names (comma-separated to rotate)",
    secret: true,
    kind: 'per-app',
  },
  {
    name: 'feedback.tokenSetting',
    meaning: "token for an app's Git host feedback (GitHub token with `statuses`/`deployments` write, GitLab token with `api` scope, Azure DevOps PAT with Code status), in the setting its registration names: `CONVEYOR_FEEDBACK_<NAME>` only (docs/events.md)",
    default: 'none (or `feedback.sealedToken`)',
    secret: true,
    kind: 'per-app',
  },
  {
    name: 'kubeconfigSetting',
    meaning: 'a kubeconfig (YAML) for `kubernetes` targets, in the setting the environment names: `CONVEYOR_KUBECONFIG_<NAME>` only (docs/kubernetes.md)',
    default: 'the in-cluster service account',
    secret: true,
    kind: 'per-app',
  },
];

/** A caller identity table parsed from `CONVEYOR_API_TOKENS`: token -> identity. */
export type ApiTokenTable = ReadonlyMap<string, Identity>;

/** Validated settings. */
export interface Settings {
  /**
   * Blob storage for Conveyor's state, artifacts and logs: a connection string, or an
   * identity-based connection (endpoint + managed identity).
   */
  storageConnection: string | Connection;
  /** Local working folder (absolute). */
  dataDir: string;
  /** Token for https git remotes (never logged). */
  gitToken?: string;
  /** User name paired with the git token. */
  gitUser?: string;
  /** API tokens, or the error that makes `CONVEYOR_API_TOKENS` unusable (reported on use). */
  apiTokens: { ok: true; table: ApiTokenTable } | { ok: false; error: ValidationError };
  /** Whether App Service authentication is on (`WEBSITE_AUTH_ENABLED=true`). */
  appServiceAuth: boolean;
  /** Entra ID group -> Conveyor group mapping (`CONVEYOR_ENTRA_GROUPS`). */
  entraGroups: EntraGroupMap;
  /** Entra ID access tokens on approval messages: tenant, Conveyor's app id (audience) and authority; undefined when not configured. */
  entraTokens?: { tenantId: string; clientId: string; authority: string };
  /** Run steps and services unsandboxed where bubblewrap is unusable (`CONVEYOR_ALLOW_UNSANDBOXED_STEPS=true`). */
  allowUnsandboxedSteps: boolean;
  /** Where steps run (`CONVEYOR_STEP_RUNNER` and, for Kubernetes Jobs, its namespace, image and kubeconfig). */
  stepRunner: { kind: 'local' } | { kind: 'kubernetes'; namespace: string; image: string; kubeconfig?: string };
  /** Each step's default and ceiling of CPU, memory and disk (`CONVEYOR_STEP_CPU`, `_MEMORY`, `_DISK`). */
  stepLimits: StepLimits;
  /**
   * The Kubernetes Jobs step runner, configured whenever `CONVEYOR_STEP_IMAGE` is set: the
   * default with `CONVEYOR_STEP_RUNNER=kubernetes`, else what a pipeline's `runner: kubernetes`
   * picks. Absent: pipelines cannot ask for it.
   */
  kubernetesSteps?: { namespace: string; image: string; source: 'git' | 'upload'; kubeconfig?: string };
  /** Registry credentials by host (`CONVEYOR_REGISTRY_AUTH`), for the image digest check. */
  registryAuth: ReadonlyMap<string, RegistryCredential>;
  /** Azure Resource Manager for AKS and ACR (`CONVEYOR_ARM_ENDPOINT`, `CONVEYOR_ARM_CA`, `CONVEYOR_ARM_AUDIENCE`); empty: public ARM. */
  arm: { endpoint?: string; ca?: string; audience?: string };
  /** Extra read-only folders for the sandbox (`CONVEYOR_SANDBOX_READONLY_PATHS`), absolute. */
  sandboxReadOnlyPaths: readonly string[];
  /** Sealed-secrets identities (`CONVEYOR_AGE_IDENTITY`), current first. */
  ageIdentities: readonly string[];
  /** Service Bus for events and approvals (`CONVEYOR_SERVICEBUS` or its `__fullyQualifiedNamespace`); absent: none. */
  serviceBus?: { connectionString: string } | { namespace: string };
  /** Topic for deployment events (`CONVEYOR_EVENTS_TOPIC`). */
  eventsTopic: string;
  /**
   * The secret values in the setting named `settingName` (an app's `webhookSecretSetting`):
   * comma-separated, trimmed, empty parts dropped. Parsed once per name.
   */
  webhookSecrets(settingName: string): readonly string[];
  /**
   * The kubeconfig in the setting named `settingName` (a `kubernetes` target's
   * `kubeconfigSetting`); only `CONVEYOR_KUBECONFIG_*` names are read, anything else is undefined.
   */
  kubeconfig(settingName: string): string | undefined;
  /** Every `CONVEYOR_KUBECONFIG_*` setting's value (their credentials join the redaction list at start-up). */
  kubeconfigs(): readonly string[];
  /**
   * The Git host token in the setting named `settingName` (an app's `feedback.tokenSetting`);
   * only `CONVEYOR_FEEDBACK_*` names are read, anything else is undefined.
   */
  feedbackToken(settingName: string): string | undefined;
}

const nonEmpty = z.string().trim().min(1);
const tokenEntry = z.strictObject({ id: z.string().min(1).max(320), name: z.string().max(200).optional(), groups: z.array(z.string().min(1).max(200)).max(100).default([]) });
const tokenTable = z.record(z.string().min(16, 'tokens must be at least 16 characters'), tokenEntry);

/** The step limits from `CONVEYOR_STEP_CPU`, `_MEMORY` and `_DISK`; unset ones take the defaults. */
export function parseStepLimits(env: NodeJS.ProcessEnv): StepLimits {
  const fail = (name: string, message: string): never => {
    throw new ValidationError(`invalid settings: ${name}: ${message}`, [{ path: name, message }]);
  };
  const text = (name: string) => (env[name] ?? '').trim();
  const cpu = text('CONVEYOR_STEP_CPU') === '' ? DEFAULT_STEP_LIMITS.cpu : Number(text('CONVEYOR_STEP_CPU'));
  if (!Number.isFinite(cpu) || cpu <= 0) fail('CONVEYOR_STEP_CPU', 'must be a positive number of CPUs');
  const size = (name: string, dflt: number): number => {
    if (text(name) === '') return dflt;
    return parseBytes(text(name)) ?? fail(name, 'must be a size such as 512Mi, 4Gi or 1G');
  };
  return { cpu, memoryBytes: size('CONVEYOR_STEP_MEMORY', DEFAULT_STEP_LIMITS.memoryBytes), diskBytes: size('CONVEYOR_STEP_DISK', DEFAULT_STEP_LIMITS.diskBytes) };
}

/** Parses `CONVEYOR_API_TOKENS`. */
export function parseApiTokens(raw: string | undefined): Settings['apiTokens'] {
  let parsed: unknown = {};
  try {
    parsed = (raw ?? '').trim() === '' ? {} : JSON.parse(raw!);
  } catch {
    return { ok: false, error: new ValidationError('CONVEYOR_API_TOKENS is not valid JSON', [{ path: 'CONVEYOR_API_TOKENS', message: 'must be a JSON object of token -> identity' }]) };
  }
  const result = tokenTable.safeParse(parsed);
  if (!result.success) {
    return {
      ok: false,
      error: new ValidationError(
        'CONVEYOR_API_TOKENS is invalid',
        result.error.issues.map((i) => ({ path: `CONVEYOR_API_TOKENS.${i.path.length > 0 ? '<token>' : ''}${i.path.slice(1).join('.')}`, message: i.message })),
      ),
    };
  }
  const table = new Map<string, Identity>();
  for (const [token, entry] of Object.entries(result.data)) table.set(token, { id: entry.id, ...(entry.name ? { name: entry.name } : {}), groups: entry.groups });
  return { ok: true, table };
}

/** Splits a webhook secret setting's value: comma-separated (several during a rotation), trimmed. */
export function splitSecrets(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * The Service Bus connection (`CONVEYOR_SERVICEBUS`, else `CONVEYOR_SERVICEBUS__fullyQualifiedNamespace`).
 * The local host's placeholder `UseDevelopmentEmulator=true` left unreplaced (no emulator) counts as none.
 */
function serviceBusSetting(env: Readonly<Record<string, string | undefined>>): Pick<Settings, 'serviceBus'> {
  const cs = (env.CONVEYOR_SERVICEBUS ?? '').trim();
  if (cs !== '' && cs.toLowerCase() !== 'usedevelopmentemulator=true') return { serviceBus: { connectionString: cs } };
  const ns = (env.CONVEYOR_SERVICEBUS__fullyQualifiedNamespace ?? '').trim();
  return ns !== '' ? { serviceBus: { namespace: ns } } : {};
}

/**
 * Reads and validates every setting from an environment (the process environment in the
 * Functions host; any record in tests).
 */
export function readSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  // The host's rule for a connection name: the setting itself (a connection string) or its
  // `__accountName` / `__blobServiceUri` identity form; Conveyor's own name first.
  const connection = resolveConnection(env, 'CONVEYOR_STORAGE_CONNECTION', 'blob') ?? resolveConnection(env, 'AzureWebJobsStorage', 'blob');
  const storage = connection?.kind === 'identity' ? { success: true as const, data: connection } : nonEmpty.safeParse(connection?.connectionString);
  if (!storage.success) {
    const issues = [{ path: 'CONVEYOR_STORAGE_CONNECTION (or AzureWebJobsStorage, or their __accountName / __blobServiceUri forms)', message: storage.error.issues[0]?.message ?? 'required' }];
    throw new ValidationError(`invalid settings: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const secretsByName = new Map<string, readonly string[]>();
  const allowUnsandboxed = (env.CONVEYOR_ALLOW_UNSANDBOXED_STEPS ?? '').trim().toLowerCase();
  if (allowUnsandboxed !== '' && allowUnsandboxed !== 'true' && allowUnsandboxed !== 'false') {
    const issues = [{ path: 'CONVEYOR_ALLOW_UNSANDBOXED_STEPS', message: 'must be true or false' }];
    throw new ValidationError('invalid settings: CONVEYOR_ALLOW_UNSANDBOXED_STEPS: must be true or false', issues);
  }
  // A kill point set outside the local host's test mode fails start-up, naming the setting.
  killPoint(env);
  const readOnlyPaths = splitSecrets(env.CONVEYOR_SANDBOX_READONLY_PATHS);
  const relativePath = readOnlyPaths.find((p) => !isAbsolute(p));
  if (relativePath !== undefined) {
    const issues = [{ path: 'CONVEYOR_SANDBOX_READONLY_PATHS', message: `${JSON.stringify(relativePath)} is not an absolute path` }];
    throw new ValidationError(`invalid settings: CONVEYOR_SANDBOX_READONLY_PATHS: ${issues[0]!.message}`, issues);
  }
  const runnerKind = (env.CONVEYOR_STEP_RUNNER ?? '').trim() || 'local';
  if (runnerKind !== 'local' && runnerKind !== 'kubernetes') {
    throw new ValidationError('invalid settings: CONVEYOR_STEP_RUNNER: must be local or kubernetes', [{ path: 'CONVEYOR_STEP_RUNNER', message: 'must be local or kubernetes' }]);
  }
  const stepImage = (env.CONVEYOR_STEP_IMAGE ?? '').trim();
  if (runnerKind === 'kubernetes' && !stepImage) {
    throw new ValidationError('invalid settings: CONVEYOR_STEP_IMAGE: required when CONVEYOR_STEP_RUNNER is kubernetes', [{ path: 'CONVEYOR_STEP_IMAGE', message: 'required when CONVEYOR_STEP_RUNNER is kubernetes' }]);
  }
  const stepSource = (env.CONVEYOR_STEP_SOURCE ?? '').trim() || 'git';
  if (stepSource !== 'git' && stepSource !== 'upload') {
    throw new ValidationError('invalid settings: CONVEYOR_STEP_SOURCE: must be git or upload', [{ path: 'CONVEYOR_STEP_SOURCE', message: 'must be git or upload' }]);
  }
  const kubernetesSteps: Settings['kubernetesSteps'] = stepImage
    ? { namespace: (env.CONVEYOR_STEP_NAMESPACE ?? '').trim() || 'conveyor-steps', image: stepImage, source: stepSource, ...(env.CONVEYOR_KUBECONFIG_STEPS ? { kubeconfig: env.CONVEYOR_KUBECONFIG_STEPS } : {}) }
    : undefined;
  const stepRunner: Settings['stepRunner'] =
    runnerKind === 'kubernetes'
      ? { kind: 'kubernetes', namespace: kubernetesSteps!.namespace, image: stepImage, ...(env.CONVEYOR_KUBECONFIG_STEPS ? { kubeconfig: env.CONVEYOR_KUBECONFIG_STEPS } : {}) }
      : { kind: 'local' };
  const armEndpoint = (env.CONVEYOR_ARM_ENDPOINT ?? '').trim();
  if (armEndpoint && !/^https:\/\/[^\s/]+(\/.*)?$/.test(armEndpoint)) {
    throw new ValidationError('invalid settings: CONVEYOR_ARM_ENDPOINT: must be an https URL', [{ path: 'CONVEYOR_ARM_ENDPOINT', message: 'must be an https URL' }]);
  }
  const armCa = (env.CONVEYOR_ARM_CA ?? '').trim();
  const armAudience = (env.CONVEYOR_ARM_AUDIENCE ?? '').trim();
  if (armAudience && !/^https:\/\/[^\s/]+\/?$/.test(armAudience)) {
    throw new ValidationError('invalid settings: CONVEYOR_ARM_AUDIENCE: must be an https URL with no path (the resource, e.g. https://management.usgovcloudapi.net)', [{ path: 'CONVEYOR_ARM_AUDIENCE', message: 'must be an https URL with no path' }]);
  }
  return {
    storageConnection: storage.data,
    stepRunner,
    stepLimits: parseStepLimits(env),
    ...(kubernetesSteps ? { kubernetesSteps } : {}),
    registryAuth: parseRegistryAuth(env.CONVEYOR_REGISTRY_AUTH),
    arm: { ...(armEndpoint ? { endpoint: armEndpoint.replace(/\/+$/, '') } : {}), ...(armCa ? { ca: armCa } : {}), ...(armAudience ? { audience: armAudience.replace(/\/+$/, '') } : {}) },
    dataDir: resolve(env.CONVEYOR_DATA_DIR || (env.WEBSITE_INSTANCE_ID ? join(tmpdir(), 'conveyor') : '.conveyor/data')),
    ...(env.CONVEYOR_GIT_TOKEN ? { gitToken: env.CONVEYOR_GIT_TOKEN } : {}),
    ...(env.CONVEYOR_GIT_USER ? { gitUser: env.CONVEYOR_GIT_USER } : {}),
    apiTokens: parseApiTokens(env.CONVEYOR_API_TOKENS),
    appServiceAuth: (env.WEBSITE_AUTH_ENABLED ?? '').toLowerCase() === 'true',
    entraGroups: parseEntraGroupMap(env.CONVEYOR_ENTRA_GROUPS),
    ...entraTokenSettings(env),
    allowUnsandboxedSteps: allowUnsandboxed === 'true',
    sandboxReadOnlyPaths: readOnlyPaths,
    ageIdentities: parseIdentities(env.CONVEYOR_AGE_IDENTITY),
    ...serviceBusSetting(env),
    eventsTopic: eventsTopic(env),
    kubeconfig(settingName: string): string | undefined {
      return /^CONVEYOR_KUBECONFIG_[A-Z0-9_]{1,64}$/.test(settingName) && env[settingName] ? env[settingName] : undefined;
    },
    kubeconfigs(): readonly string[] {
      return Object.entries(env)
        .filter((e): e is [string, string] => /^CONVEYOR_KUBECONFIG_[A-Z0-9_]{1,64}$/.test(e[0]) && typeof e[1] === 'string' && e[1] !== '')
        .map(([, v]) => v);
    },
    feedbackToken(settingName: string): string | undefined {
      const value = /^CONVEYOR_FEEDBACK_[A-Z0-9_]{1,64}$/.test(settingName) ? (env[settingName] ?? '').trim() : '';
      return value === '' ? undefined : value;
    },
    webhookSecrets(settingName: string): readonly string[] {
      let found = secretsByName.get(settingName);
      if (!found) {
        found = splitSecrets(env[settingName]);
        secretsByName.set(settingName, found);
      }
      return found;
    },
  };
}

/**
 * `CONVEYOR_EVENTS_TOPIC` (default `conveyor-events`), also read on its own when the app loads:
 * the Git host feedback trigger subscribes to this topic.
 */
export function eventsTopic(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return (env.CONVEYOR_EVENTS_TOPIC ?? '').trim() || 'conveyor-events';
}

/**
 * The operating system's environment of this process, for what a child process inherits
 * (PATH, HOME, TMPDIR, LANG). These are not Conveyor's settings and are never parsed as such;
 * they are read through here so that this module stays the one place `process.env` is read.
 */
export function hostEnvironment(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

/** Default of `CONVEYOR_RECONCILE_SCHEDULE`: every minute. */
export const DEFAULT_RECONCILE_SCHEDULE = '0 * * * * *';

/**
 * `CONVEYOR_RECONCILE_SCHEDULE`, read on its own because the timer is registered when the app
 * loads (before, and without, the other settings): a six-field NCRONTAB expression, `off`
 * (no timer), or the default. A malformed value fails loading with the setting's name.
 */
export function reconcileSchedule(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const raw = (env.CONVEYOR_RECONCILE_SCHEDULE ?? '').trim();
  if (raw === '') return DEFAULT_RECONCILE_SCHEDULE;
  if (raw.toLowerCase() === 'off') return undefined;
  const fields = raw.split(/\s+/);
  if (fields.length !== 6 || !fields.every((f) => /^[0-9*/,\-A-Za-z]+$/.test(f))) {
    const issues = [{ path: 'CONVEYOR_RECONCILE_SCHEDULE', message: 'must be a six-field NCRONTAB expression (e.g. "0 * * * * *") or off' }];
    throw new ValidationError(`invalid settings: CONVEYOR_RECONCILE_SCHEDULE: ${issues[0]!.message}`, issues);
  }
  return fields.join(' ');
}

/** Code points where {@link killPoint} may be armed (shared/config/fault-injection.ts). */
export const KILL_POINTS = ['lock.request', 'lock.acquire', 'lock.release', 'lock.wake.start', 'lock.wake.before-raise', 'lock.wake.after-raise'] as const;

/** A named code point where the test-only fault injection may kill the process. */
export type KillPoint = (typeof KILL_POINTS)[number];

/**
 * The variable the local host sets (to `true`) when it runs with its test flag (`--test-clock`).
 * It is the host's, not a Conveyor setting: the real Functions host never sets it.
 */
export const HOST_TEST_MODE_VARIABLE = 'FUNCTIONS_LOCAL_HOST_TEST_MODE';

/**
 * `CONVEYOR_TEST_KILL_AT`, read on its own (the entity and activities that pass kill points are
 * registered without the composition root): the point and at which pass (1-based) the process
 * kills itself, or undefined when unset. Refused (a {@link ValidationError} naming the setting)
 * unless the local host runs with its test flag, so it can never take effect in Azure.
 */
export function killPoint(env: Readonly<Record<string, string | undefined>> = process.env): { point: KillPoint; pass: number } | undefined {
  const raw = (env.CONVEYOR_TEST_KILL_AT ?? '').trim();
  if (raw === '' || raw.toLowerCase() === 'off') return undefined;
  const fail = (message: string) => {
    throw new ValidationError(`invalid settings: CONVEYOR_TEST_KILL_AT: ${message}`, [{ path: 'CONVEYOR_TEST_KILL_AT', message }]);
  };
  if (env[HOST_TEST_MODE_VARIABLE] !== 'true') fail('test-only fault injection; refused unless the local host runs with its test flag (--test-clock)');
  const m = /^([a-z.-]+)(?:#([1-9]\d{0,5}))?$/.exec(raw);
  const point = KILL_POINTS.find((p) => p === m?.[1]);
  if (!m || !point) return fail(`must be one of ${KILL_POINTS.join(', ')}, optionally followed by #<pass>`);
  return { point, pass: m[2] ? Number(m[2]) : 1 };
}

/** The settings of this process, read from its environment (the composition root calls this once). */
export function processSettings(): Settings {
  return readSettings(process.env);
}

/** `CONVEYOR_ENTRA_TENANT_ID` / `_CLIENT_ID` / `_AUTHORITY`: both ids or neither; the authority an http(s) URL. */
function entraTokenSettings(env: NodeJS.ProcessEnv): Pick<Settings, 'entraTokens'> {
  const tenantId = env.CONVEYOR_ENTRA_TENANT_ID?.trim();
  const clientId = env.CONVEYOR_ENTRA_CLIENT_ID?.trim();
  if (!tenantId && !clientId) return {};
  if (!tenantId || !clientId) {
    const missing = tenantId ? 'CONVEYOR_ENTRA_CLIENT_ID' : 'CONVEYOR_ENTRA_TENANT_ID';
    throw new ValidationError(`invalid settings: ${missing} must be set with ${missing === 'CONVEYOR_ENTRA_CLIENT_ID' ? 'CONVEYOR_ENTRA_TENANT_ID' : 'CONVEYOR_ENTRA_CLIENT_ID'}`, [{ path: missing, message: 'required when the other Entra ID setting is set' }]);
  }
  if (!/^[A-Za-z0-9.-]{1,128}$/.test(tenantId)) throw new ValidationError('invalid settings: CONVEYOR_ENTRA_TENANT_ID must be a tenant id or domain', [{ path: 'CONVEYOR_ENTRA_TENANT_ID', message: 'a GUID or a domain name' }]);
  const authority = (env.CONVEYOR_ENTRA_AUTHORITY?.trim() || 'https://login.microsoftonline.com').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+(\/[^\s]*)?$/.test(authority)) throw new ValidationError('invalid settings: CONVEYOR_ENTRA_AUTHORITY must be an http(s) URL', [{ path: 'CONVEYOR_ENTRA_AUTHORITY', message: 'an http(s) URL' }]);
  return { entraTokens: { tenantId, clientId, authority } };
}
