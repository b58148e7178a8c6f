/**
 * The run record: what one pipeline run (one commit of one app) did, stage by stage and
 * environment by environment, and the patches that update it. Pure types and pure rules; stored
 * by shared/ledger/run-store.ts, updated through shared/use-cases/record-run.use-case.ts.
 */
import type { ApprovalRecord } from './approval.js';
import type { PolicyDecision } from './policy-decision.js';
import type { Status } from './status.js';
import type { VerifyAttempt } from './verification.js';

/** What started a run: a webhook, the reconcile poll (a missed webhook), a drift heal, an API call. */
export type RunTrigger = 'webhook' | 'poll' | 'heal' | 'api';

export { actorLabel, actorOf, upgradeStoredActor, type Actor } from './actor.js';
import type { Actor } from './actor.js';

/** One stage (load, build, test) of a run. */
export interface RunStageRecord {
  status: Status;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Blob name of the stage's log in the logs container. */
  logName?: string;
  /** How the stage's step was isolated (runner, sandbox, network, limits and their enforcement). */
  isolation?: StepIsolation;
}

/** How a step or service actually ran: shared/steps/step-limits.ts produces it, the run records it. */
export interface StepIsolation {
  /** Which runner ran it: `bubblewrap`, `unsandboxed`, `kubernetes-job`. */
  runner: string;
  /** True when it ran in a sandbox or container of its own. */
  sandbox: boolean;
  /** `on` or `none`. */
  network: 'on' | 'none';
  /** The limits applied; absent where none could be (unsandboxed). */
  limits?: { cpu: number; memory: string; disk: string };
  /** How each limit was enforced, or why not. */
  enforcement: string[];
  /** Asked limits lowered to the installation's. */
  notes?: string[];
}

/** What happened in one environment during a run (the one shape: recorded, patched and read). */
export interface RunEnvironmentRecord {
  status: Status;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Ledger revision recorded for this run's deployment. */
  revision?: number;
  /** The revision whose artifact an automatic rollback redeployed. */
  rolledBackTo?: number;
  /** How this run's service was isolated where it was deployed (`process` targets). */
  isolation?: StepIsolation;
  /** Verification tries. */
  verification?: VerifyAttempt[];
  /** A break-glass override that let this run through a closed deploy window. */
  breakGlass?: { by: Actor; reason: string; at: string };
  /** The approval gate, while and after it waits. */
  approval?: ApprovalRecord;
  /** Environment policy rules that applied to this run here, and why (shared/domain/policy.ts). */
  policy?: PolicyDecision[];
}

/** A run record. Unknown extra fields written by newer code are kept, not rejected. */
export interface RunRecord {
  app: string;
  runId: string;
  status: Status;
  commit: string;
  branch?: string;
  reason?: string;
  pusher?: Actor;
  /** What started the run (absent on runs recorded before triggers were). */
  trigger?: RunTrigger;
  /** The pushed commit's message and author, when the webhook described it (untrusted text). */
  headCommit?: HeadCommit;
  /** Artifact digest (`sha256:<hex>`) once built. */
  digest?: string;
  stages: Record<string, RunStageRecord>;
  environments: Record<string, RunEnvironmentRecord>;
  /** Declared environment order, for display. */
  environmentOrder?: string[];
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/**
 * A partial update of a run record. Top-level fields replace; stage and environment entries
 * merge field by field (so a promotion's approval update and the pipeline's environment status
 * never drop each other's fields). Undefined values change nothing.
 */
export interface RunPatch {
  status?: Status;
  reason?: string;
  commit?: string;
  branch?: string;
  pusher?: Actor;
  digest?: string;
  stages?: Record<string, RunStageRecord>;
  environments?: Record<string, RunEnvironmentRecord>;
  startedAt?: string;
  finishedAt?: string;
  environmentOrder?: string[];
  /** What started the run; set by patches that create their own record (a heal's). */
  trigger?: RunTrigger;
}

/** The pushed commit as the webhook described it (untrusted text). */
export interface HeadCommit {
  message: string;
  author: string;
}

/** What a run record starts from: the run's identity and its commit. */
export interface NewRunFields {
  app: string;
  runId: string;
  commit: string;
  branch?: string;
  pusher?: Actor;
  trigger?: RunTrigger;
  headCommit?: HeadCommit;
}

/** The fields of a new run record: Pending, no stages, no environments (the store adds its timestamps). */
export function pendingRun(fields: NewRunFields): NewRunFields & { status: Status } {
  return {
    app: fields.app,
    runId: fields.runId,
    status: 'Pending',
    commit: fields.commit,
    ...(fields.branch !== undefined ? { branch: fields.branch } : {}),
    ...(fields.pusher !== undefined ? { pusher: fields.pusher } : {}),
    ...(fields.trigger !== undefined ? { trigger: fields.trigger } : {}),
    ...(fields.headCommit !== undefined ? { headCommit: fields.headCommit } : {}),
  };
}

function mergeEntries<T extends object>(a: Record<string, T> | undefined, b: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!a) return b;
  if (!b) return a;
  const out: Record<string, T> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = { ...out[k], ...v };
  return out;
}

/** Two patches as one: `b` applied on top of `a` (what applying `a` then `b` would do). */
export function mergeRunPatch(a: RunPatch | undefined, b: RunPatch): RunPatch {
  if (!a) return b;
  const stages = mergeEntries(a.stages, b.stages);
  const environments = mergeEntries(a.environments, b.environments);
  return { ...a, ...b, ...(stages ? { stages } : {}), ...(environments ? { environments } : {}) };
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A run record with a patch applied. */
export function applyRunPatch(run: RunRecord, patch: RunPatch): RunRecord {
  const { stages, environments, ...top } = patch;
  const next: RunRecord = { ...run, ...defined(top) };
  if (stages) {
    next.stages = { ...run.stages };
    for (const [name, stage] of Object.entries(stages)) next.stages[name] = { ...run.stages[name], ...defined(stage), status: stage.status };
  }
  if (environments) {
    next.environments = { ...run.environments };
    for (const [name, env] of Object.entries(environments)) next.environments[name] = { ...run.environments[name], ...defined(env), status: env.status };
  }
  return next;
}
