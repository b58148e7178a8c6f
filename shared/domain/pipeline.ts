/**
 * The validated, normalised pipeline specification (what `.conveyor/pipeline.yaml` becomes
 * after parsing). Pure types only, so orchestrations may import them. Durations are
 * milliseconds here; the file says `90s`, `15m`, `24h`. The schema in shared/pipeline produces
 * exactly these shapes.
 */

import type { PolicyDecision } from './policy-decision.js';

/** A JSON value (for `json.equals` checks and free-form inputs). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * An environment variable whose value is a sealed (age-encrypted) secret of the pipeline file.
 * Only ciphertext travels in the spec (through durable history and records); the activity that
 * runs the step or deploys the service opens it.
 */
export interface SecretBinding {
  /** Name of the secret in the file's top-level `secrets:`. */
  secret: string;
  /** How errors name it: `secrets.<name> (<where it is used>)`. */
  reference: string;
  /** ASCII-armored age ciphertext (read from the repository by `loadPipeline` for `file:` secrets). */
  sealed: string;
  /**
   * `file`: the value is a read-only file in memory inside the sandbox (`/run/secrets/<VARIABLE>`)
   * and the variable holds its path; absent: the variable holds the value.
   */
  as?: 'file';
}

/** Environment variable name -> sealed secret. */
export type SecretBindings = Record<string, SecretBinding>;

/** One entry of the file's top-level `secrets:`: inline armored text, or a file in the repository. */
export interface SealedSecretSource {
  /** Repository-relative path of an armored age file, read at the run's commit. */
  file?: string;
  /** Armored age text (inline, or filled in from `file` when the pipeline is loaded). */
  sealed?: string;
}

/** What a step asks for (each at most the installation's; shared/steps/step-limits.ts). */
export interface StepResources {
  /** CPUs. */
  cpu?: number;
  /** Bytes of memory. */
  memoryBytes?: number;
  /** Bytes of disk. */
  diskBytes?: number;
}

/** A shell step run in the checked-out workspace. */
export interface CommandStep {
  /** Run with `bash -c` in the workspace. */
  command: string;
  /** Kill the step's whole process group after this long. */
  timeoutMs: number;
  /** Extra environment variables for the step (literal values from the file). */
  env: Record<string, string>;
  /** `none`: the step's sandbox has no network. Absent means `on`. */
  network?: 'on' | 'none';
  /** Sealed secrets handed to the step as environment variables (or files). */
  secrets?: SecretBindings;
  /** CPU, memory and disk the step asks for; absent: the installation's defaults. */
  resources?: StepResources;
  /**
   * Where the step runs: `local` (this machine, sandboxed) or `kubernetes` (a Job). Absent: the
   * installation's default (`CONVEYOR_STEP_RUNNER`). The file's top-level `runner:` fills it in.
   */
  runner?: StepRunnerKind;
  /** The image a `kubernetes` step's Job runs in (default: the installation's `CONVEYOR_STEP_IMAGE`). */
  jobImage?: string;
}

/** Where steps run. */
export type StepRunnerKind = 'local' | 'kubernetes';

/**
 * A container image built by Azure Container Registry (ACR Tasks) from the run's source: the
 * repository at the commit (or a folder of it) is uploaded as the build context, built with the
 * Dockerfile, pushed as `<repository>:<commit>`, and its digest written to `digestFile` in the
 * workspace before the build command runs (and packed with the artifact), so every environment
 * pins that same digest (shared/targets/kubernetes/acr-build.ts, docs/kubernetes.md).
 */
export interface AcrImageBuildSpec {
  type: 'acr';
  subscription: string;
  resourceGroup: string;
  /** The registry's resource name (its login server is `<registry>.azurecr.io` in Azure's public cloud). */
  registry: string;
  /** Repository in the registry, e.g. `shop/web`. */
  repository: string;
  /** Dockerfile, relative to `context`. */
  dockerfile: string;
  /** Repository-relative folder uploaded as the build context (`.`: the whole tree). */
  context: string;
  /** The image build may take this long. */
  timeoutMs: number;
  /** Wait between status reads of the registry's run (a durable timer). */
  pollMs: number;
  /** Workspace-relative file the digest is written to (packed with the artifact). */
  digestFile: string;
}

/** The build step: runs once per commit and packages `artifact` paths. */
export interface BuildStep extends CommandStep {
  /** Workspace-relative paths (files or folders) packed into the artifact. */
  artifact: string[];
  /** An image built from the run's source before the command runs (promoted by digest). */
  image?: AcrImageBuildSpec;
}

/** Runs the artifact as a local process per environment (the embedded default target). */
export interface ProcessTargetSpec {
  type: 'process';
  /** Start command, run with `bash -c` in the release folder. */
  start: string;
  /** TCP port the process listens on (127.0.0.1); becomes `PORT`. */
  port: number;
  /** Extra environment variables for the process. */
  env: Record<string, string>;
  /** How long to wait for the port to accept connections after start. */
  startTimeoutMs: number;
  /** Sealed secrets handed to the service as environment variables (the environment's `secrets:`). */
  secrets?: SecretBindings;
}

/**
 * How an environment deploys to Kubernetes (shared by the `kubernetes` and `aks` targets): the
 * repository's manifests (a folder of YAML, read at the run's commit) server-side applied to a
 * namespace, the image the build reported pinned by digest (shared/targets/kubernetes,
 * docs/kubernetes.md).
 */
export interface KubeDeploySpec {
  /** The namespace every object goes to (manifests may name it or leave it out). */
  namespace: string;
  /** Repository-relative folder of `*.yaml` / `*.yml` manifests, read at the run's commit. */
  manifests: string;
  /**
   * The image the build pushed: containers using `name` (any tag) are pinned to `name@<digest>`.
   * `registryCheck: false` skips asking the registry whether it holds the digest (absent: on).
   */
  image: { name: string; digestFile: string; registryCheck?: boolean };
  /** Take over fields another field manager owns instead of failing with the conflict. */
  forceConflicts: boolean;
  /** Delete objects of this app and environment that the manifests no longer contain. */
  prune: boolean;
  /** How long the rollout may take before verification fails. */
  rolloutTimeoutMs: number;
  /** Wait between rollout status reads (a durable timer). */
  rolloutPollMs: number;
  /** Base URL where verification (HTTP checks) reaches the environment. */
  url: string;
  /**
   * Sealed secrets of the environment's service (the environment's `secrets:`); the target
   * receives them opened, as `DeployRequest.secretEnv`.
   */
  secrets?: SecretBindings;
}

/** Any Kubernetes cluster, reached with a kubeconfig from a setting or the in-cluster service account. */
export interface KubernetesTargetSpec extends KubeDeploySpec {
  type: 'kubernetes';
  /** Setting holding the kubeconfig (YAML); absent means the in-cluster service account. */
  kubeconfigSetting?: string;
  /**
   * The kubeconfig as a sealed secret of the pipeline file (`kubeconfigSecret:`): only its
   * ciphertext travels; the target opens it with the app's key where it connects.
   */
  kubeconfigSealed?: SecretBinding;
  /** kubeconfig context to use (default: its current context). */
  context?: string;
}

/** An AKS cluster, whose endpoint and credentials Conveyor gets from Azure Resource Manager. */
export interface AksTargetSpec extends KubeDeploySpec {
  type: 'aks';
  /** Subscription id of the cluster. */
  subscription: string;
  resourceGroup: string;
  /** The managed cluster's name. */
  cluster: string;
}

/** Targets that deploy to a Kubernetes cluster. */
export type KubeTargetSpec = KubernetesTargetSpec | AksTargetSpec;

/** Where an environment's artifact runs. A tagged union so other targets (AKS) slot in. */
export type TargetSpec = ProcessTargetSpec | KubernetesTargetSpec | AksTargetSpec;

/** An HTTP check against the environment's base URL. */
export interface HttpCheckSpec {
  type: 'http';
  /** Path (with optional query) appended to the environment's base URL. */
  path: string;
  /** Expected HTTP status. */
  expectStatus: number;
  /** The body must contain this text. */
  bodyContains?: string;
  /** A JSON field (dotted path, e.g. `build.commit`) must equal a value. */
  json?: { path: string; equals: JsonValue };
  /** Per-try timeout. */
  timeoutMs: number;
  /** Extra tries after the first failing one. */
  retries: number;
  /** Wait between tries (a durable timer in the orchestration). */
  intervalMs: number;
  /** Consecutive passing tries needed. */
  successes: number;
}

/** One verification of a deployed environment. A tagged union for later check types. */
export type VerifySpec = HttpCheckSpec;

/** A manual gate before an environment is deployed. */
export interface ApprovalSpec {
  /** User identities (e.g. `alice@example.com`) or groups (`group:release-managers`). */
  approvers: string[];
  /** Number of distinct approvers needed. */
  required: number;
  /** Give up (run ends Aborted) after this long. */
  timeoutMs: number;
  /** Whether the commit's pusher may approve their own change. */
  allowSelfApproval: boolean;
  /**
   * Set by environment policy (shared/domain/policy.ts), never by the file: an approver must be
   * on this list as well as on `approvers` (a narrower file list, or the list deployed before).
   */
  alsoApprovers?: string[];
}

/** One environment of the promotion chain, in declared order. */
export interface EnvironmentSpec {
  /** Unique, URL- and blob-path-safe name. */
  name: string;
  target: TargetSpec;
  verify: VerifySpec[];
  approval?: ApprovalSpec;
  /** `auto`: a failed verification redeploys the last good revision. */
  rollback: 'auto' | 'manual';
  /** `latest`: a newer run supersedes a waiting one; `queue`: runs wait their turn. */
  concurrency: 'latest' | 'queue';
  /**
   * Set when the pipeline is loaded, from the app's environment policy: the rules that applied
   * (`approval` above is already the effective one) and, if this run may not deploy here, why.
   */
  policy?: { decisions: PolicyDecision[]; refusal?: string };
  /** `report`: the reconcile sweep reports drift; `heal`: it also redeploys the recorded revision. */
  drift: 'report' | 'heal';
  /** Soak time: the next environment is promoted only after the revision ran verified this long here. */
  soakMs?: number;
}

/** The whole pipeline of an application. */
export interface PipelineSpec {
  version: 1;
  /** Sealed secrets by name, referenced by steps and environments. */
  secrets?: Record<string, SealedSecretSource>;
  build: BuildStep;
  test?: CommandStep;
  environments: EnvironmentSpec[];
}
