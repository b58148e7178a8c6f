// The world Conveyor's orchestrators run against in unit and integration tests driven by
// test/support/orchestrator-driver.ts: plain-data state (external events, an in-memory ledger
// and run store, lock entity states), the real lock entity function, and the activities whose
// rules are use-cases of shared/ run over the in-memory fakes. A test adds the activities it
// scripts (build, deploy, checks) or runs for real.
import type * as df from 'durable-functions';
import { environmentLockEntity } from '../../functions/entities/environment-lock.entity.js';
import type { ActivityContracts, ActivityInput } from '../../shared/contracts/activities.js';
import { LOCK_GRANTED_EVENT, SUPERSEDED_EVENT } from '../../shared/contracts/orchestrations.js';
import type { LockState } from '../../shared/domain/environment-lock.js';
import { LOCK_ENTITY_NAME } from '../../shared/domain/ids.js';
import type { RunRecord } from '../../shared/domain/run.js';
import { recordDeployment } from '../../shared/use-cases/record-deployment.use-case.js';
import { recordRunPatch } from '../../shared/use-cases/record-run.use-case.js';
import { findRollbackTarget } from '../../shared/use-cases/rollback-target.use-case.js';
import { InMemoryLedger, InMemoryRunStore, type LedgerData } from './fakes.js';
import type { ExternalEvent } from './orchestrator-driver.js';

/** The state every Conveyor world has. */
export interface WorldState {
  events: ExternalEvent[];
  ledger: LedgerData;
  runs: Record<string, RunRecord>;
  locks: Record<string, LockState>;
  /** Instances that no longer exist (a holder terminated from outside). */
  gone: string[];
  /** `freezeAfterRollback` calls, as made. */
  freezes: unknown[];
}

/** A fresh base state. */
export function emptyWorldState(): WorldState {
  return { events: [], ledger: { records: {}, bad: {} }, runs: {}, locks: {}, gone: [], freezes: [] };
}

/** An activity of the world: given the state and the input, its result (throw = failed). */
export type WorldActivities<S extends WorldState> = { [K in keyof ActivityContracts]: (state: S, input: ActivityInput<K>) => unknown };

/** The activities that are use-cases over the in-memory ledger and run store, and the lock's wake-ups. */
export function coordinationActivities<S extends WorldState>(): Pick<
  WorldActivities<S>,
  'recordDeployment' | 'findRollbackTarget' | 'recordRun' | 'notifySuperseded' | 'checkEnvironmentGate' | 'freezeAfterRollback' | 'wakeLockParty' | 'readRollout' | 'currentDeployment' | 'startImageBuild' | 'readImageBuild'
> {
  return {
    // The pipelines these worlds run have no `build.image`; an image build is tested against the fake ARM.
    startImageBuild: () => {
      throw new Error('this world has no image builds');
    },
    readImageBuild: () => {
      throw new Error('this world has no image builds');
    },
    recordDeployment: async (state, input) => ({ revision: (await recordDeployment(new InMemoryLedger(state.ledger), input)).revision }),
    findRollbackTarget: async (state, input) => {
      const target = await findRollbackTarget(new InMemoryLedger(state.ledger), input);
      return target.ok ? target : { ok: false, reason: target.reason };
    },
    recordRun: async (state, input) => {
      await recordRunPatch(new InMemoryRunStore(state.runs), input.app, input.runId, input.patch);
      return null;
    },
    notifySuperseded: (state, input) => {
      state.events.push({ name: SUPERSEDED_EVENT, payload: { by: input.by }, instanceId: input.instanceId });
      return null;
    },
    checkEnvironmentGate: () => ({ state: 'open' }),
    freezeAfterRollback: (state, input) => {
      state.freezes.push(input);
      return null;
    },
    wakeLockParty: (state, input) => {
      if (state.gone.includes(input.instanceId)) return { delivered: false, gone: true };
      if (!input.event) return { delivered: false, gone: false };
      state.events.push({ name: input.event === 'granted' ? LOCK_GRANTED_EVENT : SUPERSEDED_EVENT, payload: { what: input.what, ...(input.by ? { by: input.by } : {}) }, instanceId: input.instanceId });
      return { delivered: true, gone: false };
    },
    readRollout: () => ({ state: 'complete', message: 'rolled out' }),
    currentDeployment: async (state, input) => (await new InMemoryLedger(state.ledger).current(input.app, input.environment)) ?? null,
  };
}

/** Runs the real lock entity function on the state of `entity` (`environmentLock@<key>`). */
export function lockOperation(state: WorldState, entity: string, operation: string, input: unknown): unknown {
  const key = entity.slice(`${LOCK_ENTITY_NAME}@`.length);
  let answer: unknown;
  const context = {
    df: {
      operationName: operation,
      getState: (initial: () => LockState) => structuredClone(state.locks[key]) ?? initial(),
      setState: (next: LockState) => {
        state.locks[key] = structuredClone(next);
      },
      getInput: () => input,
      return: (value: unknown) => {
        answer = value;
      },
    },
  } as unknown as df.EntityContext<LockState>;
  environmentLockEntity(context);
  return answer;
}
