/**
 * Writes new work inside a transaction: inbox messages (events, timers, control), entity
 * operations, activity work items and new instances. Each write also notes in the TxEffects
 * what the dispatcher may run once the transaction has committed (never before).
 */
import type { DurableClock } from './clock.js';
import type { TxEffects } from './commit.js';
import { findOrchestrator, newId, type EngineHost, type StartResult } from './engine-host.js';
import type { InstanceCache } from './instance-cache.js';
import type { ActivityRow, DurableStore, InstanceRow } from './store.js';
import { EventType, TERMINAL, emptyReplayState, type HistoryEvent } from './types.js';

export type InboxMessage = Parameters<DurableStore['insertInbox']>[0];
export type EntityOpMessage = Parameters<DurableStore['insertEntityOp']>[0];

/** The parent of a sub-orchestration, as its child records it. */
export interface ParentRef {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
}

export class WorkWriter {
  /** Activity rows inserted by transactions not yet applied (saves reading them back). */
  private readonly activityBuffer = new Map<number, ActivityRow>();

  constructor(
    private readonly store: DurableStore,
    private readonly clock: DurableClock,
    private readonly host: EngineHost,
    private readonly cache: InstanceCache,
  ) {}

  inbox(fx: TxEffects, m: InboxMessage): void {
    this.store.insertInbox(m);
    if (m.visibleAt <= this.clock.now()) fx.readyInstances.add(m.instanceId);
    else fx.earliestTimer = Math.min(fx.earliestTimer, m.visibleAt);
  }

  entityOp(fx: TxEffects, o: EntityOpMessage): void {
    this.store.insertEntityOp(o);
    fx.readyEntities.add(o.entityId);
  }

  activity(fx: TxEffects, row: InstanceRow, taskId: number, name: string, input: string | null): void {
    const instanceId = row.instance_id;
    const executionId = row.execution_id;
    const rowId = this.store.insertActivity(instanceId, executionId, taskId, name, input);
    fx.activities.push(rowId);
    this.activityBuffer.set(rowId, { id: rowId, instance_id: instanceId, execution_id: executionId, task_id: taskId, name, input });
  }

  /** The rows of activities a committed transaction inserted (each handed out once). */
  takeActivityRows(ids: number[]): ActivityRow[] {
    const out: ActivityRow[] = [];
    for (const id of ids) {
      const row = this.activityBuffer.get(id);
      if (row) {
        this.activityBuffer.delete(id);
        out.push(row);
      }
    }
    return out;
  }

  /** A durable timer: a TimerFired message that becomes visible at its fire time. */
  timer(fx: TxEffects, row: InstanceRow, timerId: number, fireAt: number): void {
    this.inbox(fx, {
      instanceId: row.instance_id, executionId: row.execution_id, kind: 'timer', timerId, visibleAt: fireAt,
      event: { EventType: EventType.TimerFired, EventId: -1, IsPlayed: false, Timestamp: new Date(fireAt).toISOString(), TimerId: timerId, FireAt: new Date(fireAt).toISOString() },
    });
  }

  cancelTimer(row: InstanceRow, timerId: number): void {
    this.store.cancelTimer(row.instance_id, row.execution_id, timerId);
  }

  /** Fails a retry attempt at once (its retry timeout expired before it started). */
  failAttempt(fx: TxEffects, row: InstanceRow, taskId: number, sub: boolean, failure: Record<string, unknown>): void {
    const now = this.clock.now();
    this.inbox(fx, {
      instanceId: row.instance_id, executionId: row.execution_id, kind: 'event', visibleAt: now,
      event: { ...failure, EventType: sub ? EventType.SubOrchestrationInstanceFailed : EventType.TaskFailed, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), TaskScheduledId: taskId },
    });
  }

  /**
   * Creates an instance (status Pending) and queues its ExecutionStarted. A live id
   * (Pending/Running/Suspended) is refused; a finished one starts a fresh execution.
   */
  createInstance(fx: TxEffects, name: string, id: string, inputText: string | null, version: string | null, parent: ParentRef | null): StartResult {
    const existing = this.store.getInstance(id);
    if (existing && !TERMINAL.has(existing.status)) {
      return { ok: false, code: 'exists', message: `An orchestration with instance ID '${id}' already exists and is ${existing.status}; it can only be reused once it has finished.` };
    }
    const now = this.clock.now();
    const executionId = newId();
    if (existing) this.store.purge(id);
    const row: InstanceRow = {
      instance_id: id, name, execution_id: executionId, status: 'Pending', input: inputText, output: null, custom_status: null,
      created_at: now, updated_at: now, parent_instance_id: parent?.instanceId ?? null, parent_execution_id: parent?.executionId ?? null,
      parent_task_id: parent?.taskId ?? null, version, state: JSON.stringify(emptyReplayState()),
    };
    this.store.putInstance(row);
    const started: HistoryEvent = {
      EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(),
      Name: name, Version: version ?? '', Input: inputText,
      OrchestrationInstance: { InstanceId: id, ExecutionId: executionId },
      ...(parent ? { ParentInstance: { Name: parent.name, TaskScheduleId: parent.taskId, OrchestrationInstance: { InstanceId: parent.instanceId, ExecutionId: parent.executionId } } } : {}),
    };
    this.inbox(fx, { instanceId: id, executionId, kind: 'start', visibleAt: now, event: started });
    fx.after.push(() => this.cache.delete(id));
    return { ok: true, instanceId: id };
  }

  /** Starts a sub-orchestration; what cannot start fails the parent's task instead. */
  startChild(fx: TxEffects, row: InstanceRow, taskId: number, name: string, childId: string, input: string | null, version: string | null): void {
    const fn = findOrchestrator(this.host, name);
    const now = this.clock.now();
    const fail = (message: string) =>
      this.inbox(fx, {
        instanceId: row.instance_id, executionId: row.execution_id, kind: 'event', visibleAt: now,
        event: { EventType: EventType.SubOrchestrationInstanceFailed, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), TaskScheduledId: taskId, Reason: message, Details: '' },
      });
    if (!fn) return fail(`The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`);
    if (childId.startsWith('@') || childId === row.instance_id) return fail(`Invalid sub-orchestration instance id '${childId}'.`);
    const res = this.createInstance(fx, fn.name, childId, input, version, { instanceId: row.instance_id, executionId: row.execution_id, taskId, name: row.name });
    if (!res.ok) fail(res.message);
  }

  /** Frees every entity lock the instance holds (it ended or continued as new). */
  releaseLocks(fx: TxEffects, instanceId: string, now: number): void {
    for (const e of this.store.entitiesLockedBy(instanceId)) {
      this.store.putEntity({ ...e, locked_by: null, lock_request_id: null, updated_at: now });
      fx.readyEntities.add(e.entity_id);
    }
  }
}
