/**
 * The run record: what one pipeline run (one commit of one app) did, stage by stage and
 * environment by environment. Pure types; stored by shared/ledger/run-store.ts.
 */
import type { Status } from './status.js';

/** Who caused a run. */
export interface RunActor {
  id: string;
  name?: string;
}

/** One stage (build, test, ...) of a run. */
export interface RunStageRecord {
  status: Status;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Blob name of the stage's log in the logs container. */
  logName?: string;
}

/** What happened in one environment during a run. */
export interface RunEnvironmentRecord {
  status: Status;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Ledger revision recorded for this run's deployment. */
  revision?: number;
  /** Revision redeployed by an automatic rollback. */
  rolledBackTo?: number;
  /** Verification tries (opaque JSON). */
  verification?: unknown[];
}

/** A run record. Unknown extra fields written by newer code are kept, not rejected. */
export interface RunRecord {
  app: string;
  runId: string;
  status: Status;
  commit: string;
  branch?: string;
  reason?: string;
  pusher?: RunActor;
  /** The pushed commit's message and author, when the webhook described it (untrusted text). */
  headCommit?: { message: string; author: string };
  /** Artifact digest once built. */
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
