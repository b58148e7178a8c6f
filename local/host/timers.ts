/**
 * Timer triggers: six-field NCRONTAB schedules (seconds first) through croner, or a TimeSpan
 * interval (`hh:mm:ss`), `runOnStartup`, and `isPastDue` computed from the last schedule status
 * persisted per timer under the state folder, as the real host's schedule monitor does: when
 * the host (re)starts after a recorded next occurrence has passed, the timer fires once right
 * away with `isPastDue: true`. A timer never overlaps itself; the next occurrence is computed
 * after the previous invocation finished.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cron } from 'croner';
import type { FunctionEntry, Invoker } from './invoker.js';
import type { ConsoleLogger } from './logger.js';

/** Computes the next occurrence strictly after `from`. */
export interface Schedule {
  next(from: Date): Date | null;
  describe(): string;
}

/** Parses `hh:mm:ss` / `d.hh:mm:ss` (TimeSpan) or a six-field NCRONTAB expression. */
export function parseSchedule(expression: string, timezone?: string): Schedule {
  const ts = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(expression.trim());
  if (ts) {
    const ms = ((Number(ts[1] ?? 0) * 24 + Number(ts[2])) * 3600 + Number(ts[3]) * 60 + Number(ts[4])) * 1000;
    if (ms <= 0) throw new Error(`timer interval '${expression}' must be positive`);
    return { next: (from) => new Date(from.getTime() + ms), describe: () => `every ${expression}` };
  }
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new Error(`timer schedule '${expression}' must be a six-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week}) or hh:mm:ss`);
  }
  // croner reads a six-field pattern as seconds-first, exactly NCRONTAB's layout; day-of-month
  // and day-of-week combine with OR, as in NCRONTAB.
  const cron = new Cron(expression.trim(), { paused: true, timezone, domAndDow: false });
  return { next: (from) => cron.nextRun(from), describe: () => expression.trim() };
}

/** What the real host persists per timer (ScheduleStatus). */
export interface ScheduleStatus {
  last: string;
  next: string;
  lastUpdated: string;
}

/** The value a timer function receives (the worker camel-cases the host's JSON). */
export interface TimerInfo {
  schedule: { adjustForDST: boolean };
  scheduleStatus: ScheduleStatus | null;
  isPastDue: boolean;
}

const MIN_DATE = new Date('0001-01-01T00:00:00.000Z').toISOString();
const MAX_TIMEOUT = 2 ** 31 - 1;

/** True when a recorded status says an occurrence was missed while the host was down. */
export function isPastDueAt(status: ScheduleStatus | undefined, now: Date): boolean {
  if (!status) return false;
  const next = Date.parse(status.next);
  return Number.isFinite(next) && next < now.getTime();
}

interface TimerState {
  fn: FunctionEntry;
  schedule: Schedule;
  useMonitor: boolean;
  status?: ScheduleStatus;
  handle?: NodeJS.Timeout;
  running?: Promise<void>;
}

export class TimerScheduler {
  readonly #dir: string;
  readonly #invoker: Invoker;
  readonly #logger: ConsoleLogger;
  readonly #timers: TimerState[] = [];
  #stopped = false;

  constructor(stateDir: string, invoker: Invoker, logger: ConsoleLogger) {
    this.#dir = join(stateDir, 'timers');
    this.#invoker = invoker;
    this.#logger = logger;
  }

  /** Registers a timer function; throws on an invalid schedule (the host reports it). */
  add(fn: FunctionEntry): Schedule {
    const expr = String(fn.trigger.schedule ?? '');
    const schedule = parseSchedule(expr, process.env.WEBSITE_TIME_ZONE || undefined);
    const useMonitor = fn.trigger.useMonitor !== false;
    this.#timers.push({ fn, schedule, useMonitor, status: useMonitor ? this.#read(fn.name) : undefined });
    return schedule;
  }

  #file(name: string): string {
    return join(this.#dir, `${name.toLowerCase().replace(/[^a-z0-9_.-]/g, '_')}.json`);
  }

  #read(name: string): ScheduleStatus | undefined {
    try {
      return JSON.parse(readFileSync(this.#file(name), 'utf8')) as ScheduleStatus;
    } catch {
      return undefined;
    }
  }

  #write(t: TimerState): void {
    if (!t.useMonitor || !t.status) return;
    mkdirSync(this.#dir, { recursive: true });
    const file = this.#file(t.fn.name);
    writeFileSync(`${file}.tmp`, JSON.stringify(t.status));
    renameSync(`${file}.tmp`, file);
  }

  start(): void {
    const now = new Date();
    for (const t of this.#timers) {
      const pastDue = t.useMonitor && isPastDueAt(t.status, now);
      if (pastDue || t.fn.trigger.runOnStartup === true) {
        t.running = this.#fire(t, pastDue, now);
      } else this.#scheduleNext(t, now);
    }
  }

  #scheduleNext(t: TimerState, from: Date): void {
    if (this.#stopped) return;
    const next = t.schedule.next(from);
    if (!next) return;
    if (t.useMonitor) {
      t.status = { last: t.status?.last ?? MIN_DATE, next: next.toISOString(), lastUpdated: new Date().toISOString() };
      this.#write(t);
    }
    const arm = () => {
      const wait = next.getTime() - Date.now();
      if (wait > 0) {
        // Long waits are re-armed in steps: setTimeout overflows past ~24.8 days.
        t.handle = setTimeout(arm, Math.min(wait, MAX_TIMEOUT));
        return;
      }
      t.running = this.#fire(t, false, next);
    };
    arm();
  }

  async #fire(t: TimerState, isPastDue: boolean, occurrence: Date): Promise<void> {
    if (this.#stopped) return;
    const info: TimerInfo = {
      schedule: { adjustForDST: true },
      scheduleStatus: t.useMonitor ? { ...(t.status ?? { last: MIN_DATE, next: occurrence.toISOString(), lastUpdated: MIN_DATE }) } : null,
      isPastDue,
    };
    try {
      await this.#invoker.invoke(t.fn, info);
    } catch (err) {
      t.fn.logger.error('timer invocation failed', { error: err instanceof Error ? err.stack ?? err.message : String(err) });
    }
    const now = new Date();
    if (t.useMonitor) {
      t.status = { last: occurrence.toISOString(), next: t.status?.next ?? occurrence.toISOString(), lastUpdated: now.toISOString() };
    }
    this.#scheduleNext(t, now);
  }

  /** Stops scheduling; running invocations are awaited by the host's grace logic. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) if (t.handle) clearTimeout(t.handle);
    this.#logger.debug('timers stopped');
  }
}
