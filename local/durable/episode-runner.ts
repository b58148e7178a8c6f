/**
 * Runs orchestrator episodes: picks the deliverable inbox messages of one instance, applies
 * control messages (terminate, suspend, resume), hands history + new events to the
 * durable-functions library's replay executor through the host, and commits the outcome
 * (history, work items, status) in one transaction, and only if the instance still runs the
 * same execution (it may have been purged or restarted meanwhile).
 */
import type { TxEffects } from './commit.js';
import type { EngineContext } from './engine-context.js';
import { findOrchestrator, newId } from './engine-host.js';
import { EpisodePlan, NonDeterminismError, advancesChain } from './episode-plan.js';
import { REPLAYED, type CachedInstance, type InstanceCache } from './instance-cache.js';
import { fromJsonText, toJsonText } from './replay.js';
import { parseState, type InboxRow, type InstanceRow } from './store.js';
import { EventType, TERMINAL, emptyReplayState, type HistoryEvent, type OrchestratorResult, type ReplayState, type RuntimeStatus } from './types.js';

/** How the library appends its OrchestratorState to the message of an orchestrator failure. */
const OOP_MARKER = '\n\n$OutOfProcData$:';
const CONTROL_KINDS = new Set(['terminate', 'suspend', 'resume']);

export class EpisodeRunner {
  constructor(
    private readonly ctx: EngineContext,
    private readonly cache: InstanceCache,
    /** Told (after the commit) when an instance reached a terminal status. */
    private readonly onFinished: (row: InstanceRow) => void,
  ) {}

  /** Runs one episode of an instance. Resolves true when more deliverable events remain. */
  async run(id: string): Promise<boolean> {
    const { store, clock, committer } = this.ctx;
    const cached = this.cache.load(id);
    const now = clock.now();
    const rows = store.visibleInbox(id, now);
    if (rows.length === 0) return false;
    if (!cached) {
      // Instance purged: its leftover messages are garbage.
      await committer.run(() => rows.forEach((r) => store.deleteInbox(r.id)));
      return false;
    }
    const row = cached.row;
    const executionId = row.execution_id;
    const stale = rows.filter((r) => r.execution_id !== null && r.execution_id !== executionId);
    const live = rows.filter((r) => r.execution_id === null || r.execution_id === executionId);
    // An execution's ExecutionStarted goes first even when external events were queued before it
    // (continueAsNew: events raised meanwhile wait for the new execution).
    const startAt = live.findIndex((r) => r.kind === 'start');
    if (startAt > 0) live.unshift(...live.splice(startAt, 1));
    if (TERMINAL.has(row.status)) {
      await committer.run(() => rows.forEach((r) => store.deleteInbox(r.id)));
      return false;
    }
    if (stale.length) await committer.run(() => stale.forEach((r) => store.deleteInbox(r.id)));
    if (live.length === 0) return false;

    // Control messages apply in arrival order; while suspended only control messages pass.
    const suspended = row.status === 'Suspended';
    const firstControl = live.findIndex((r) => CONTROL_KINDS.has(r.kind));
    if (suspended) {
      if (firstControl < 0) return false;
      await this.applyControl(cached, live[firstControl]!);
      return true;
    }
    if (firstControl === 0) {
      await this.applyControl(cached, live[0]!);
      return live.length > 1;
    }

    const state = parseState(row.state);
    const batch: InboxRow[] = [];
    for (const r of live) {
      if (CONTROL_KINDS.has(r.kind)) break;
      if (batch.length >= this.ctx.settings.maxEventsPerEpisode) break;
      if (advancesChain(state, JSON.parse(r.event) as HistoryEvent)) {
        // A chain-advancing event makes the library allocate ids while it is processed; it
        // goes alone so those ids come before any id of newly scheduled work (docs/durable.md).
        if (batch.length === 0) batch.push(r);
        break;
      }
      batch.push(r);
    }
    await this.orchestratorEpisode(cached, state, batch, now);
    return batch.length < live.length;
  }

  private async applyControl(cached: CachedInstance, msg: InboxRow): Promise<void> {
    const { store, clock, committer } = this.ctx;
    const row = cached.row;
    const id = row.instance_id;
    const { reason } = JSON.parse(msg.event) as { reason: string | null };
    const now = clock.now();
    const ts = new Date(now).toISOString();
    const seq = cached.length;
    if (msg.kind === 'terminate') {
      const ev = { EventType: EventType.ExecutionTerminated, EventId: -1, IsPlayed: true, Timestamp: ts, Input: reason ?? '' };
      const updated: InstanceRow = { ...row, status: 'Terminated', output: JSON.stringify(reason ?? ''), updated_at: now };
      await committer.run((fx) => {
        store.deleteInbox(msg.id);
        if (!store.updateInstance(updated, row.execution_id)) return;
        store.appendHistory(id, seq, [ev]);
        store.deleteFutureInbox(id, -1);
        this.finishTx(fx, updated, { failed: `Orchestration '${id}' was terminated: ${reason ?? ''}` });
        fx.after.push(() => this.cache.delete(id));
      });
      return;
    }
    const suspend = msg.kind === 'suspend';
    if (suspend === (row.status === 'Suspended')) {
      await committer.run(() => store.deleteInbox(msg.id));
      return;
    }
    const ev = { EventType: suspend ? EventType.ExecutionSuspended : EventType.ExecutionResumed, EventId: -1, IsPlayed: true, Timestamp: ts, Reason: reason ?? '' };
    const status: RuntimeStatus = suspend ? 'Suspended' : cached.length === 0 ? 'Pending' : 'Running';
    const updated: InstanceRow = { ...row, status, updated_at: now };
    await committer.run((fx) => {
      store.deleteInbox(msg.id);
      if (!store.updateInstance(updated, row.execution_id)) return;
      store.appendHistory(id, seq, [ev]);
      fx.after.push(() => {
        cached.row = updated;
        cached.length++;
      });
      // Buffered events become deliverable again on resume.
      if (!suspend) fx.readyInstances.add(id);
    });
  }

  private async orchestratorEpisode(cached: CachedInstance, state: ReplayState, batch: InboxRow[], now: number): Promise<void> {
    const { store, committer, work } = this.ctx;
    const row = cached.row;
    const id = row.instance_id;
    const executionId = row.execution_id;
    const ts = new Date(now).toISOString();
    const started: HistoryEvent = { EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: false, Timestamp: ts };
    const newEvents: HistoryEvent[] = batch.map((r) => ({ ...(JSON.parse(r.event) as HistoryEvent), IsPlayed: false }));
    // Stored events are marked played; this episode's OrchestratorStarted and events are new.
    const callHistory = cached.replay.concat([{ ...started }], newEvents.map((e) => ({ ...e })));
    const plan = new EpisodePlan(state);
    const called = await this.callOrchestrator(cached, callHistory);
    const result = called.result;
    let failure = called.failure;
    // The orchestrator may have been terminated/purged while the user code ran.
    if (this.ctx.isStopped() && !store.db.open) return;

    try {
      for (const e of newEvents) plan.chainStep(e, now, row);
      if (result) plan.walk(result, failure === undefined, row, now);
    } catch (err) {
      if (!(err instanceof NonDeterminismError)) throw err;
      failure = err.message;
      plan.discardWork();
    }

    // Work planned by a failing episode never runs; keep its history free of phantom tasks.
    if (failure !== undefined) plan.discardWork();

    // ---- decide the end state of this episode
    const history: HistoryEvent[] = [started, ...newEvents, ...plan.events];
    let updated: InstanceRow = { ...row, updated_at: now };
    let finished: { failed?: string; output?: string | null } | undefined;
    let continueAsNewInput: string | null | undefined;
    // The library re-runs setCustomStatus during replay, so each result carries the current value
    // (absent when unset or falsy, which the extension also stores as null).
    if (result) updated.custom_status = toJsonText(result.customStatus);
    if (failure !== undefined) {
      const message = `Orchestrator function '${row.name}' failed: ${failure}`;
      history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: ts });
      history.push({ EventType: EventType.ExecutionCompleted, EventId: -1, IsPlayed: false, Timestamp: ts, OrchestrationStatus: 3, Result: JSON.stringify(message), FailureDetails: { ErrorType: 'OrchestrationFailure', ErrorMessage: message } });
      updated = { ...updated, status: 'Failed', output: JSON.stringify(message) };
      finished = { failed: message };
    } else if (result!.isDone) {
      history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: ts });
      if (plan.continueAsNew !== undefined) {
        continueAsNewInput = plan.continueAsNew;
        history.push({ EventType: EventType.ContinueAsNew, EventId: -1, IsPlayed: false, Timestamp: ts, Result: continueAsNewInput });
      } else {
        const output = JSON.stringify(result!.output ?? null);
        history.push({ EventType: EventType.ExecutionCompleted, EventId: -1, IsPlayed: false, Timestamp: ts, OrchestrationStatus: 1, Result: output });
        updated = { ...updated, status: 'Completed', output };
        finished = { output };
      }
    } else {
      history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: ts });
      updated.status = 'Running';
    }
    updated.state = JSON.stringify(plan.state);
    const stored = history.map((e) => JSON.stringify({ ...e, IsPlayed: true }));

    await committer.run((fx) => {
      for (const r of batch) store.deleteInbox(r.id);
      if (continueAsNewInput !== undefined) {
        // New execution of the same instance: history, ids and timers start over.
        const newExecution = newId();
        const restarted: InstanceRow = {
          ...updated, status: 'Running', input: continueAsNewInput, output: null, execution_id: newExecution,
          state: JSON.stringify(emptyReplayState()),
        };
        if (!store.updateInstance(restarted, executionId)) return;
        store.resetHistory(id);
        // Timers and results of the old execution go; external events wait for the new one.
        store.deleteExecutionInbox(id, executionId);
        work.releaseLocks(fx, id, now);
        plan.emitFireAndForget(work, fx, now);
        work.inbox(fx, {
          instanceId: id, executionId: newExecution, kind: 'start', visibleAt: now,
          event: {
            EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: false, Timestamp: ts, Name: row.name, Version: row.version ?? '',
            Input: continueAsNewInput, OrchestrationInstance: { InstanceId: id, ExecutionId: newExecution },
          },
        });
        fx.after.push(() => {
          cached.row = restarted;
          cached.length = 0;
          cached.replay = [];
        });
        return;
      }
      if (!store.updateInstance(updated, executionId)) return;
      store.appendHistoryTexts(id, cached.length, stored);
      if (finished) {
        plan.emitFireAndForget(work, fx, now);
        store.deleteFutureInbox(id, -1);
        this.finishTx(fx, updated, finished);
        fx.after.push(() => this.cache.delete(id));
      } else {
        plan.emitWork(work, fx, row, now);
        fx.after.push(() => {
          cached.row = updated;
          cached.length += stored.length;
          for (const e of history) if (REPLAYED.has(e.EventType)) cached.replay.push({ ...e, IsPlayed: true });
        });
      }
    });
  }

  /**
   * Hands history + new events to the library's replay executor through the host. A failing
   * orchestrator still returns the actions it took before failing (after OOP_MARKER).
   */
  private async callOrchestrator(cached: CachedInstance, callHistory: HistoryEvent[]): Promise<{ result?: OrchestratorResult; failure?: string }> {
    const row = cached.row;
    const fn = findOrchestrator(this.ctx.host, row.name);
    let failure: string | undefined;
    let result: OrchestratorResult | undefined;
    if (!fn) {
      failure = `The function '${row.name}' doesn't exist, is disabled, or is not an orchestrator function.`;
    } else {
      const trigger = {
        history: callHistory,
        input: fromJsonText(row.input),
        instanceId: row.instance_id,
        isReplaying: cached.length > 0,
        parentInstanceId: row.parent_instance_id,
        upperSchemaVersion: 3,
        // V4: context.df.lock() is implemented (LockEntities / ReleaseEntities).
        upperSchemaVersionNew: 3,
        // Huge: every timer is a single TimerCreated/TimerFired pair (no long-timer chain).
        // Milliseconds rather than TimeSpan text: the library hands both to moment.duration(),
        // which takes numbers as ms and parses them much faster than "3650.00:00:00".
        maximumShortTimerDuration: 3650 * 86_400_000,
        longRunningTimerIntervalDuration: 3 * 86_400_000,
        defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
      };
      try {
        result = (await this.ctx.host.invoke(fn, trigger, { triggerMetadata: { instanceId: row.instance_id } })) as OrchestratorResult;
        if (!result || !Array.isArray(result.actions)) throw new Error('the orchestrator returned no OrchestratorState (is it registered with df.app.orchestration?)');
      } catch (err) {
        const message = String((err as Error)?.message ?? err);
        const at = message.indexOf(OOP_MARKER);
        if (at >= 0) {
          try {
            const oop = JSON.parse(message.slice(at + OOP_MARKER.length)) as OrchestratorResult;
            failure = oop.error ?? message.slice(0, at);
            result = oop;
          } catch {
            failure = message;
          }
        } else {
          failure = message;
        }
        if (!failure) failure = 'unknown error';
      }
    }
    return { result, failure };
  }

  /** Completion bookkeeping inside the finishing transaction: tell the parent, free locks. */
  private finishTx(fx: TxEffects, row: InstanceRow, result: { failed?: string; output?: string | null }): void {
    const { clock, work } = this.ctx;
    const now = clock.now();
    fx.after.push(() => {
      if (result.failed !== undefined) this.ctx.host.logger.warn(`durable: '${row.name}' (${row.instance_id}) ended ${row.status}`, { instanceId: row.instance_id, reason: result.failed });
      else this.ctx.host.logger.debug(`durable: '${row.name}' (${row.instance_id}) completed`, { instanceId: row.instance_id });
      this.onFinished(row);
    });
    work.releaseLocks(fx, row.instance_id, now);
    if (row.parent_instance_id && row.parent_execution_id && row.parent_task_id !== null) {
      const ts = new Date(now).toISOString();
      const event: HistoryEvent = result.failed !== undefined
        ? { EventType: EventType.SubOrchestrationInstanceFailed, EventId: -1, IsPlayed: false, Timestamp: ts, TaskScheduledId: row.parent_task_id, Reason: result.failed, Details: '' }
        : { EventType: EventType.SubOrchestrationInstanceCompleted, EventId: -1, IsPlayed: false, Timestamp: ts, TaskScheduledId: row.parent_task_id, Result: result.output ?? 'null' };
      work.inbox(fx, { instanceId: row.parent_instance_id, executionId: row.parent_execution_id, kind: 'event', visibleAt: now, event });
    }
  }
}
