// Timer triggers: NCRONTAB / TimeSpan schedules, runOnStartup and isPastDue after a restart.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPastDueAt, parseSchedule, TimerScheduler, type TimerInfo } from '../../local/host/timers.js';
import type { FunctionEntry, Invoker } from '../../local/host/invoker.js';
import { ConsoleLogger } from '../../local/host/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'conveyor-timers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('schedules', () => {
  const from = new Date('2026-03-04T10:15:30.500Z');
  const cases: [string, string][] = [
    ['0 */5 * * * *', '2026-03-04T10:20:00.000Z'],
    ['*/10 * * * * *', '2026-03-04T10:15:40.000Z'],
    ['0 0 12 * * *', '2026-03-04T12:00:00.000Z'],
    ['0 30 9 * * 1-5', '2026-03-05T09:30:00.000Z'],
    ['0 0 0 1 * *', '2026-04-01T00:00:00.000Z'],
    ['00:05:00', '2026-03-04T10:20:30.500Z'],
    ['1.00:00:00', '2026-03-05T10:15:30.500Z'],
  ];
  for (const [expr, next] of cases) {
    it(`${expr} after ${from.toISOString()} is ${next}`, () => {
      assert.equal(parseSchedule(expr, 'UTC').next(from)?.toISOString(), next);
    });
  }
  it('rejects five-field cron (NCRONTAB has seconds first)', () => {
    assert.throws(() => parseSchedule('*/5 * * * *'), /six-field NCRONTAB/);
  });
});

describe('isPastDue', () => {
  it('is true only when the recorded next occurrence has passed', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    assert.equal(isPastDueAt(undefined, now), false);
    assert.equal(isPastDueAt({ last: '', next: '2026-01-01T11:59:00Z', lastUpdated: '' }, now), true);
    assert.equal(isPastDueAt({ last: '', next: '2026-01-01T12:01:00Z', lastUpdated: '' }, now), false);
  });
});

function fakeFn(name: string, trigger: Record<string, unknown>): FunctionEntry {
  return {
    name,
    trigger: { name: 'timer', type: 'timerTrigger', direction: 'in', ...trigger },
    bindings: [],
    callback: () => undefined,
    effectiveOptions: { trigger: { name: 'timer', type: 'timerTrigger', direction: 'in' }, extraInputs: [], extraOutputs: [] },
    suppliedInputs: [],
    logger: new ConsoleLogger({ level: 'none' }),
  };
}

/** An in-memory stand-in for the host's invocation pipeline (the project's own port). */
function recordingInvoker() {
  const calls: { fn: string; value: TimerInfo }[] = [];
  let notify: () => void = () => {};
  const invoker = {
    async invoke(fn: FunctionEntry, value: unknown) {
      calls.push({ fn: fn.name, value: value as TimerInfo });
      notify();
      return { result: undefined, context: {}, invocationId: 'x' };
    },
  } as unknown as Invoker;
  const next = () => new Promise<void>((r) => (notify = r));
  return { invoker, calls, next };
}

describe('timer scheduler', () => {
  it('fires a missed occurrence at start with isPastDue, and persists the schedule status', async () => {
    const state = join(dir, 'pastdue');
    mkdirSync(join(state, 'timers'), { recursive: true });
    const missed = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(join(state, 'timers', 'nightly.json'), JSON.stringify({ last: '2026-01-01T00:00:00.000Z', next: missed, lastUpdated: missed }));
    const { invoker, calls, next } = recordingInvoker();
    const s = new TimerScheduler(state, invoker, new ConsoleLogger({ level: 'none' }));
    s.add(fakeFn('nightly', { schedule: '0 0 3 * * *' }));
    const fired = next();
    s.start();
    await fired;
    s.stop();
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.value.isPastDue, true);
    assert.deepEqual(calls[0]!.value.schedule, { adjustForDST: true });
    assert.equal(calls[0]!.value.scheduleStatus?.next, missed);
    await new Promise((r) => setImmediate(r));
    const saved = JSON.parse(readFileSync(join(state, 'timers', 'nightly.json'), 'utf8')) as { next: string; last: string };
    assert.ok(Date.parse(saved.next) > Date.now(), 'the next occurrence is in the future');
  });

  it('runs on startup when asked, not past due', async () => {
    const { invoker, calls, next } = recordingInvoker();
    const s = new TimerScheduler(join(dir, 'startup'), invoker, new ConsoleLogger({ level: 'none' }));
    s.add(fakeFn('warm', { schedule: '0 0 3 * * *', runOnStartup: true }));
    const fired = next();
    s.start();
    await fired;
    s.stop();
    assert.equal(calls[0]!.value.isPastDue, false);
  });

  it('passes no schedule status when the monitor is off', async () => {
    const { invoker, calls, next } = recordingInvoker();
    const s = new TimerScheduler(join(dir, 'nomonitor'), invoker, new ConsoleLogger({ level: 'none' }));
    s.add(fakeFn('fast', { schedule: '*/1 * * * * *', useMonitor: false }));
    const fired = next();
    s.start();
    await fired;
    s.stop();
    assert.equal(calls[0]!.value.scheduleStatus, null);
    assert.equal(calls[0]!.value.isPastDue, false);
  });
});
