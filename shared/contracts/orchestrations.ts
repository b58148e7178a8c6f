/**
 * The contracts between orchestrations, entities and the functions that start or signal them:
 * orchestration name -> input and output, the external events (name and payload) and the
 * environment lock entity's operations. Pure types and constants, so orchestrators
 * (orchestrations/) and adapters (functions/) share them without importing each other.
 * Activity contracts are in ./activities.ts.
 */
import type { ApprovalDecision } from '../domain/approval.js';
import type { LockAnswer, LockParty, LockPhase, LockState, Wake } from '../domain/environment-lock.js';
import type { Status } from '../domain/status.js';
import type { BreakGlassRequest, HealInput, HealResult, PipelineInput, PromotionInput, PromotionResult, RollbackInput, RollbackResult } from './activities.js';

/** How a run ended (the `pipeline` orchestration's output). */
export interface PipelineResult {
  status: Status;
  reason?: string;
  digest?: string;
  environments: PromotionResult[];
}

/** Every orchestration Conveyor registers, by name. */
export interface OrchestrationContracts {
  /** One run per commit: load, build once, test, promote through the environments. */
  pipeline: { input: PipelineInput; output: PipelineResult };
  /** One environment of one run: lock, approval, deploy, verify, record, auto-rollback. */
  promotion: { input: PromotionInput; output: PromotionResult };
  /** A requested rollback of one environment. */
  rollback: { input: RollbackInput; output: RollbackResult };
  /** Redeploys the ledger's current revision of an environment that drifted (`drift: heal`). */
  heal: { input: HealInput; output: HealResult };
  /** Waits for the environment lock on a party's behalf, one generation per safety look (continue-as-new). */
  environmentLockWaiter: { input: LockWaiterInput; output: { acquired: true } | { acquired: false; supersededBy: string } };
}

/** Input of one generation of `environmentLockWaiter`. */
export interface LockWaiterInput {
  app: string;
  environment: string;
  /** `request`: the turn; `acquire`: the deploy slot. */
  operation: 'request' | 'acquire';
  party: LockParty;
  /** Safety timer of this generation (ms). */
  safetyMs: number;
}

/** Orchestration names. */
export type OrchestrationName = keyof OrchestrationContracts;
/** Input type of an orchestration. */
export type OrchestrationInput<K extends OrchestrationName> = OrchestrationContracts[K]['input'];
/** Output type of an orchestration. */
export type OrchestrationOutput<K extends OrchestrationName> = OrchestrationContracts[K]['output'];

/** External event raised on a promotion by the approval API: payload {@link ApprovalDecision}. */
export const APPROVAL_EVENT = 'ApprovalDecided';
/** External event raised on a promotion waiting for approval when a newer run supersedes it: payload {@link SupersededEvent}. */
export const SUPERSEDED_EVENT = 'Superseded';

/** Payload of {@link SUPERSEDED_EVENT}. */
export interface SupersededEvent {
  /** The run that superseded the waiting one. */
  by: string;
}

/** External event raised on a lock waiter when the turn or the deploy slot was handed to it: payload {@link LockGrantedEvent}. */
export const LOCK_GRANTED_EVENT = 'LockGranted';
/** Payload of {@link LOCK_GRANTED_EVENT}. The receiver confirms with the entity before acting on it. */
export interface LockGrantedEvent {
  what: 'turn' | 'slot';
}
/** External event raised on a promotion waiting for a deploy window by the break-glass API: payload {@link BreakGlassRequest}. */
export const BREAK_GLASS_EVENT = 'BreakGlass';
/** External event raised on a promotion waiting for an unfreeze when its environment is unfrozen. */
export const UNFROZEN_EVENT = 'EnvironmentUnfrozen';

/** Payloads of the external events, by name. */
export interface ExternalEventContracts {
  [APPROVAL_EVENT]: ApprovalDecision;
  [SUPERSEDED_EVENT]: SupersededEvent;
  [LOCK_GRANTED_EVENT]: LockGrantedEvent;
  [UNFROZEN_EVENT]: { by: string };
  [BREAK_GLASS_EVENT]: BreakGlassRequest;
}

/** The `environmentLock` entity's operations: name -> input and answer (rules in shared/domain/environment-lock.ts). */
export interface LockOperations {
  /** Ask for the environment's turn (promotions; again after a wake-up or on the safety timer). */
  request: { input: { party: LockParty; now: string }; output: LockAnswer };
  /** Ask for the deploy slot (a promotion holding the turn, a rollback, a heal). */
  acquire: { input: { party: LockParty; now: string }; output: LockAnswer };
  /** The turn holder reports what it is doing (approval, frozen: a newer run may supersede it; frozen: an unfreeze wakes it); answers whom to wake. */
  phase: { input: { instanceId: string; phase: LockPhase }; output: { wake: Wake[] } };
  /** Give up the slot (`slot`) or everything (`all`, default) and hand it on; answers whom to wake. */
  release: { input: { instanceId: string; now: string; what?: 'all' | 'slot' }; output: { wake: Wake[] } };
  /** Read the state (diagnostics, the unfreeze API). */
  get: { input: undefined; output: LockState };
}

/** Names of the lock entity's operations. */
export type LockOperationName = keyof LockOperations;
