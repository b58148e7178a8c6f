/**
 * Requesting a rollback of an environment, for any adapter (the HTTP API today; a CLI or a chat
 * command would call the same): who may (the environment policy, else the approvers of its
 * current deployment), whether there is a target (the named revision, or the last good one
 * before the current), then the `rollback` orchestration started under a new operation id. The
 * orchestration checks the target again under the environment lock. Also the operation's view:
 * its durable status mapped to Conveyor's status vocabulary.
 */
import type { AppRecord } from '../apps/app-record.schema.js';
import type { BreakGlassRequest, RollbackInput, RollbackResult } from '../contracts/activities.js';
import type { Identity } from '../domain/approval.js';
import { rollbackOperationId } from '../domain/ids.js';
import { rollbackRefusal } from '../domain/policy.js';
import { currentApprovers } from './current-approvers.use-case.js';
import { findRollbackTarget, type RollbackLedger } from './rollback-target.use-case.js';

/** Why `who` may not roll `environment` of `app` back, or undefined when they may (the one rule for the API and the dashboard's rights). */
export async function rollbackRightsRefusal(
  stores: Parameters<typeof currentApprovers>[0],
  app: Pick<AppRecord, 'name' | 'policy'>,
  environment: string,
  who: Pick<Identity, 'id' | 'groups'>,
): Promise<string | undefined> {
  const policy = app.policy?.environments[environment];
  // Rights come from the environment policy; only without one do the current deployment's approvers count.
  const fallback = policy?.rollback || policy?.approval ? undefined : await currentApprovers(stores, app.name, environment);
  return rollbackRefusal({ environment, policy, currentApprovers: fallback, who });
}

/** What requesting a rollback needs. */
export interface RequestRollbackPorts {
  apps: { get(name: string): Promise<{ value: AppRecord }> };
  ledger: RollbackLedger;
  runs: Parameters<typeof currentApprovers>[0]['runs'];
  /** Starts the `rollback` orchestration under `operationId`. */
  startRollback(operationId: string, input: RollbackInput): Promise<void>;
  /** A fresh unique suffix for the operation id. */
  newId(): string;
  now?: () => Date;
}

/** A rollback as asked for. */
export interface RollbackRequest {
  app: string;
  environment: string;
  who: Pick<Identity, 'id' | 'name' | 'groups'>;
  toRevision?: number;
  reason?: string;
  force: boolean;
  /** Break-glass for a closed deploy window, with why. */
  breakGlass?: { reason: string };
}

/** Started (with its operation id), or refused: `forbidden` (403), `not-found` (404), `conflict` (409). */
export type RollbackRequestOutcome = { ok: true; operationId: string } | { ok: false; code: 'forbidden' | 'not-found' | 'conflict'; reason: string };

/** Checks a rollback request and starts it. A missing app throws NotFoundError (the registry's). */
export async function requestRollback(ports: RequestRollbackPorts, request: RollbackRequest): Promise<RollbackRequestOutcome> {
  const { who, environment } = request;
  const { value: app } = await ports.apps.get(request.app);
  const refusal = await rollbackRightsRefusal(ports, app, environment, who);
  if (refusal) return { ok: false, code: 'forbidden', reason: refusal };
  const target = await findRollbackTarget(ports.ledger, { app: app.name, environment, toRevision: request.toRevision, force: request.force });
  if (!target.ok && target.code === 'never-deployed') return { ok: false, code: 'not-found', reason: `${app.name} has no deployed environment ${JSON.stringify(environment.slice(0, 60))}` };
  if (!target.ok) return { ok: false, code: 'conflict', reason: target.reason };

  const at = (ports.now?.() ?? new Date()).toISOString();
  const operationId = rollbackOperationId(app.name, environment, ports.newId());
  const breakGlass: BreakGlassRequest | undefined = request.breakGlass ? { by: who.id, ...(who.name ? { name: who.name } : {}), groups: [...who.groups], reason: request.breakGlass.reason, at } : undefined;
  const input: RollbackInput = {
    operationId,
    app: app.name,
    environment,
    repoUrl: app.repoUrl,
    pipelinePath: app.pipelinePath,
    ...(request.toRevision !== undefined ? { toRevision: request.toRevision } : {}),
    force: request.force,
    ...(request.reason ? { reason: request.reason } : {}),
    requestedBy: { id: who.id, ...(who.name ? { name: who.name } : {}) },
    requestedAt: at,
    ...(breakGlass ? { breakGlass } : {}),
  };
  await ports.startRollback(operationId, input);
  return { ok: true, operationId };
}

const RUNTIME_TO_STATUS: Record<string, string> = {
  Pending: 'Pending',
  Running: 'Running',
  ContinuedAsNew: 'Running',
  Suspended: 'Running',
  Failed: 'Errored',
  Terminated: 'Aborted',
  Canceled: 'Aborted',
};

/** A rollback operation's durable status, as its orchestration instance reports it. */
export interface OperationInstance {
  runtimeStatus: string;
  input?: unknown;
  output?: unknown;
  customStatus?: unknown;
  lastUpdatedTime?: unknown;
}

/** What `GET /api/operations/{id}` shows: the request, the status in Conveyor's vocabulary, the result once done, the live step. */
export function operationView(operationId: string, instance: OperationInstance): Record<string, unknown> {
  const input = instance.input as RollbackInput | undefined;
  const output = instance.runtimeStatus === 'Completed' ? (instance.output as RollbackResult | undefined) : undefined;
  return {
    operationId,
    kind: 'rollback',
    app: input?.app,
    environment: input?.environment,
    requestedBy: input?.requestedBy,
    requestedAt: input?.requestedAt,
    status: output?.status ?? RUNTIME_TO_STATUS[instance.runtimeStatus] ?? instance.runtimeStatus,
    ...(output ?? {}),
    progress: instance.customStatus ?? null,
    lastUpdatedTime: instance.lastUpdatedTime,
  };
}
