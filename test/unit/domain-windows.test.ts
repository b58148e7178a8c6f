import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  breakGlassRefusal,
  decideEntry,
  evaluateGate,
  instantOfWallClock,
  windowOccurrences,
  windowRuleSchema,
  type EnvironmentGate,
  type WindowRule,
} from '../../shared/domain/windows.js';

const weekend: WindowRule = windowRuleSchema.parse({
  kind: 'deny',
  name: 'weekend',
  rrule: 'FREQ=WEEKLY;BYDAY=FR',
  start: '2026-01-02T16:00',
  duration: '64h',
  timeZone: 'Europe/Berlin',
});
const officeHours: WindowRule = windowRuleSchema.parse({
  kind: 'allow',
  name: 'office',
  rrule: 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH',
  start: '2026-01-05T09:00',
  duration: '8h',
  timeZone: 'Europe/Berlin',
});
const at = (iso: string) => new Date(iso);

test('a weekend deny window ends Monday 08:00 local on both sides of the autumn DST change', () => {
  // 16 Oct 2026: summer time (UTC+2) all weekend.
  const summer = evaluateGate({ windows: [weekend] }, at('2026-10-17T12:00:00Z'));
  assert.equal(summer.open, false);
  assert.equal(!summer.open && summer.nextOpensAt, '2026-10-19T06:00:00.000Z');
  // 23 Oct 2026: starts Friday 16:00 CEST (14:00Z); clocks go back on Sunday 25 Oct; ends 08:00 CET (07:00Z).
  const change = evaluateGate({ windows: [weekend] }, at('2026-10-24T12:00:00Z'));
  assert.equal(!change.open && change.closedBy, 'deny-window');
  assert.equal(!change.open && change.nextOpensAt, '2026-10-26T07:00:00.000Z');
  const [occ] = windowOccurrences(weekend, Date.parse('2026-10-24T00:00:00Z'), Date.parse('2026-10-24T00:00:01Z'));
  assert.equal(new Date(occ!.start).toISOString(), '2026-10-23T14:00:00.000Z');
  assert.equal((occ!.end - occ!.start) / 3_600_000, 65, 'the wall-clock 64 h is 65 real hours across the change');
  // Just before it starts: open, closing at 14:00Z.
  const before = evaluateGate({ windows: [weekend] }, at('2026-10-23T13:59:00Z'));
  assert.deepEqual(before, { open: true, closesAt: '2026-10-23T14:00:00.000Z' });
  // The instant it ends: open.
  assert.equal(evaluateGate({ windows: [weekend] }, at('2026-10-26T07:00:00Z')).open, true);
  assert.equal(evaluateGate({ windows: [weekend] }, at('2026-10-26T06:59:59Z')).open, false);
});

test('a weekend deny window across the spring DST change starts 16:00 CET and ends 08:00 CEST', () => {
  const v = evaluateGate({ windows: [weekend] }, at('2026-03-28T10:00:00Z'));
  assert.equal(!v.open && v.nextOpensAt, '2026-03-30T06:00:00.000Z');
  const [occ] = windowOccurrences(weekend, Date.parse('2026-03-28T00:00:00Z'), Date.parse('2026-03-28T00:00:01Z'));
  assert.equal(new Date(occ!.start).toISOString(), '2026-03-27T15:00:00.000Z');
  assert.equal((occ!.end - occ!.start) / 3_600_000, 63);
});

test('local times in the spring gap move forward, repeated autumn times take their first instance', () => {
  assert.equal(new Date(instantOfWallClock(Date.UTC(2026, 2, 29, 2, 30), 'Europe/Berlin')).toISOString(), '2026-03-29T01:30:00.000Z');
  assert.equal(new Date(instantOfWallClock(Date.UTC(2026, 9, 25, 2, 30), 'Europe/Berlin')).toISOString(), '2026-10-25T00:30:00.000Z');
  assert.equal(new Date(instantOfWallClock(Date.UTC(2026, 6, 1, 12, 0), 'America/New_York')).toISOString(), '2026-07-01T16:00:00.000Z');
});

test('the answer does not depend on the host time zone (rrule itself would)', () => {
  const module = fileURLToPath(new URL('../../shared/domain/windows.js', import.meta.url));
  const script = `
    const w = await import(${JSON.stringify(module)});
    const rule = w.windowRuleSchema.parse({ kind: 'deny', rrule: 'FREQ=WEEKLY;BYDAY=FR', start: '2026-01-02T16:00', duration: '64h', timeZone: 'Europe/Berlin' });
    const out = ['2026-10-24T12:00:00Z', '2026-03-28T10:00:00Z', '2026-11-07T12:00:00Z'].map((t) => w.evaluateGate({ windows: [rule] }, new Date(t)));
    console.log(JSON.stringify(out));`;
  const run = (tz: string) => execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' }).trim();
  const utc = run('UTC');
  assert.equal(run('America/New_York'), utc);
  assert.equal(run('Asia/Kolkata'), utc);
  assert.match(utc, /2026-10-26T07:00:00.000Z/);
});

test('allow windows: outside them the environment opens at the next one, skipping a holiday deny window', () => {
  // Thursday 8 Oct 2026, 18:00 Berlin (16:00Z): office hours are over until Monday 09:00.
  const v = evaluateGate({ windows: [officeHours] }, at('2026-10-08T16:00:00Z'));
  assert.equal(!v.open && v.closedBy, 'outside-allow-windows');
  assert.equal(!v.open && v.nextOpensAt, '2026-10-12T07:00:00.000Z');
  const holiday = windowRuleSchema.parse({ kind: 'deny', name: 'holiday', start: '2026-10-12T00:00', duration: '1d', timeZone: 'Europe/Berlin' });
  const w = evaluateGate({ windows: [officeHours, holiday] }, at('2026-10-08T16:00:00Z'));
  assert.equal(!w.open && w.nextOpensAt, '2026-10-13T07:00:00.000Z');
  // Inside: open until 17:00 local.
  assert.deepEqual(evaluateGate({ windows: [officeHours] }, at('2026-10-08T08:00:00Z')), { open: true, closesAt: '2026-10-08T15:00:00.000Z' });
});

test('a freeze closes the environment with no opening time, but never holds back a rollback', () => {
  const gate: EnvironmentGate = { windows: [], freeze: { kind: 'rollback', by: { id: 'ops@example.com' }, at: '2026-10-01T10:00:00Z', reason: 'incident 42' } };
  const v = evaluateGate(gate, at('2026-10-01T11:00:00Z'));
  assert.equal(!v.open && v.closedBy, 'freeze');
  assert.equal(!v.open && v.nextOpensAt, undefined);
  assert.match(!v.open ? v.reason : '', /ops@example.com.*incident 42/);
  const promo = decideEntry(gate, at('2026-10-01T11:00:00Z'), 'promotion', { by: { id: 'boss@example.com' }, reason: 'urgent', at: '2026-10-01T11:00:00Z' });
  assert.equal(promo.enter, false, 'break-glass does not lift a freeze');
  assert.equal(decideEntry(gate, at('2026-10-01T11:00:00Z'), 'rollback').enter, true);
});

test('rollbacks in a deny window need break-glass or the policy flag; break-glass is carried into the decision', () => {
  const now = at('2026-10-24T12:00:00Z');
  const refused = decideEntry({ windows: [weekend] }, now, 'rollback');
  assert.equal(refused.enter, false);
  assert.equal(!refused.enter && refused.retryAt, '2026-10-26T07:00:00.000Z');
  assert.equal(decideEntry({ windows: [weekend], allowRollbackInDenyWindow: true }, now, 'rollback').enter, true);
  const glass = { by: { id: 'lead@example.com', name: 'Lead' }, reason: 'customer outage', at: now.toISOString() };
  const promo = decideEntry({ windows: [weekend] }, now, 'promotion', glass);
  assert.equal(promo.enter, true);
  assert.deepEqual(promo.enter && promo.breakGlass, glass);
  assert.match(promo.enter ? promo.note ?? '' : '', /break-glass of lead@example.com: customer outage/);
});

test('break-glass is for the environment approvers (users or groups) with a reason', () => {
  const approvers = ['lead@example.com', 'group:release-managers'];
  assert.equal(breakGlassRefusal(approvers, { id: 'LEAD@example.com', groups: [] }, 'outage'), undefined);
  assert.equal(breakGlassRefusal(approvers, { id: 'x@example.com', groups: ['Release-Managers'] }, 'outage'), undefined);
  assert.match(breakGlassRefusal(approvers, { id: 'x@example.com', groups: ['devs'] }, 'outage') ?? '', /not an approver/);
  assert.match(breakGlassRefusal(approvers, { id: 'lead@example.com', groups: [] }, '  ') ?? '', /needs a reason/);
  assert.match(breakGlassRefusal([], { id: 'lead@example.com', groups: [] }, 'x') ?? '', /names no approvers/);
});

test('window rules are validated: zone, rrule, frequency, start, duration', () => {
  const base = { kind: 'deny', start: '2026-01-02T16:00', duration: '1h', timeZone: 'Europe/Berlin' };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, timeZone: 'Mars/Olympus' }, /unknown time zone/],
    [{ ...base, rrule: 'FREQ=SOMETIMES' }, /not an iCalendar recurrence rule|FREQ/],
    [{ ...base, rrule: 'FREQ=MINUTELY' }, /HOURLY or coarser/],
    [{ ...base, rrule: 'DTSTART:20260101T000000Z;FREQ=DAILY' }, /RRULE value only/],
    [{ ...base, start: '2026-02-30T10:00' }, /local time/],
    [{ ...base, duration: '0m' }, /duration/],
    [{ ...base, duration: '5 hours' }, /duration/],
  ];
  for (const [input, message] of cases) {
    const r = windowRuleSchema.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    assert.match(r.error!.issues.map((i) => i.message).join('; '), message, JSON.stringify(input));
  }
  assert.equal(windowRuleSchema.safeParse({ ...base, rrule: 'FREQ=DAILY;BYHOUR=22;COUNT=3' }).success, true);
});
