/**
 * The deploy target port: where an environment's artifact runs. The `process` target (local
 * processes, the embedded default) implements it today; a Kubernetes/AKS target implements the
 * same interface later, which is why everything a target needs arrives in the request (the
 * spec carries cluster, namespace, image settings for such a target) and results are plain
 * JSON data (they cross activity boundaries).
 */
import type { TargetSpec } from '../domain/pipeline.js';
import type { StepIsolation } from '../domain/run.js';

/**
 * A revision number from a target's own text (a label, an annotation, an older state file),
 * or undefined when the text is not a revision number.
 */
export function revisionFromText(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

/** A scalar that survives JSON (target-specific detail values). */
export type DetailValue = string | number | boolean | null;

/** What to deploy, and where. */
export interface DeployRequest<S extends TargetSpec = TargetSpec> {
  app: string;
  environment: string;
  /** The ledger's revision number of this deployment (targets use it in names and labels as its decimal text). */
  revision: number;
  /** The git commit the artifact was built from. */
  commit: string;
  /** The run deploying it, when a run does (targets may label what they create with it). */
  runId?: string;
  /** Content digest of the artifact (build once, promote many: every environment gets the same). */
  digest: string;
  /** The environment's target settings from the pipeline. */
  spec: S;
  /**
   * Opened sealed secrets for the service, as environment variables (the spec carries only
   * their ciphertext). A target hands them to the service without writing them where others
   * read (a Kubernetes target: a Secret object, never the manifest).
   */
  secretEnv?: Readonly<Record<string, string>>;
  /**
   * Opened sealed secrets for the service as files: variable -> value. A sandboxing target puts
   * each in a read-only file in memory inside the sandbox (`/run/secrets/<variable>`) and sets the
   * variable to its path; a target that cannot keep them off the host's disk refuses them.
   */
  secretFiles?: Readonly<Record<string, string>>;
  /**
   * Writes the artifact's files into `destDir` (an empty folder the target chose). The caller
   * owns where the artifact comes from (blob download and extraction); the target owns where
   * it goes. A Kubernetes target may ignore it and deploy an image named by the digest.
   * If it throws, the deploy throws and nothing that was running is touched.
   */
  materialize(destDir: string): Promise<void>;
  /**
   * Reads files of the app's repository at `commit` (a folder, recursively, by name pattern):
   * where a target takes configuration that is code in the repository (kubernetes: the
   * manifests). Targets that need none ignore it.
   */
  readRepository?(folder: string, include: RegExp): Promise<Array<{ file: string; text: string }>>;
  /**
   * What the ledger recorded for the revision being deployed again (a rollback or a heal),
   * as the target reported it then (`DeploySuccess.details`): a target that records what it
   * applied (kubernetes: `renderedManifests`) re-applies exactly that.
   */
  recorded?: Readonly<Record<string, DetailValue>>;
  /** A heal: take back what was edited on the target (kubernetes: force field ownership). */
  heal?: boolean;
  /**
   * Restart even when this exact revision and digest are already running and healthy. By
   * default such a deploy is a no-op success, which makes a retried deploy activity idempotent.
   */
  force?: boolean;
}

/** A deployment that is up: the new revision runs and accepts connections. */
export interface DeploySuccess {
  ok: true;
  /** Where verification (and users) reach the environment, e.g. `http://127.0.0.1:4101`. */
  baseUrl: string;
  revision: number;
  /** When the running instance started (ISO 8601). */
  startedAt: string;
  /** True when nothing had to be done (the revision already ran and was healthy). */
  unchanged: boolean;
  /** Target-specific facts for the record (process: pid, releaseDir, logFile). */
  details: Record<string, DetailValue>;
  /** How the service runs isolated (targets that run it on this machine). */
  isolation?: StepIsolation;
}

/** A deployment that did not come up; an expected outcome reported as data. */
export interface DeployFailure {
  ok: false;
  /** One line for humans and the run record. */
  reason: string;
  /** The end of the new revision's output, to explain the failure. */
  logTail: string;
}

/** The outcome of {@link DeployTarget.deploy}. */
export type DeployResult = DeploySuccess | DeployFailure;

/**
 * What an environment actually runs, as the target sees it (for drift detection):
 * - `absent`: nothing was ever deployed there;
 * - `running`: the recorded revision is up (see `healthy` for whether it accepts connections);
 * - `stopped`: stopped on purpose;
 * - `failed`: the last deployment did not come up;
 * - `exited`: it was up but is gone now (crashed or killed outside Conveyor).
 */
export type TargetState = 'absent' | 'running' | 'stopped' | 'failed' | 'exited';

/** Reported by {@link DeployTarget.status}. */
export interface TargetStatus {
  app: string;
  environment: string;
  state: TargetState;
  /** True when the recorded revision's workload is alive. */
  running: boolean;
  /** True when it also accepts connections (process: its port answers on 127.0.0.1). */
  healthy: boolean;
  /** The ledger revision that runs there, as the target recorded it. */
  revision?: number;
  commit?: string;
  digest?: string;
  startedAt?: string;
  baseUrl?: string;
  /** Why the state is `failed` or `exited`, when known. */
  reason?: string;
  /** Target-specific facts (process: pid, pgid, port, releaseDir, logFile). */
  details: Record<string, DetailValue>;
}

/** The outcome of {@link DeployTarget.stop}. */
export type StopResult = { ok: true; wasRunning: boolean; revision?: number } | { ok: false; reason: string };

/** One kind of deploy target, keyed by `spec.type`. */
export interface DeployTarget<S extends TargetSpec = TargetSpec> {
  /** The `target.type` this implementation serves. */
  readonly type: S['type'];
  /**
   * Replaces whatever runs in the environment with the requested revision and waits until it
   * is up. Expected failures (does not start, exits, port taken) come back as `ok: false`;
   * it throws only for faults worth a retry (e.g. `materialize` failed, disk full).
   */
  deploy(request: DeployRequest<S>): Promise<DeployResult>;
  /** What actually runs in the environment. `spec` is optional: the target's own records suffice for `process`. */
  status(app: string, environment: string, spec?: S): Promise<TargetStatus>;
  /** Stops the environment's workload; stopping nothing is a success with `wasRunning: false`. */
  stop(app: string, environment: string, spec?: S): Promise<StopResult>;
  /** Where the environment is reached once deployed (known before deploying). */
  baseUrl(app: string, environment: string, spec: S): string;
}
