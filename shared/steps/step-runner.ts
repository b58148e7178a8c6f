/**
 * The `StepRunner` port: the one way any pipeline step (build, test, and later kinds) runs.
 *
 * A runner takes a {@link StepRequest} (shell text, the workspace, environment, secrets to mask,
 * timeout, network on/off, a log sink) and resolves with a {@link StepOutcome} once the step has
 * ended and its redacted output is flushed. It is shaped for two kinds of runner:
 *
 * - **local**: a process on this machine (`bubblewrap` sandbox, or unsandboxed where the operator
 *   allowed it); the workspace folder is used in place;
 * - **remote**: a Kubernetes Job or similar; the runner copies `workspace.dir` in, runs the
 *   command, streams the output back into `log`, and copies back `workspace.outputs` (the paths
 *   the caller reads after the step, e.g. the build's artifact paths) before resolving.
 *
 * Contract every runner keeps (tests in test/integration/step-runner*.test.ts prove it for the
 * local runners):
 * - `command` is the pipeline file's text, run with `bash -c`; untrusted values (branch, commit
 *   message, author) reach it only as `CONVEYOR_*` variables from `conveyorVars`;
 * - the step sees only `env`, `secretEnv` and `CONVEYOR_*` (plus PATH/HOME/LANG/TMPDIR), never
 *   the orchestrator's environment;
 * - every value of `redact` and of `secretEnv` is masked in everything written to `log` and in
 *   `outputTail`; secret values never appear in a request's serialisable description;
 * - when `timeoutMs` passes (or `signal` aborts) the whole step is killed (every process it
 *   started), and so is anything it left running when it ends;
 * - a failing command is an outcome, not an error: only a runner that cannot run the step at
 *   all (workspace missing, sandbox unavailable, cluster unreachable) rejects.
 */
import type { StepResources } from '../domain/pipeline.js';
import type { LogSink } from '../executor/log-sink.js';
import type { SecretRegistry } from '../secrets/redactor.js';
import type { LimitHit, StepIsolation } from './step-limits.js';

/** Values exposed to the step as `CONVEYOR_<NAME>` variables (`runId` -> `CONVEYOR_RUN_ID`). */
export interface StepVars {
  app: string;
  commit: string;
  branch?: string;
  environment?: string;
  /** Further values, e.g. `{ runId, pusher, step }`. */
  [name: string]: string | undefined;
}

/** Whether the step may use the network. `on` is the default (builds fetch dependencies). */
export type StepNetwork = 'on' | 'none';

/** The tree a step works in. */
export interface StepWorkspace {
  /** Folder on this machine holding the checked-out commit; the only tree the step may write. */
  dir: string;
  /**
   * Workspace-relative paths the caller reads after the step (e.g. the build artifact), `[]`
   * when it reads nothing, undefined when the whole tree matters (a test step follows in it). A
   * local runner ignores it; a remote runner copies these back into `dir` before resolving.
   */
  outputs?: readonly string[];
}

/** One step to run. */
export interface StepRequest {
  /** Step name for logs and runner-side labels (`build`, `test`, ...). */
  name: string;
  /** Shell text from the pipeline file; run with `bash -c` in the workspace. */
  command: string;
  workspace: StepWorkspace;
  /** Literal variables from the pipeline file. */
  env: Readonly<Record<string, string>>;
  /**
   * Decrypted secret values handed to the step as environment variables. A runner masks every
   * value in the output and must not put them where others can read them (a remote runner uses
   * a secret object, never the Job spec).
   */
  secretEnv?: Readonly<Record<string, string>>;
  /**
   * Decrypted secret values handed to the step as files: variable -> value. The runner puts each
   * in a read-only file kept in memory inside the step's sandbox ({@link SECRET_FILES_DIR}`/<variable>`),
   * sets the variable to its path, and masks the value like `secretEnv`'s.
   */
  secretFiles?: Readonly<Record<string, string>>;
  /** CPU, memory and disk the step asks for; each at most the runner's ceiling (step-limits.ts). */
  resources?: StepResources;
  /** Become `CONVEYOR_*` variables; the pipeline file cannot override them. */
  conveyorVars: StepVars;
  /** Values masked in the output (Conveyor's own secrets and every registered one). */
  redact?: SecretRegistry | Iterable<string>;
  /** The whole step is killed after this long. */
  timeoutMs: number;
  /** `none` gives the step no network at all (not even loopback). Default `on`. */
  network?: StepNetwork;
  /** Receives redacted output while the step runs. */
  log: LogSink;
  /** Aborting kills the step like a timeout (but `timedOut` stays false). */
  signal?: AbortSignal;
  /**
   * A remote runner's image for this step (a Kubernetes Job's container); local runners ignore it.
   */
  image?: string;
  /**
   * The commit the workspace is a fresh checkout of, when it is one (the build step): a remote
   * runner may fetch it from git where the step runs instead of copying the workspace in.
   * Local runners ignore it.
   */
  source?: { repoUrl: string; commit: string };
}

/** How a step ended. */
export interface StepOutcome {
  /** Exit code of the command, or null when it was killed by a signal. */
  exitCode: number | null;
  /** Signal that ended the command, if any. */
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** True when the step was killed for exceeding `timeoutMs`. */
  timedOut: boolean;
  /** The last lines of (redacted) output, for failure reports. */
  outputTail: string;
  /** Which runner ran it and how isolated it was: sandbox, network, limits and how they were enforced. */
  isolation: StepIsolation;
  /** The limit the step ran into, when it failed because of one. */
  limitHit?: LimitHit;
}

/** Where secret files appear inside a step's or service's sandbox. */
export const SECRET_FILES_DIR = '/run/secrets';

/** Runs pipeline steps. Implementations: shared/steps/*.step-runner.ts, shared/targets/kubernetes. */
export interface StepRunner {
  /** Short name recorded with each outcome (`isolation`). */
  readonly kind: string;
  /**
   * Runs one step and resolves when it has ended and its output is flushed to `request.log`.
   * Rejects only when the step could not be run at all.
   */
  run(request: StepRequest): Promise<StepOutcome>;
}
