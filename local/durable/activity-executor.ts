/**
 * Runs one activity work item through the host and commits its result (TaskCompleted or
 * TaskFailed for the orchestrator) together with the deletion of the work item. A work item
 * whose result never committed runs again after a restart (at-least-once, as in Azure).
 */
import type { EngineContext } from './engine-context.js';
import { fromJsonText } from './replay.js';
import type { ActivityRow } from './store.js';
import { EventType, type HistoryEvent } from './types.js';

export class ActivityExecutor {
  constructor(private readonly ctx: EngineContext) {}

  async run(a: ActivityRow): Promise<void> {
    const { host, clock, store } = this.ctx;
    const fn = host.findFunction(a.name);
    const ts = () => new Date(clock.now()).toISOString();
    let event: HistoryEvent;
    if (!fn || fn.trigger.type !== 'activityTrigger') {
      event = {
        EventType: EventType.TaskFailed, EventId: -1, IsPlayed: false, Timestamp: ts(), TaskScheduledId: a.task_id,
        Reason: `Activity function '${a.name}' failed: The function '${a.name}' doesn't exist, is disabled, or is not an activity function.`,
        Details: '',
      };
    } else {
      try {
        const value = await host.invoke(fn, fromJsonText(a.input) ?? undefined, { triggerMetadata: { instanceId: a.instance_id } });
        event = { EventType: EventType.TaskCompleted, EventId: -1, IsPlayed: false, Timestamp: ts(), TaskScheduledId: a.task_id, Result: JSON.stringify(value ?? null) };
      } catch (err) {
        event = { EventType: EventType.TaskFailed, EventId: -1, IsPlayed: false, Timestamp: ts(), TaskScheduledId: a.task_id, ...activityFailure(a.name, err) };
      }
    }
    if (this.ctx.isStopped() && !store.db.open) return;
    await this.ctx.committer.run((fx) => {
      store.deleteActivity(a.id);
      this.ctx.work.inbox(fx, { instanceId: a.instance_id, executionId: a.execution_id, kind: 'event', visibleAt: clock.now(), event });
    });
  }
}

/** Activity failure → TaskFailed fields (FailureDetails when the app registered an ExceptionPropertiesProvider). */
function activityFailure(name: string, err: unknown): Record<string, unknown> {
  const e = err instanceof Error ? err : new Error(String(err));
  try {
    const parsed = JSON.parse(e.message) as { errorType?: string; errorMessage?: string; stackTrace?: string; isNonRetriable?: boolean; properties?: unknown };
    if (parsed && typeof parsed === 'object' && typeof parsed.errorType === 'string' && typeof parsed.errorMessage === 'string') {
      return {
        Reason: `Activity function '${name}' failed: ${parsed.errorMessage}`,
        Details: JSON.stringify({ message: parsed.errorMessage }),
        FailureDetails: { ErrorType: parsed.errorType, ErrorMessage: parsed.errorMessage, StackTrace: parsed.stackTrace ?? null, IsNonRetriable: !!parsed.isNonRetriable, Properties: parsed.properties ?? null },
      };
    }
  } catch {
    // not the provider's JSON: a plain error
  }
  return { Reason: `Activity function '${name}' failed: ${e.message}`, Details: JSON.stringify({ name: e.name, message: e.message, stack: e.stack }) };
}
