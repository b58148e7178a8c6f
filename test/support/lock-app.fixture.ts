// A minimal Functions app around Conveyor's REAL environment lock (the entity, the wake-up
// activity and the orchestrator helpers), for the lock's integration tests and bench. Loaded by
// the local host from a temp folder whose package.json `main` points at this compiled file
// (test/support/lock-app.ts makes it); never imported by a test directly.
//
// `lockParty` asks for the turn or the deploy slot (or, like a promotion, the turn, then an
// `Approve` event, then the slot), shows `holding` (with the orchestration time) in its custom
// status once it has it, waits for a `Release` event, then releases.
import { app } from '@azure/functions';
import * as df from 'durable-functions';
import type { LockParty } from '../../shared/domain/environment-lock.js';
import { environmentLockEntity } from '../../functions/entities/environment-lock.entity.js';
import { wakeLockParty } from '../../functions/activities/wake-lock-party.activity.js';
import { awaitApproval } from '../../orchestrations/approval.js';
import { lockRepairPorts } from '../../functions/entities/environment-lock.repair.js';
import { repairLock } from '../../shared/use-cases/repair-lock.use-case.js';
import { acquireSlot, acquireTurn, lockEntityId, lockPhase, lockWaiterOrchestrator, releaseLock } from '../../orchestrations/environment-lock.js';

/** Input of the `lockParty` orchestration. */
export interface LockPartyInput {
  app: string;
  env: string;
  party: LockParty;
  what: 'turn' | 'slot';
  /** With `turn`: like a promotion, wait for an `Approve` event holding the turn, then take the deploy slot. */
  approval?: boolean;
}

{
  const client = df.input.durableClient();
  df.app.entity('environmentLock', environmentLockEntity);
  df.app.activity('wakeLockParty', { extraInputs: [client], handler: wakeLockParty });
  df.app.orchestration('environmentLockWaiter', lockWaiterOrchestrator);
  df.app.orchestration('lockParty', function* (context: df.OrchestrationContext): Generator<df.Task, unknown, unknown> {
    const input = context.df.getInput<LockPartyInput>();
    const acquire = input.what === 'turn' ? acquireTurn : acquireSlot;
    const outcome = yield* acquire(context, input.app, input.env, input.party, (w) => context.df.setCustomStatus({ ...w }));
    if (!outcome.acquired) return { outcome: 'superseded', by: outcome.supersededBy };
    if (input.approval) {
      context.df.setCustomStatus({ state: 'approval' });
      yield context.df.waitForExternalEvent('Approve');
      const slot = yield* acquireSlot(context, input.app, input.env, input.party, (w) => context.df.setCustomStatus({ ...w, slot: true }));
      if (!slot.acquired) return { outcome: 'superseded', by: slot.supersededBy };
    }
    context.df.setCustomStatus({ state: 'holding', at: context.df.currentUtcDateTime.toISOString() });
    yield context.df.waitForExternalEvent('Release');
    yield* releaseLock(context, input.app, input.env, context.df.instanceId);
    return { outcome: 'released' };
  });
  // `approvalParty`: a promotion's real approval wait (orchestrations/approval.ts) holding the
  // turn, as the promotion runs it: the turn, phase `approval`, the gate (its timeout timer and
  // `ApprovalDecided` / `Superseded` events), then the deploy slot. Shows `approval` while it waits.
  df.app.orchestration('approvalParty', function* (context: df.OrchestrationContext): Generator<df.Task, unknown, unknown> {
    const input = context.df.getInput<LockPartyInput & { approvers: string[]; timeoutMs: number }>();
    const turn = yield* acquireTurn(context, input.app, input.env, input.party, (w) => context.df.setCustomStatus({ ...w }));
    if (!turn.acquired) return { outcome: 'superseded', by: turn.supersededBy };
    yield* lockPhase(context, input.app, input.env, context.df.instanceId, 'approval');
    context.df.setCustomStatus({ state: 'approval' });
    // eslint-disable-next-line require-yield -- the gate wants a call per change; this party records nothing.
    const gate = yield* awaitApproval(context, { approvers: input.approvers, required: 1, timeoutMs: input.timeoutMs, allowSelfApproval: true }, 'pusher@example.com', function* () {
      return null;
    });
    if (gate.outcome !== 'approved') {
      yield* releaseLock(context, input.app, input.env, context.df.instanceId);
      return { outcome: gate.outcome };
    }
    const slot = yield* acquireSlot(context, input.app, input.env, input.party, (w) => context.df.setCustomStatus({ ...w, slot: true }));
    if (!slot.acquired) return { outcome: 'superseded', by: slot.supersededBy };
    context.df.setCustomStatus({ state: 'holding', at: context.df.currentUtcDateTime.toISOString() });
    yield context.df.waitForExternalEvent('Release');
    yield* releaseLock(context, input.app, input.env, context.df.instanceId);
    return { outcome: 'released' };
  });
  // Status and release through the app itself (anonymous), for tests that run the host as a child process.
  app.http('partyStatus', {
    route: 'parties/{id}',
    methods: ['GET'],
    authLevel: 'anonymous',
    extraInputs: [client],
    handler: async (request, context) => {
      const showHistory = request.query.get('history') === 'true';
      const status = await df.getClient(context).getStatus(request.params.id!, { showHistory }).catch(() => undefined);
      if (!status) return { status: 404 };
      return { status: 200, jsonBody: { runtimeStatus: status.runtimeStatus, customStatus: status.customStatus, output: status.output, ...(showHistory ? { historyLength: (status.history ?? []).length } : {}) } };
    },
  });
  app.http('partyEvent', {
    route: 'parties/{id}/events/{name}',
    methods: ['POST'],
    authLevel: 'anonymous',
    extraInputs: [client],
    handler: async (request, context) => {
      await df.getClient(context).raiseEvent(request.params.id!, request.params.name!, {});
      return { status: 202 };
    },
  });
  app.http('lockRepair', {
    route: 'locks/{app}/{env}/repair',
    methods: ['POST'],
    authLevel: 'anonymous',
    extraInputs: [client],
    handler: async (request, context) => {
      const staleMs = Number(request.query.get('staleMs') ?? 30_000);
      return { status: 200, jsonBody: await repairLock(lockRepairPorts(df.getClient(context)), request.params.app!, request.params.env!, new Date(), staleMs) };
    },
  });
  app.http('lockState', {
    route: 'locks/{app}/{env}',
    methods: ['GET'],
    authLevel: 'anonymous',
    extraInputs: [client],
    handler: async (request, context) => {
      const state = await df.getClient(context).readEntityState(lockEntityId(request.params.app!, request.params.env!));
      return { status: 200, jsonBody: state.entityExists ? state.entityState : null };
    },
  });
  app.http('releaseParty', {
    route: 'parties/{id}/release',
    methods: ['POST'],
    authLevel: 'anonymous',
    extraInputs: [client],
    handler: async (request, context) => {
      await df.getClient(context).raiseEvent(request.params.id!, 'Release', {});
      return { status: 202 };
    },
  });
  app.http('startParty', {
    route: 'parties/{id}',
    methods: ['POST'],
    authLevel: 'anonymous',
    extraInputs: [client],
    handler: async (request, context) => {
      const input = (await request.json()) as { approvers?: unknown };
      await df.getClient(context).startNew(input.approvers ? 'approvalParty' : 'lockParty', { instanceId: request.params.id!, input });
      return { status: 202 };
    },
  });
}
