/**
 * Reading a Deployment's rollout from its status, the way `kubectl rollout status` does: the new
 * generation observed, every replica updated, no old replica left, every updated replica
 * available; `Progressing=False` with reason `ProgressDeadlineExceeded` is a failed rollout.
 * Pure: the activity reads the objects once, the orchestrator decides when to look again.
 */
import type { ManifestObject, ManifestValue } from './manifests.js';

/** Where one Deployment's rollout stands. */
export interface DeploymentRollout {
  name: string;
  state: 'complete' | 'progressing' | 'failed';
  /** One line: what it waits for, or why it failed. */
  message: string;
  desired: number;
  updated: number;
  available: number;
}

/** Where an environment's rollout stands (every Deployment of it). */
export interface RolloutReport {
  state: 'complete' | 'progressing' | 'failed';
  message: string;
  deployments: DeploymentRollout[];
}

type Obj = { [k: string]: ManifestValue };

function num(v: ManifestValue | undefined): number {
  return typeof v === 'number' ? v : 0;
}

/** The rollout state of one Deployment as the API server returned it. */
export function deploymentRollout(d: ManifestObject): DeploymentRollout {
  const meta = (d['metadata'] ?? {}) as Obj;
  const spec = (d['spec'] ?? {}) as Obj;
  const status = (d['status'] ?? {}) as Obj;
  const name = String(meta['name']);
  const desired = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
  const updated = num(status['updatedReplicas']);
  const available = num(status['availableReplicas']);
  const base = { name, desired, updated, available };
  const generation = num(meta['generation']);
  if (num(status['observedGeneration']) < generation) return { ...base, state: 'progressing', message: `Deployment ${name}: waiting for the controller to observe generation ${generation}` };
  const conditions = Array.isArray(status['conditions']) ? (status['conditions'] as Obj[]) : [];
  const progressing = conditions.find((c) => c['type'] === 'Progressing');
  if (progressing?.['reason'] === 'ProgressDeadlineExceeded') {
    return { ...base, state: 'failed', message: `Deployment ${name} exceeded its progress deadline${progressing['message'] ? ` (${String(progressing['message'])})` : ''}: ${available} of ${desired} replicas available` };
  }
  if (updated < desired) return { ...base, state: 'progressing', message: `Deployment ${name}: ${updated} of ${desired} replicas updated` };
  const total = num(status['replicas']);
  if (total > updated) return { ...base, state: 'progressing', message: `Deployment ${name}: ${total - updated} old replicas pending termination` };
  if (available < updated) return { ...base, state: 'progressing', message: `Deployment ${name}: ${available} of ${updated} updated replicas available` };
  return { ...base, state: 'complete', message: `Deployment ${name}: ${available} of ${desired} replicas available` };
}

/** Combines Deployments: failed if any failed, complete if all are, else progressing. */
export function environmentRollout(deployments: readonly ManifestObject[]): RolloutReport {
  const each = deployments.map(deploymentRollout);
  const failed = each.filter((d) => d.state === 'failed');
  if (failed.length > 0) return { state: 'failed', message: failed.map((d) => d.message).join('; '), deployments: each };
  const waiting = each.filter((d) => d.state === 'progressing');
  if (waiting.length > 0) return { state: 'progressing', message: waiting.map((d) => d.message).join('; '), deployments: each };
  return { state: 'complete', message: each.map((d) => d.message).join('; ') || 'no Deployments', deployments: each };
}
