/**
 * Controls on an environment by hand: freeze, unfreeze, and break-glass through a closed deploy
 * window, whichever adapter asks (the HTTP API today). The rules:
 *
 * - **freeze**: any identified caller (stopping deploys is the safe direction); recorded with who,
 *   when and why;
 * - **unfreeze**: the same right as rolling the environment back (shared/domain/policy.ts
 *   `rollbackRefusal`: the policy's rollback list, else its approvers, else the approvers of the
 *   current deployment, else anyone identified) — lifting a freeze lets waiting promotions in,
 *   so it is as strong as a rollback; then the promotion waiting for it is woken;
 * - **break-glass**: only someone the environment's deploy-window policy lists in `breakGlass`,
 *   with a reason, for a run or a rollback operation that waits for a window (the promotion or
 *   the rollback checks again).
 */
import type { AppRecord } from '../apps/app-record.schema.js';
import type { BreakGlassRequest } from '../contracts/activities.js';
import type { Identity } from '../domain/approval.js';
import { appOfRunId, isName, promotionInstanceId } from '../domain/ids.js';
import { actorOf } from '../domain/run.js';
import { deployWindowOf } from '../domain/policy.js';
import { breakGlassRefusal, type Freeze } from '../domain/windows.js';
import type { EnvironmentControls } from '../environments/freeze-store.js';
import { NotFoundError } from '../errors.js';
import type { currentApprovers } from './current-approvers.use-case.js';
import { rollbackRightsRefusal } from './request-rollback.use-case.js';

/** The stores the controls read and write. */
export interface ControlStores {
  apps: { get(app: string): Promise<{ value: AppRecord }> };
  ledger: Parameters<typeof currentApprovers>[0]['ledger'] & { environments(app: string): Promise<string[]> };
  runs: Parameters<typeof currentApprovers>[0]['runs'];
  controls: Pick<EnvironmentControls, 'setFreeze' | 'unfreeze'>;
}

/** What the controls need of the orchestration engine (the durable client, in the adapter). */
export interface ControlSignals {
  /** The party holding the environment's lock turn, if any (`phase: 'frozen'` waits for an unfreeze). */
  lockHolder(app: string, environment: string): Promise<{ instanceId: string; runId: string; phase: string } | undefined>;
  /** The step a promotion instance reports, `null` when there is no such instance. */
  promotionStep(instanceId: string): Promise<string | undefined | null>;
  /** Raises an event on an instance (a failure is transient: it throws). */
  raise(instanceId: string, event: string, payload: unknown): Promise<void>;
}

/** Why a control was refused; each adapter maps the code (HTTP: 404, 403, 409). */
export type ControlRefusal = { done: false; code: 'not-found' | 'not-allowed' | 'conflict'; reason: string };

const shown = (env: string) => (isName(env) ? env : JSON.stringify(env.slice(0, 60)));

async function knownEnvironment(stores: ControlStores, app: string, environment: string): Promise<{ record: AppRecord } | ControlRefusal> {
  let record: AppRecord;
  try {
    record = (await stores.apps.get(app)).value;
  } catch (err) {
    if (err instanceof NotFoundError) return { done: false, code: 'not-found', reason: err.message };
    throw err;
  }
  if (!(await stores.ledger.environments(app)).includes(environment)) return { done: false, code: 'not-found', reason: `${app} has no deployed environment ${shown(environment)}` };
  return { record };
}

/** Freezes an environment by hand. */
export async function freezeEnvironment(
  stores: ControlStores,
  request: { app: string; environment: string; who: Identity; reason: string; at: string },
): Promise<{ done: true; already: boolean; freeze: Freeze } | ControlRefusal> {
  const known = await knownEnvironment(stores, request.app, request.environment);
  if ('done' in known) return known;
  const result = await stores.controls.setFreeze(request.app, request.environment, { kind: 'manual', by: actorOf(request.who), at: request.at, reason: request.reason });
  return { done: true, already: result.already, freeze: result.freeze };
}

/** Lifts a freeze, if `who` may roll the environment back; wakes the promotion waiting for it. */
export async function unfreezeEnvironment(
  stores: ControlStores,
  signals: Pick<ControlSignals, 'lockHolder' | 'raise'>,
  request: { app: string; environment: string; who: Identity; reason: string; at: string; unfrozenEvent: string },
): Promise<{ done: true; lifted: Freeze; woke?: string } | ControlRefusal> {
  const { app, environment, who } = request;
  const known = await knownEnvironment(stores, app, environment);
  if ('done' in known) return known;
  const refusal = await rollbackRightsRefusal(stores, known.record, environment, who);
  if (refusal) return { done: false, code: 'not-allowed', reason: `unfreezing needs the right to roll ${environment} back: ${refusal}` };
  const lifted = await stores.controls.unfreeze(app, environment, actorOf(who), request.reason, request.at);
  if (!lifted) return { done: false, code: 'conflict', reason: `${app}/${environment} is not frozen` };
  // The freeze is gone from storage first; then whoever registered as waiting is woken. A
  // promotion registers before it looks, so it either saw no freeze or is found here.
  const holder = await signals.lockHolder(app, environment).catch(() => undefined);
  if (holder?.phase !== 'frozen') return { done: true, lifted };
  await signals.raise(holder.instanceId, request.unfrozenEvent, { by: who.id }).catch(() => undefined);
  return { done: true, lifted, woke: holder.runId };
}

/** Lets a run waiting for a closed deploy window of `environment` in now, if `who` may break the glass. */
export async function breakGlass(
  stores: Pick<ControlStores, 'apps'>,
  signals: Pick<ControlSignals, 'promotionStep' | 'raise'>,
  request: { runId: string; environment: string; who: Identity; reason: string; at: string; breakGlassEvent: string },
): Promise<{ done: true; event: BreakGlassRequest } | ControlRefusal> {
  const { runId, environment, who } = request;
  const appName = appOfRunId(runId);
  if (!appName) return { done: false, code: 'not-found', reason: `no run ${JSON.stringify(runId.slice(0, 120))}` };
  let app: AppRecord;
  try {
    app = (await stores.apps.get(appName)).value;
  } catch (err) {
    if (err instanceof NotFoundError) return { done: false, code: 'not-found', reason: err.message };
    throw err;
  }
  const refusal = breakGlassRefusal(deployWindowOf(app, environment)?.breakGlass ?? [], { id: who.id, groups: [...who.groups] }, request.reason);
  if (refusal) return { done: false, code: 'not-allowed', reason: refusal };
  const instanceId = promotionInstanceId(runId, environment);
  const step = await signals.promotionStep(instanceId);
  if (step !== 'waiting-for-window') {
    return { done: false, code: 'conflict', reason: `run ${runId} is not waiting for a deploy window of ${shown(environment)}${step ? ` (it is ${step})` : ''}` };
  }
  const event: BreakGlassRequest = { by: who.id, ...(who.name ? { name: who.name } : {}), groups: [...who.groups], reason: request.reason, at: request.at };
  await signals.raise(instanceId, request.breakGlassEvent, event);
  return { done: true, event };
}

/** A rollback operation as the orchestration engine reports it (undefined when there is none). */
export interface RollbackOperationState {
  app: string;
  environment: string;
  /** True while it is pending or running. */
  live: boolean;
  /** The step it reports (`waiting-for-window` while a closed window holds it). */
  step?: string;
}

/** Lets a rollback operation waiting for a closed deploy window in now, if `who` may break the glass. */
export async function breakGlassOperation(
  stores: Pick<ControlStores, 'apps'>,
  signals: Pick<ControlSignals, 'raise'> & { operation(operationId: string): Promise<RollbackOperationState | undefined> },
  request: { operationId: string; who: Identity; reason: string; at: string; breakGlassEvent: string },
): Promise<{ done: true; environment: string; event: BreakGlassRequest } | ControlRefusal> {
  const { operationId, who } = request;
  const op = await signals.operation(operationId);
  if (!op) return { done: false, code: 'not-found', reason: `no operation ${operationId}` };
  let app: AppRecord;
  try {
    app = (await stores.apps.get(op.app)).value;
  } catch (err) {
    if (err instanceof NotFoundError) return { done: false, code: 'not-found', reason: err.message };
    throw err;
  }
  const refusal = breakGlassRefusal(deployWindowOf(app, op.environment)?.breakGlass ?? [], { id: who.id, groups: [...who.groups] }, request.reason);
  if (refusal) return { done: false, code: 'not-allowed', reason: refusal };
  if (!op.live || op.step !== 'waiting-for-window') {
    return { done: false, code: 'conflict', reason: `rollback ${operationId} is not waiting for a deploy window${op.step ? ` (it is ${op.step})` : ''}` };
  }
  const event: BreakGlassRequest = { by: who.id, ...(who.name ? { name: who.name } : {}), groups: [...who.groups], reason: request.reason, at: request.at };
  await signals.raise(operationId, request.breakGlassEvent, event);
  return { done: true, environment: op.environment, event };
}
