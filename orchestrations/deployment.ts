/**
 * One deployment attempt, shared by promotions, automatic rollbacks and requested rollbacks:
 * deploy the digest, verify it with durable retries, and record the outcome in the ledger under
 * the revision it was deployed as (a target that does not come up is recorded too).
 */
import type * as df from 'durable-functions';
import type { DeploymentStatus, DeploymentSubject } from '../shared/domain/deployment.js';
import type { VerifyAttempt } from '../shared/domain/verification.js';
import type { TargetSpec, VerifySpec } from '../shared/domain/pipeline.js';
import type { StepIsolation } from '../shared/domain/run.js';
import { call, nowIso } from './activity-call.js';
import { verifyAll } from './verification.js';
import { awaitRollout } from './rollout.js';

/** What to deploy where (the ledger's {@link DeploymentSubject}), with how to run and check it. */
export interface DeploymentAttempt extends DeploymentSubject {
  target: TargetSpec;
  checks: VerifySpec[];
  /** Why, recorded with the revision (e.g. who asked for a rollback). */
  note?: string;
}

/** How the attempt ended. */
export type AttemptResult =
  | { outcome: 'succeeded'; revision: number; baseUrl: string; isolation?: StepIsolation }
  | { outcome: 'verification-failed'; revision: number; reason: string; isolation?: StepIsolation }
  | { outcome: 'deploy-failed'; revision?: number; reason: string };

/** Deploys, verifies and records; `onStep` is told the phase (for the custom status). */
export function* deployVerifyRecord(
  context: df.OrchestrationContext,
  a: DeploymentAttempt,
  onStep: (step: 'deploying' | 'verifying' | 'recording', revision?: number) => void,
): Generator<df.Task, AttemptResult, unknown> {
  onStep('deploying');
  const startedAt = nowIso(context);
  const deployed = yield* call(context, 'deployArtifact', {
    app: a.app,
    environment: a.environment,
    runId: a.runId,
    commit: a.commit,
    digest: a.digest,
    target: a.target,
    kind: a.kind,
    // Rollbacks and heals re-apply what was recorded for this revision (kubernetes: its manifests).
    ...(a.rolledBackTo !== undefined ? { rolledBackTo: a.rolledBackTo } : {}),
  });
  const record = (revision: number, status: DeploymentStatus, reason: string | undefined, verification: VerifyAttempt[]) =>
    call(context, 'recordDeployment', {
      app: a.app,
      environment: a.environment,
      revision,
      commit: a.commit,
      digest: a.digest,
      runId: a.runId,
      kind: a.kind,
      ...(a.rolledBackTo !== undefined ? { rolledBackTo: a.rolledBackTo } : {}),
      status,
      reason: [a.note, reason].filter((x) => x !== undefined && x !== '').join('; ') || undefined,
      verification,
      requestedBy: a.requestedBy,
      startedAt,
      finishedAt: nowIso(context),
      ...(deployed.ok && deployed.targetDetails ? { targetDetails: deployed.targetDetails } : {}),
    });

  if (!deployed.ok) {
    const reason = `the target did not come up: ${[deployed.reason, ...(deployed.details ?? [])].join('\n')}`;
    if (!('revision' in deployed)) return { outcome: 'deploy-failed', reason: deployed.reason };
    onStep('recording', deployed.revision);
    yield* record(deployed.revision, 'Failed', reason, []);
    return { outcome: 'deploy-failed', revision: deployed.revision, reason: deployed.reason };
  }
  onStep('verifying', deployed.revision);
  // Targets that roll out after deploy returns (kubernetes) are verified by their rollout first.
  const rollout = yield* awaitRollout(context, { app: a.app, environment: a.environment, target: a.target, revision: deployed.revision });
  if (!rollout.passed) {
    onStep('recording', deployed.revision);
    yield* record(deployed.revision, 'Failed', `verification failed: rollout: ${rollout.message}`, []);
    return { outcome: 'verification-failed', revision: deployed.revision, reason: `rollout: ${rollout.message}` };
  }
  const verification = yield* verifyAll(context, deployed.baseUrl, a.checks);
  onStep('recording', deployed.revision);
  yield* record(deployed.revision, verification.passed ? 'Succeeded' : 'Failed', verification.passed ? undefined : `verification failed: ${verification.reason}`, verification.attempts);
  const isolation = deployed.isolation ? { isolation: deployed.isolation } : {};
  return verification.passed
    ? { outcome: 'succeeded', revision: deployed.revision, baseUrl: deployed.baseUrl, ...isolation }
    : { outcome: 'verification-failed', revision: deployed.revision, reason: verification.reason ?? 'verification failed', ...isolation };
}
