/**
 * The contracts between orchestrations, entities and the functions that start or signal them:
 * orchestration name -> input and output, the external events (name and payload) and the
 * environment lock entity's operations. Pure types and constants, so orchestrators
 * (orchestrations/) and adapters (functions/) share them without importing each other.
 * Activity contracts are in ./activities.ts.
 */
import type { ApprovalDecision } from '../domain/approval.js';
import type { LockAnswer, LockHolder, LockParty, LockState } from '../domain/environment-lock.js';
import type { Status } from '../domain/status.js';
import type { PipelineInput, PromotionInput, PromotionResult, RollbackInput, RollbackResult } from './activities.js';

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

/** Payloads of the external events, by name. */
export interface ExternalEventContracts {
  [APPROVAL_EVENT]: ApprovalDecision;
  [SUPERSEDED_EVENT]: SupersededEvent;
}

/** The `environmentLock` entity's operations: name -> input and answer. */
export interface LockOperations {
  /** Ask for the lock (again, while waiting). */
  request: { input: { party: LockParty; now: string }; output: LockAnswer };
  /** The holder reports what it is doing (a newer run may supersede an approval wait). */
  phase: { input: { instanceId: string; phase: LockHolder['phase'] }; output: null };
  /** Give the lock up (a no-op when not held). */
  release: { input: { instanceId: string }; output: null };
  /** Read the state (diagnostics). */
  get: { input: undefined; output: LockState };
}

/** Names of the lock entity's operations. */
export type LockOperationName = keyof LockOperations;
