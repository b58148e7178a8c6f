/**
 * Deployment ledger records (pure types, so orchestrations and contracts may import them).
 * The ledger itself lives in shared/ledger; these are the shapes it stores and returns.
 */

/** A deployment either rolls a new artifact out or redeploys a recorded one. */
export type DeploymentKind = 'deploy' | 'rollback';

/** Verdict of a recorded deployment (technical faults are retried, not recorded). */
export type DeploymentStatus = 'Succeeded' | 'Failed';

/** What a caller records; the ledger assigns `revision` and `recordedAt`. */
export interface NewDeployment {
  commit: string;
  /** `sha256:<hex>` of the artifact deployed. */
  artifactDigest: string;
  runId: string;
  kind: DeploymentKind;
  /** For rollbacks: the revision whose artifact was redeployed. */
  rollbackOf?: number;
  status: DeploymentStatus;
  /** Why it failed, in words. */
  reason?: string;
  /** Verification tries, stored as given (opaque to the ledger; must be JSON). */
  verification: unknown[];
  /** Who asked (a pusher, an approver, a rollback requester). */
  requestedBy?: string;
  /** Target-specific facts of the revision (kubernetes: the image digest, the rendered manifests and their hash). */
  target?: Record<string, string | number | boolean | null>;
  startedAt: string;
  finishedAt: string;
}

/** An immutable history record: one per deployment or rollback of one environment. */
export interface DeploymentRecord extends NewDeployment {
  app: string;
  environment: string;
  /** 1, 2, 3, ... per environment, unique and gap-free. */
  revision: number;
  /** When the ledger stored it. */
  recordedAt: string;
}

/** The `current` pointer of an environment: its newest recorded revision. */
export interface CurrentDeployment {
  app: string;
  environment: string;
  revision: number;
  commit: string;
  artifactDigest: string;
  /** `finishedAt` of the deployment. */
  deployedAt: string;
  runId: string;
  status: DeploymentStatus;
  kind: DeploymentKind;
}

/** A separate, create-only note that a revision must not be rolled back to. */
export interface BadRevisionMarker {
  revision: number;
  reason: string;
  markedBy?: string;
  markedAt: string;
}
