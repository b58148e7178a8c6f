/**
 * Deployments: what the orchestrations deploy and report (`DeploymentSubject`,
 * `DeploymentOutcome`), and the ledger records they become (`NewDeployment`,
 * `DeploymentRecord`, `CurrentDeployment`). Pure types, in the one vocabulary of docs/glossary.md:
 * `digest`, `requestedBy` (a whole `Actor`), `rolledBackTo`, `finishedAt`. Records stored under
 * older names are upgraded when read (shared/ledger/deployment-ledger.ts).
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
  digest: string;
  runId: string;
  kind: DeploymentKind;
  /** For rollbacks (and heals): the revision whose artifact was redeployed (the rollback target). */
  rolledBackTo?: number;
  status: DeploymentStatus;
  /** Why it failed, in words. */
  reason?: string;
  /** Verification tries, stored as given (opaque to the ledger; must be JSON). */
  verification: unknown[];
  /** Who asked (a pusher, an approver, a rollback requester, or `system`). */
  requestedBy?: Actor;
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
  digest: string;
  /** When the deployment of this revision finished (the record's `finishedAt`). */
  finishedAt: string;
  runId: string;
  status: DeploymentStatus;
  kind: DeploymentKind;
}

/** A separate, create-only note that a revision must not be rolled back to. */
export interface BadRevisionMarker {
  revision: number;
  reason: string;
  /** Who marked it (`system` when a failed deployment marks itself). */
  markedBy?: Actor;
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
  rolledBackTo?: number;
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

/** The ledger entry for an outcome: the outcome without what the ledger assigns or keeps elsewhere. */
export function ledgerEntry(outcome: DeploymentOutcome): NewDeployment {
  return {
    commit: outcome.commit,
    digest: outcome.digest,
    runId: outcome.runId,
    kind: outcome.kind,
    ...(outcome.rolledBackTo !== undefined ? { rolledBackTo: outcome.rolledBackTo } : {}),
    status: outcome.status,
    ...(outcome.reason !== undefined ? { reason: outcome.reason.slice(0, MAX_LEDGER_REASON) } : {}),
    verification: outcome.verification,
    requestedBy: outcome.requestedBy,
    ...(outcome.targetDetails ? { target: outcome.targetDetails } : {}),
    startedAt: outcome.startedAt,
    finishedAt: outcome.finishedAt,
  };
}

/**
 * Names records written before the vocabulary was unified (docs/glossary.md) still carry, and
 * the one name each has now. An actor stored as a bare id string becomes `{ id }`.
 */
const RENAMED = [
  ['artifactDigest', 'digest'],
  ['rollbackOf', 'rolledBackTo'],
  ['deployedAt', 'finishedAt'],
] as const;

/**
 * Upgrades a stored record of any age (ledger record, `current` pointer, bad marker, quarantine,
 * sync state, a process target's state file) to the current names, before its schema checks it.
 * Only renames: a value is never dropped, and a record that already has the new name keeps it
 * (the old one is then ignored). Records are upgraded on read and never rewritten in place.
 */
export function upgradeStoredNames(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [old, now] of RENAMED) {
    if (old in out) {
      if (!(now in out)) out[now] = out[old];
      delete out[old];
    }
  }
  for (const field of ['requestedBy', 'markedBy']) {
    if (typeof out[field] === 'string') out[field] = { id: out[field] };
  }
  return out;
}
