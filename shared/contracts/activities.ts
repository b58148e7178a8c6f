/**
 * The activity contracts: activity name -> input and output types, in one module, so
 * orchestrators call activities by contract and never import their implementations
 * (docs/architecture.md conventions). Pure types only.
 *
 * Expected failures (build broke, verification failed) come back as data (`ok: false`);
 * activities throw only for transient faults worth a retry (docs/architecture.md principle 3).
 */
import type { AcrImageBuildSpec, BuildStep, CommandStep, EnvironmentSpec, PipelineSpec, TargetSpec, VerifySpec } from '../domain/pipeline.js';
import type { DeploymentOutcome, DeploymentSubject, TargetDetails } from '../domain/deployment.js';
import type { Actor, RunPatch } from '../domain/run.js';
import type { CurrentDeployment } from '../domain/deployment.js';
import type { VerifyAttempt } from '../domain/verification.js';
import type { StepIsolation } from '../domain/run.js';
import type { BreakGlass } from '../domain/windows.js';


// The shapes these contracts carry that are domain types have their one home in shared/domain;
// they are re-exported here so a caller of the contracts needs one import.
export type { Actor, RunPatch } from '../domain/run.js';
export type { VerifyAttempt } from '../domain/verification.js';
export type { TargetDetails } from '../domain/deployment.js';
export type { ApprovalRecord } from '../domain/approval.js';

/** What a run is about: one commit of one app. */
export interface RunSubject {
  app: string;
  runId: string;
  /** When the push was received (ISO); orders runs for "newer commits win". */
  requestedAt: string;
  repoUrl: string;
  commit: string;
  branch?: string;
  pusher: Actor;
}

/** A step that ran and failed: the reason, and how it was isolated (recorded in the run). */
export type StepFailure = { ok: false; reason: string; details?: string[]; isolation: StepIsolation };

/** A result that is either a value or an expected failure with a reason. */
export type Outcome<T> = ({ ok: true } & T) | { ok: false; reason: string; details?: string[] };

/** Every activity Conveyor registers, by name. */
export interface ActivityContracts {
  /**
   * Reads and validates the pipeline file at the run's commit, checks its sealed secrets open,
   * and applies the app's environment policy (the effective approvals, the rules that applied).
   */
  loadPipeline: {
    input: {
      app: string;
      repoUrl: string;
      commit: string;
      pipelinePath: string;
      /** The pushed branch: environment policy may allow only some branches. */
      branch?: string;
    };
    output: Outcome<{ spec: PipelineSpec }>;
  };
  /**
   * Uploads the run's source to the registry and schedules its image build (`build.image`);
   * returns the registry's run id without waiting for the build.
   */
  startImageBuild: {
    input: { subject: RunSubject; image: AcrImageBuildSpec };
    output: Outcome<{ buildRunId: string; imageName: string; logName: string }>;
  };
  /**
   * Reads an image build once (the orchestrator polls it with durable timers), appending what
   * the registry's run log gained since `logOffset` to the image build's log.
   */
  readImageBuild: {
    input: { subject: RunSubject; image: AcrImageBuildSpec; buildRunId: string; logOffset: number };
    output: { state: 'running' | 'succeeded' | 'failed'; message: string; digest?: string; logOffset: number };
  };
  /** Checks out the commit, runs the build, packs and stores the artifact (by digest). */
  buildArtifact: {
    input: {
      subject: RunSubject;
      build: BuildStep;
      /** Keep the workspace for the test stage. */
      keepWorkspace: boolean;
      /** The digest `build.image` built: written to its `digestFile` before the command runs, and packed. */
      imageDigest?: string;
    };
    output: Outcome<{ digest: string; sizeBytes: number; durationMs: number; logName: string; reused: boolean; isolation: StepIsolation }> | StepFailure;
  };
  /** Runs the test command in the run's workspace. */
  runTests: {
    input: { subject: RunSubject; build: BuildStep; test: CommandStep };
    output: Outcome<{ durationMs: number; logName: string; isolation: StepIsolation }> | StepFailure;
  };
  /** Deploys an artifact digest to an environment's target as the environment's next revision. */
  deployArtifact: {
    input: Pick<DeploymentSubject, 'app' | 'environment' | 'runId' | 'commit' | 'digest' | 'kind' | 'rolledBackTo'> & { target: TargetSpec };
    output:
      | Outcome<{
          revision: number;
          baseUrl: string;
          startedAt: string;
          finishedAt: string;
          /** Target facts for the ledger (kubernetes: image digest, rendered manifests). */ targetDetails?: TargetDetails;
          /** How the service was isolated (targets that run it here: `process`). */ isolation?: StepIsolation;
        }>
      | { ok: false; reason: string; details?: string[]; revision: number };
  };
  /**
   * Reads once where the rollout of a deployed revision stands (targets with rollouts, e.g.
   * kubernetes); the orchestrator polls it with durable timers until complete, failed or late.
   */
  readRollout: {
    input: { app: string; environment: string; target: TargetSpec; revision: number };
    output: { state: 'complete' | 'progressing' | 'failed'; message: string };
  };
  /** One verification try against a deployed environment (the retry loop is durable, in the orchestrator). */
  verifyEnvironment: {
    input: { baseUrl: string; check: VerifySpec; checkIndex: number; attempt: number };
    output: VerifyAttempt;
  };
  /** Appends a deployment (or rollback) to the ledger under its revision and moves `current`. */
  recordDeployment: {
    input: DeploymentOutcome;
    output: { revision: number };
  };
  /**
   * Finds the revision a rollback should redeploy: a named one, or the last good revision
   * before the environment's current one.
   */
  findRollbackTarget: {
    input: { app: string; environment: string; toRevision?: number; force?: boolean };
    output: Outcome<{ revision: number; commit: string; digest: string }>;
  };
  /** Tells a promotion waiting for its approval that a newer run superseded it (raises its `Superseded` event). */
  notifySuperseded: {
    input: { instanceId: string; by: string };
    output: null;
  };
  /**
   * Raises a lock event (`granted` -> LockGranted, `superseded` -> Superseded) on a waiting
   * party, or with no event only checks it. `gone`: the instance has ended (or never existed),
   * so the caller releases what it held on its behalf.
   */
  /**
   * May this party change the environment now? `closed`: wait (frozen: until an unfreeze wakes
   * it; otherwise until `retryAt`); `refused`: never for this digest (quarantined there).
   */
  checkEnvironmentGate: {
    input: {
      app: string;
      environment: string;
      kind: 'promotion' | 'rollback' | 'heal';
      digest?: string;
      /** The orchestration's time (windows are judged at it; the test clock moves it). */
      now?: string;
      /** A break-glass override asked for; checked against the policy's `breakGlass` list here. */
      breakGlass?: BreakGlassRequest;
      /** A forced rollback may redeploy a quarantined digest. */
      force?: boolean;
    };
    output:
      | { state: 'open'; breakGlass?: BreakGlass; note?: string }
      | { state: 'closed'; frozen: boolean; reason: string; retryAt?: string; breakGlassRefused?: string }
      | { state: 'refused'; reason: string };
  };
  /**
   * Around a rollback: freezes the environment (a requested rollback; unless already frozen) and
   * quarantines the digest rolled back away from (requested or automatic).
   */
  freezeAfterRollback: {
    input: {
      app: string;
      environment: string;
      /** Who the freeze and quarantine are recorded as (`system` for an automatic rollback). */
      by: Actor;
      reason: string;
      /** Freeze too (a requested rollback), or only quarantine (an automatic one). */
      freeze: boolean;
      /** The revision rolled back away from; `current`: the ledger's current one, unless its digest is `keepDigest` (the rollback's own target). */
      quarantine?: { revision: number; commit: string; digest: string } | 'current';
      keepDigest?: string;
    };
    output: null;
  };
  /** The ledger's current deployment of an environment (null: never deployed). */
  currentDeployment: {
    input: { app: string; environment: string };
    output: CurrentDeployment | null;
  };
  wakeLockParty: {
    input: { instanceId: string; event?: 'granted' | 'superseded'; what?: 'turn' | 'slot'; by?: string; raiseOn?: string };
    output: { delivered: boolean; gone: boolean };
  };
  /** Creates or updates the run record (stage times, statuses, environment outcomes). */
  recordRun: {
    input: { app: string; runId: string; patch: RunPatch };
    output: null;
  };
}

/** Activity names. */
export type ActivityName = keyof ActivityContracts;
/** Input type of an activity. */
export type ActivityInput<K extends ActivityName> = ActivityContracts[K]['input'];
/** Output type of an activity. */
export type ActivityOutput<K extends ActivityName> = ActivityContracts[K]['output'];

/** Orchestration inputs. */
export interface PipelineInput {
  subject: RunSubject;
  pipelinePath: string;
}

/** Input of one environment's promotion. */
export interface PromotionInput {
  subject: RunSubject;
  digest: string;
  environment: EnvironmentSpec;
}

/** Input of a `rollback` orchestration (started by the rollback API). */
export interface RollbackInput {
  operationId: string;
  app: string;
  environment: string;
  repoUrl: string;
  pipelinePath: string;
  toRevision?: number;
  force: boolean;
  reason?: string;
  requestedBy: Actor;
  requestedAt: string;
  /** Break-glass for a closed deploy window (rollbacks enter closed windows only by it or the policy flag). */
  breakGlass?: BreakGlassRequest;
}

/** A break-glass override as asked for (the gate checks who may). */
export interface BreakGlassRequest {
  /** The id of who asks (checked against the policy's `breakGlass` list with `groups`). */
  by: string;
  /** Their display name, when known (recorded with the id). */
  name?: string;
  groups: string[];
  reason: string;
  at: string;
}

/** Whether an event payload is a break-glass request (events can arrive through the durable management API unchecked). */
export function isBreakGlassRequest(value: unknown): value is BreakGlassRequest {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.by === 'string' && Array.isArray(r.groups) && r.groups.every((g) => typeof g === 'string') && typeof r.reason === 'string' && typeof r.at === 'string';
}

/** Input of the `heal` orchestration: redeploy the ledger's current revision where drift was found. */
export interface HealInput {
  app: string;
  environment: string;
  /** The revision the sweep saw as current; the heal does nothing if the ledger has moved on. */
  revision: number;
  commit: string;
  digest: string;
  repoUrl: string;
  pipelinePath: string;
  /** Why (the drift reason), recorded with the revision. */
  reason: string;
  requestedAt: string;
}

/** How a heal ended. */
export interface HealResult {
  status: 'Succeeded' | 'Failed' | 'Skipped' | 'Errored';
  reason?: string;
  /** The revision recorded for the heal. */
  revision?: number;
}

/** How a rollback operation ended (its orchestration output). */
export interface RollbackResult {
  status: 'Succeeded' | 'Failed' | 'Errored';
  reason?: string;
  /** The new revision recorded for the rollback. */
  revision?: number;
  /** The revision whose artifact was redeployed. */
  rolledBackTo?: number;
  commit?: string;
}

/** How a promotion ended. */
export interface PromotionResult {
  environment: string;
  status: 'Succeeded' | 'Failed' | 'Errored' | 'Aborted' | 'Superseded';
  reason?: string;
  revision?: number;
  /** The revision whose artifact an automatic rollback redeployed. */
  rolledBackTo?: number;
  /** How the deployed service was isolated (targets that run it here: `process`). */
  isolation?: StepIsolation;
}
