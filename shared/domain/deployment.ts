/**
 * Deployments: what the orchestrations deploy and report (`DeploymentSubject`,
 * `DeploymentOutcome`), and the ledger records they become (`NewDeployment`,
 * `DeploymentRecord`, `CurrentDeployment`). Pure types and the one mapping between the two
 * vocabularies (docs/glossary.md): Conveyor says `digest` and keeps the whole `Actor`; the
 * stored ledger record says `artifactDigest` and keeps the actor's id as `requestedBy`.
 */
import type { Actor } from './run.js';
import type { VerifyAttempt } from './verification.js';

/** Target-specific facts of a deployed revision, as a target reports them (flat JSON values). */
export type TargetDetails = Record<string, string | number | boolean | null>;

/** Every deployment kind (a list, so schemas accept exactly these). */
export const DEPLOYMENT_KINDS = ['deploy', 'rollback', 'heal'] as const;

/** A deployment either rolls a new artifact out or redeploys a recorded one. */
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];

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
  target?: TargetDetails;
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

/** What is deployed where, as what kind, on whose behalf: the one shape from a promotion or rollback to the ledger. */
export interface DeploymentSubject {
  app: string;
  environment: string;
  /** The run (or rollback operation) that deploys. */
  runId: string;
  commit: string;
  /** `sha256:<hex>` of the artifact. */
  digest: string;
  kind: DeploymentKind;
  /** For rollbacks: the revision whose artifact is redeployed. */
  rollbackOf?: number;
  requestedBy: Actor;
}

/** A finished deployment attempt, as reported to the ledger (`recordDeployment`). */
export interface DeploymentOutcome extends DeploymentSubject {
  /** The revision it was deployed as. */
  revision: number;
  status: DeploymentStatus;
  reason?: string;
  verification: VerifyAttempt[];
  /** Target facts reported by the deploy (kubernetes: image digest, rendered manifests); stored as the record's `target`. */
  targetDetails?: TargetDetails;
  startedAt: string;
  finishedAt: string;
}

/** Longest reason kept in the ledger. */
export const MAX_LEDGER_REASON = 4000;

/** The ledger entry for an outcome (the one place the two vocabularies meet). */
export function ledgerEntry(outcome: DeploymentOutcome): NewDeployment {
  return {
    commit: outcome.commit,
    artifactDigest: outcome.digest,
    runId: outcome.runId,
    kind: outcome.kind,
    ...(outcome.rollbackOf !== undefined ? { rollbackOf: outcome.rollbackOf } : {}),
    status: outcome.status,
    ...(outcome.reason !== undefined ? { reason: outcome.reason.slice(0, MAX_LEDGER_REASON) } : {}),
    verification: outcome.verification,
    requestedBy: outcome.requestedBy.id,
    ...(outcome.targetDetails ? { target: outcome.targetDetails } : {}),
    startedAt: outcome.startedAt,
    finishedAt: outcome.finishedAt,
  };
}
