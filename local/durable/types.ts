/**
 * Wire shapes shared by the durable backend: history events (DTFx PascalCase, numeric
 * EventType, as the durable-functions library reads them), the action objects the library
 * returns, and the runtime status vocabulary (see docs/durable.md).
 */

/** DTFx history event type numbers. */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export const EventTypeName: Record<number, string> = Object.fromEntries(Object.entries(EventType).map(([k, v]) => [v, k]));

/** One history event as stored and as handed to the library (Timestamp as ISO text). */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

/** Action type numbers of the library's OrchestratorState actions. */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  ScheduledSignalEntity: 10,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

/** An action object as the library emits it (fields vary per type). */
export interface Action {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptions;
  instanceId?: string;
  version?: string;
  fireAt?: Date | string;
  isCanceled?: boolean;
  externalEventName?: string;
  operation?: string;
  compoundActions?: Action[];
  lockRequestId?: string;
  lockSet?: { name: string; key: string }[];
}

export interface RetryOptions {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** What an orchestrator callback resolves to. */
export interface OrchestratorResult {
  isDone: boolean;
  actions: Action[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Suspended';

export const RUNTIME_STATUSES: readonly RuntimeStatus[] = ['Pending', 'Running', 'Completed', 'ContinuedAsNew', 'Failed', 'Canceled', 'Terminated', 'Suspended'];

/** Statuses after which an instance accepts no more events and its id may be reused. */
export const TERMINAL: ReadonlySet<RuntimeStatus> = new Set<RuntimeStatus>(['Completed', 'Failed', 'Terminated', 'Canceled']);

/** A retry chain in flight: keyed by the id the library waits on next (attempt or timer). */
export interface RetryChain {
  kind: 'activity' | 'sub';
  name: string;
  /** Decoded input (JSON text), reused for every attempt. */
  input: string | null;
  retry: RetryOptions;
  /** Attempts made so far (1 after the first). */
  attempts: number;
  state: 'attempt' | 'timer';
  /** When the first attempt was scheduled (retryTimeoutInMilliseconds counts from here). */
  firstAt?: number;
  /** Set once the retry timeout has passed: remaining attempts fail at once. */
  expired?: boolean;
  /** Failure fields of the last attempt (replayed for attempts skipped after the timeout). */
  lastFailure?: Record<string, unknown>;
  /** Caller-chosen child id for sub-orchestrations (reused on every attempt). */
  childId?: string;
  version?: string;
}

/**
 * Per-execution replay bookkeeping: next sequence id, how many top-level actions were
 * already turned into work, the ids each of their leaves took, a structural signature per
 * entry (for the non-determinism check), and the retry chains.
 */
export interface ReplayState {
  nextSeq: number;
  knownTop: number;
  leaves: number[][];
  sigs: string[];
  chains: Record<string, RetryChain>;
  lock?: { requestId: string; lockSet: { name: string; key: string }[] };
}

export function emptyReplayState(): ReplayState {
  return { nextSeq: 0, knownTop: 0, leaves: [], sigs: [], chains: {} };
}
