// Drives Conveyor's orchestrator generators directly, with a minimal fake of the durable
// context, against a scripted world (activity results, the lock entity, sub-orchestrations,
// external events), and records a history: one step per yield, with the action the
// orchestrator asked for and the result it was given.
//
// Why drive the generator instead of the durable-functions replay executor: what replay
// demands of *our* code is that, given the same input and the same recorded results, the
// orchestrator asks for exactly the same actions in the same order (no hidden clock, state or
// randomness). Driving the generator checks that directly, compares whole actions (inputs
// included, stricter than the library's name-only check), and can cut a history at any yield.
// The library's own replay is exercised end to end by the e2e tests and the local durable
// backend's tests (test/integration/durable-*.test.ts).
//
// Replay: give `history` to `drive`; each of its steps is replayed (the orchestrator must ask
// for the recorded action, and gets the recorded result, with `isReplaying` true), then the run
// continues live against the world. `snapshots[k]` is the world's state after step k, so a run
// cut after step k resumes against the world as it was then (side effects are not redone).
import type * as df from 'durable-functions';

/** What an orchestrator asked for at one yield. */
export type Action =
  | { kind: 'activity'; name: string; input: unknown }
  | { kind: 'sub'; name: string; input: unknown; instanceId: string }
  | { kind: 'entity'; entity: string; operation: string; input: unknown }
  | { kind: 'timer'; fireAt: string }
  | { kind: 'event'; name: string }
  | { kind: 'any'; of: Action[] };

/** One history step: the action, how it ended, the orchestration clock after it. */
export interface Step {
  action: Action;
  outcome: { ok: true; value: unknown; winner?: number } | { ok: false; error: string };
  clock: string;
}

/** An external event waiting to be delivered (in order, when the orchestrator waits for its name). */
export interface ExternalEvent {
  name: string;
  payload: unknown;
  /** The instance it is raised on; absent: whichever instance is driven. */
  instanceId?: string;
}

/** The world an orchestration runs against. `S` is plain data (cloned for snapshots). */
export interface World<S extends { events: ExternalEvent[] }> {
  initial(): S;
  /** An activity's result; throw for a failed activity (after its retries). */
  activity(state: S, name: string, input: unknown): unknown;
  /** An entity operation's answer (`entity` is `<name>@<key>`). */
  entity?(state: S, entity: string, operation: string, input: unknown): unknown;
  /** A sub-orchestration's output (it may drive another orchestrator over the same state). */
  subOrchestration?(state: S, name: string, input: unknown, instanceId: string, now: string): Promise<unknown>;
}

/** How a drive ended. */
export interface DriveResult {
  /** `continued`: the orchestrator called continueAsNew; `output` is the next generation's input. */
  status: 'completed' | 'failed' | 'waiting' | 'continued';
  output?: unknown;
  error?: string;
  history: Step[];
  /** World state after each step (index k: after step k; index 0: before any). */
  snapshots: unknown[];
  customStatus: unknown;
}

type Orchestrator = (context: df.OrchestrationContext) => Generator<df.Task, unknown, unknown>;

const json = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

class FakeTask {
  isCompleted = false;
  isFaulted = false;
  result: unknown = undefined;
  constructor(readonly action: Action) {}
  complete(value: unknown): void {
    this.isCompleted = true;
    this.result = value;
  }
}

class FakeTimer extends FakeTask {
  isCancelled = false;
  cancel(): void {
    this.isCancelled = true;
  }
}

class FakeAny extends FakeTask {
  constructor(readonly children: FakeTask[]) {
    super({ kind: 'any', of: children.map((c) => c.action) });
  }
}

/** Thrown when a replayed orchestrator asks for something other than its history says. */
export class NonDeterminismError extends Error {}

/**
 * Runs `orchestrator` with `input` against `world`, replaying `history` first (from the world
 * state `from`, normally the snapshot taken after the last replayed step).
 */
export async function drive<S extends { events: ExternalEvent[] }>(
  orchestrator: Orchestrator,
  input: unknown,
  world: World<S>,
  options: { instanceId?: string; start?: string; history?: readonly Step[]; from?: S; activityMs?: number; realTimers?: boolean } = {},
): Promise<DriveResult> {
  const state: S = options.from ? structuredClone(options.from) : world.initial();
  const replay = options.history ?? [];
  const history: Step[] = [];
  const snapshots: unknown[] = [structuredClone(state)];
  let clock = new Date(options.start ?? '2026-11-30T10:00:00.000Z').getTime();
  let customStatus: unknown = null;
  let continued: { input: unknown } | undefined;
  const instanceId = options.instanceId ?? 'instance';

  const ctx = {
    instanceId,
    isReplaying: false,
    get currentUtcDateTime() {
      return new Date(clock);
    },
    getInput: () => json(input),
    setCustomStatus: (value: unknown) => {
      customStatus = json(value);
    },
    callActivityWithRetry: (name: string, _retry: unknown, activityInput: unknown) => new FakeTask({ kind: 'activity', name, input: json(activityInput) }),
    callActivity: (name: string, activityInput: unknown) => new FakeTask({ kind: 'activity', name, input: json(activityInput) }),
    callSubOrchestrator: (name: string, subInput: unknown, id: string) => new FakeTask({ kind: 'sub', name, input: json(subInput), instanceId: id }),
    callEntity: (entity: { name: string; key: string }, operation: string, opInput: unknown) =>
      new FakeTask({ kind: 'entity', entity: `${entity.name}@${entity.key}`, operation, input: json(opInput) }),
    createTimer: (fireAt: Date) => new FakeTimer({ kind: 'timer', fireAt: fireAt.toISOString() }),
    waitForExternalEvent: (name: string) => new FakeTask({ kind: 'event', name }),
    continueAsNew: (next: unknown) => {
      continued = { input: json(next) };
    },
    Task: { any: (tasks: FakeTask[]) => new FakeAny(tasks) },
  };
  const context = { df: ctx, log: () => undefined } as unknown as df.OrchestrationContext;

  const takeEvent = (names: string[]): ExternalEvent | undefined => {
    const i = state.events.findIndex((e) => names.includes(e.name) && (e.instanceId === undefined || e.instanceId === instanceId));
    return i < 0 ? undefined : state.events.splice(i, 1)[0];
  };

  // Executes an action live; undefined means "nothing can happen" (waiting for an event).
  const execute = async (task: FakeTask): Promise<Step['outcome'] | undefined> => {
    const a = task.action;
    try {
      switch (a.kind) {
        case 'activity':
          clock += options.activityMs ?? 1000;
          return { ok: true, value: json(await world.activity(state, a.name, a.input)) };
        case 'entity':
          clock += 10;
          return { ok: true, value: json(world.entity!(state, a.entity, a.operation, a.input)) };
        case 'sub':
          clock += 1000;
          return { ok: true, value: json(await world.subOrchestration!(state, a.name, a.input, a.instanceId, new Date(clock).toISOString())) };
        case 'timer': {
          const fireAt = new Date(a.fireAt).getTime();
          if (options.realTimers && fireAt > clock) await new Promise((resolve) => setTimeout(resolve, fireAt - clock));
          clock = Math.max(clock, fireAt);
          return { ok: true, value: undefined };
        }
        case 'event': {
          const event = takeEvent([a.name]);
          if (!event) return undefined;
          clock += 1000;
          return { ok: true, value: json(event.payload) };
        }
        case 'any': {
          const children = (task as FakeAny).children;
          const waiting = children.map((c, i) => ({ c, i })).filter(({ c }) => !c.isCompleted && !(c instanceof FakeTimer && c.isCancelled));
          const event = takeEvent(waiting.filter(({ c }) => c.action.kind === 'event').map(({ c }) => (c.action as { name: string }).name));
          if (event) {
            clock += 1000;
            const winner = waiting.find(({ c }) => c.action.kind === 'event' && (c.action as { name: string }).name === event.name)!;
            return { ok: true, value: json(event.payload), winner: winner.i };
          }
          const timers = waiting.filter(({ c }) => c instanceof FakeTimer).sort((x, y) => ((x.c.action as { fireAt: string }).fireAt < (y.c.action as { fireAt: string }).fireAt ? -1 : 1));
          if (timers.length === 0) return undefined;
          const first = timers[0]!;
          const fireAt = new Date((first.c.action as { fireAt: string }).fireAt).getTime();
          if (options.realTimers && fireAt > clock) await new Promise((resolve) => setTimeout(resolve, fireAt - clock));
          clock = Math.max(clock, fireAt);
          return { ok: true, value: undefined, winner: first.i };
        }
      }
    } catch (err) {
      const kind = a.kind === 'activity' ? `Activity function '${a.name}'` : a.kind === 'sub' ? `Orchestrator function '${a.name}'` : 'Operation';
      return { ok: false, error: `${kind} failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  };

  const gen = orchestrator(context);
  let next: IteratorResult<df.Task, unknown>;
  try {
    ctx.isReplaying = replay.length > 0;
    next = gen.next();
    for (let step = 0; !next.done; step++) {
      const task = next.value as unknown as FakeTask;
      if (!(task instanceof FakeTask)) throw new Error(`step ${step}: the orchestrator yielded something that is not a durable task`);
      let outcome: Step['outcome'] | undefined;
      if (step < replay.length) {
        const recorded = replay[step]!;
        const asked = JSON.stringify(task.action);
        if (asked !== JSON.stringify(recorded.action)) {
          throw new NonDeterminismError(`step ${step}: the history has ${JSON.stringify(recorded.action)}, the replay asked for ${asked}`);
        }
        outcome = recorded.outcome;
        clock = new Date(recorded.clock).getTime();
        ctx.isReplaying = step + 1 < replay.length;
      } else {
        ctx.isReplaying = false;
        outcome = await execute(task);
        if (!outcome) return { status: 'waiting', history, snapshots, customStatus };
      }
      history.push({ action: task.action, outcome, clock: new Date(clock).toISOString() });
      snapshots.push(structuredClone(state));
      if (!outcome.ok) {
        task.isFaulted = true;
        next = gen.throw(new Error(outcome.error));
        continue;
      }
      if (task instanceof FakeAny) {
        const winner = task.children[outcome.winner!]!;
        winner.complete(outcome.value);
        task.complete(winner);
        next = gen.next(winner);
      } else {
        task.complete(outcome.value);
        next = gen.next(outcome.value);
      }
    }
    if (continued) return { status: 'continued', output: continued.input, history, snapshots, customStatus };
    return { status: 'completed', output: json(next.value), history, snapshots, customStatus };
  } catch (err) {
    if (err instanceof NonDeterminismError) throw err;
    return { status: 'failed', error: err instanceof Error ? err.message : String(err), history, snapshots, customStatus };
  }
}
