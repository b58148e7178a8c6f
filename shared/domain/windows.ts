/**
 * When an environment may change: deploy windows (allow and deny, as iCalendar recurrence
 * rules in an IANA time zone) and manual freezes, as one model. Pure functions of the rules and
 * an instant, so the same answer comes out wherever and whenever it is computed.
 *
 * Time zones. `rrule`'s own `tzid` support computes through the host's local time zone: with
 * `TZ=America/New_York` a rule for "Friday 16:00 Europe/Berlin" comes back at 10:00Z instead
 * of 14:00Z, and around the US DST change an hour off again (checked with rrule 2.8.1, see
 * test/unit/domain-windows.test.ts). So rrule is used only for the calendar arithmetic, on
 * "floating" wall-clock times (UTC fields standing for the zone's local fields, which rrule
 * handles independently of the host zone), and each local start and end is turned into an
 * instant here with `Intl` in the rule's zone:
 * - a window's duration is wall-clock time: "Friday 16:00 for 64h" ends Monday 08:00 local even
 *   when a DST change falls on the weekend (the window is then 63 or 65 real hours long);
 * - a local time that does not exist (skipped by a spring-forward change) moves forward by the
 *   gap (02:30 becomes 03:30); a local time that exists twice (fall-back) is its first instance.
 *
 * Rules of the model (documented in docs/pipeline.md, "Deploy windows and freezes"):
 * - an environment is open at an instant when no freeze is set, no deny window covers it, and,
 *   if any allow window is declared, an allow window covers it;
 * - a freeze (set by hand, or by a requested rollback) stays until someone unfreezes it; it has
 *   no "next opening";
 * - a promotion (or heal) reaching a closed environment waits until it opens; a break-glass
 *   override by someone the policy names (`breakGlass`: users or `group:<name>`) lets it
 *   through a window (never a freeze), and is recorded with who and why;
 * - a rollback ignores freezes (it is what sets them) but not windows: it passes a closed
 *   window only by break-glass or when the policy says `allowRollbackInDenyWindow`.
 */
import rrulePackage from 'rrule';
import { z } from 'zod';
import type { Actor } from './actor.js';

const { RRule } = rrulePackage;

/** A recurring (or one-off) window in which deployments are allowed, or denied. */
export interface WindowRule {
  kind: 'allow' | 'deny';
  /** Shown in statuses ("closed by deny window 'weekend'"). */
  name?: string;
  /**
   * The iCalendar RRULE value (`FREQ=WEEKLY;BYDAY=FR`) without DTSTART/TZID; absent for a
   * single window (a holiday freeze). Frequencies finer than hourly are refused.
   */
  rrule?: string;
  /** Local wall-clock start of the first occurrence in `timeZone`, `YYYY-MM-DDTHH:MM[:SS]` (the DTSTART). */
  start: string;
  /** Wall-clock length of each occurrence in milliseconds. */
  durationMs: number;
  /** IANA time zone, e.g. `Europe/Berlin`. */
  timeZone: string;
}

/** A manual freeze: nothing but rollbacks enters until someone unfreezes. */
export interface Freeze {
  /** `rollback`: set by a requested rollback; `manual`: set through the freeze API. */
  kind: 'manual' | 'rollback';
  /** Who froze it (`system` for an automatic rollback). */
  by: Actor;
  at: string;
  reason: string;
}

/** Everything that decides whether an environment may change. */
export interface EnvironmentGate {
  windows: readonly WindowRule[];
  freeze?: Freeze;
  /** Rollbacks may enter closed windows without break-glass. */
  allowRollbackInDenyWindow?: boolean;
}

/** Whether the environment is open at an instant, and if not why and until when. */
export type GateVerdict =
  | { open: true; /** When it next closes by a window, if within the search horizon. */ closesAt?: string }
  | {
      open: false;
      closedBy: 'freeze' | 'deny-window' | 'outside-allow-windows';
      reason: string;
      /** When it next opens by its windows; absent while frozen or when no opening is within a year. */
      nextOpensAt?: string;
    };

/** How far ahead openings and closings are searched. */
export const WINDOW_HORIZON_MS = 366 * 24 * 3_600_000;

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/;

/** Parses `2d`, `64h`, `1d12h`, `30m` into milliseconds (undefined when malformed or zero). */
export function parseWindowDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim() === '') return undefined;
  const ms = (Number(m[1] ?? 0) * 24 * 60 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 60_000;
  return ms > 0 ? ms : undefined;
}

/** True when `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's wall clock at `instant`, as a floating time (UTC fields = local fields), in ms. */
export function wallClockAt(instantMs: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(instantMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const seconds = Math.floor(instantMs / 1000) * 1000;
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall + (instantMs - seconds);
}

/**
 * The instant at which the zone's wall clock shows `wallMs` (a floating time). Skipped local
 * times move forward by the gap; repeated ones resolve to their first instance.
 */
export function instantOfWallClock(wallMs: number, zone: string): number {
  // Offsets around the wall time: at most two distinct ones near a transition.
  const before = wallClockAt(wallMs - 86_400_000, zone) - (wallMs - 86_400_000);
  const after = wallClockAt(wallMs + 86_400_000, zone) - (wallMs + 86_400_000);
  const candidates = [...new Set([before, after])]
    .map((offset) => wallMs - offset)
    .filter((t) => wallClockAt(t, zone) === wallMs)
    .sort((a, b) => a - b);
  if (candidates.length > 0) return candidates[0]!;
  // In a gap: the offset before the change applied to the wall time lands after the gap.
  return wallMs - Math.min(before, after);
}

function floatingStart(text: string): number | undefined {
  const m = LOCAL_TIME.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(t);
  // Rejects 2026-02-30 and 25:00, which Date.UTC would silently roll over.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi) return undefined;
  return t;
}

function buildRule(rule: Pick<WindowRule, 'rrule' | 'start'>): InstanceType<typeof RRule> | undefined {
  const dtstart = floatingStart(rule.start);
  if (dtstart === undefined) throw new Error(`start ${JSON.stringify(rule.start)} is not a local time YYYY-MM-DDTHH:MM[:SS]`);
  if (rule.rrule === undefined) return undefined;
  const options = RRule.parseString(rule.rrule);
  // Floating: no tzid, dtstart's UTC fields are the local wall time (see the module comment).
  return new RRule({ ...options, dtstart: new Date(dtstart), tzid: null });
}

/** Problems with a rule's recurrence, zone or start, or undefined when it is usable. */
export function windowRuleProblem(rule: WindowRule): string | undefined {
  if (!isTimeZone(rule.timeZone)) return `unknown time zone ${JSON.stringify(rule.timeZone)} (use an IANA name such as Europe/Berlin)`;
  if (floatingStart(rule.start) === undefined) return `start ${JSON.stringify(rule.start)} is not a local time YYYY-MM-DDTHH:MM[:SS]`;
  if (!(rule.durationMs > 0)) return 'duration must be positive';
  if (rule.rrule !== undefined) {
    if (/(^|;)\s*(DTSTART|TZID)\b/i.test(rule.rrule) || /\n/.test(rule.rrule)) return 'rrule must be the RRULE value only (FREQ=...); give the start and time zone separately';
    let options;
    try {
      options = RRule.parseString(rule.rrule);
    } catch (err) {
      return `rrule ${JSON.stringify(rule.rrule)} is not an iCalendar recurrence rule: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (options.freq === undefined) return 'rrule needs FREQ';
    if (options.freq === RRule.SECONDLY || options.freq === RRule.MINUTELY) return 'rrule FREQ must be HOURLY or coarser';
  }
  return undefined;
}

/** A concrete occurrence of a window, as instants (ms). */
export interface WindowInterval {
  rule: WindowRule;
  start: number;
  end: number;
}

/** The occurrences of `rule` that overlap [fromMs, toMs). */
export function windowOccurrences(rule: WindowRule, fromMs: number, toMs: number): WindowInterval[] {
  const rr = buildRule(rule);
  const first = floatingStart(rule.start)!;
  // Search in floating time with a margin for the zone offset (< 1 day) and the duration.
  const lo = wallClockAt(fromMs, rule.timeZone) - rule.durationMs - 86_400_000;
  const hi = wallClockAt(toMs, rule.timeZone) + 86_400_000;
  const starts = rr ? rr.between(new Date(Math.max(lo, first - 1)), new Date(hi), true).map((d) => d.getTime()) : first >= lo && first <= hi ? [first] : [];
  const out: WindowInterval[] = [];
  for (const wall of starts) {
    const start = instantOfWallClock(wall, rule.timeZone);
    const end = instantOfWallClock(wall + rule.durationMs, rule.timeZone);
    if (end > fromMs && start < toMs && end > start) out.push({ rule, start, end });
  }
  return out;
}

function label(rule: WindowRule): string {
  return rule.name ? `${rule.kind} window '${rule.name}'` : `${rule.kind} window ${rule.rrule ?? 'once'} from ${rule.start} ${rule.timeZone}`;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Why the windows keep the environment closed at `t`, and the earliest instant that reason might end. */
function closedAt(windows: readonly WindowRule[], t: number, horizon: number): { closedBy: 'deny-window' | 'outside-allow-windows'; reason: string; until?: number } | undefined {
  const deny = windows.filter((w) => w.kind === 'deny').flatMap((w) => windowOccurrences(w, t, t + 1)).filter((i) => i.start <= t && t < i.end);
  if (deny.length > 0) {
    const last = deny.reduce((a, b) => (b.end > a.end ? b : a));
    return { closedBy: 'deny-window', reason: `closed by ${label(last.rule)} until ${iso(last.end)}`, until: last.end };
  }
  const allows = windows.filter((w) => w.kind === 'allow');
  if (allows.length === 0) return undefined;
  if (allows.some((w) => windowOccurrences(w, t, t + 1).some((i) => i.start <= t && t < i.end))) return undefined;
  const next = allows.flatMap((w) => windowOccurrences(w, t, horizon)).filter((i) => i.start > t).sort((a, b) => a.start - b.start)[0];
  return {
    closedBy: 'outside-allow-windows',
    reason: next ? `outside the allow windows; next: ${label(next.rule)} at ${iso(next.start)}` : 'outside the allow windows, and none opens within a year',
    ...(next ? { until: next.start } : {}),
  };
}

/** Whether `gate` lets an environment change at `now`, and when it next opens if not. */
export function evaluateGate(gate: EnvironmentGate, now: Date): GateVerdict {
  const t0 = now.getTime();
  const horizon = t0 + WINDOW_HORIZON_MS;
  if (gate.freeze) {
    const f = gate.freeze;
    return { open: false, closedBy: 'freeze', reason: `frozen by ${f.by.id} at ${f.at}${f.kind === 'rollback' ? ' (rollback)' : ''}: ${f.reason}` };
  }
  const first = closedAt(gate.windows, t0, horizon);
  if (!first) return { open: true, ...closesAtOf(gate.windows, t0, horizon) };
  // Walk forward: the end of a deny window may fall outside every allow window, and so on.
  let t = first.until;
  for (let step = 0; t !== undefined && t < horizon && step < 1000; step++) {
    const closed = closedAt(gate.windows, t, horizon);
    if (!closed) return { open: false, closedBy: first.closedBy, reason: first.reason, nextOpensAt: iso(t) };
    if (closed.until === undefined || closed.until <= t) break;
    t = closed.until;
  }
  return { open: false, closedBy: first.closedBy, reason: first.reason };
}

function closesAtOf(windows: readonly WindowRule[], t: number, horizon: number): { closesAt?: string } {
  const denyStart = windows
    .filter((w) => w.kind === 'deny')
    .flatMap((w) => windowOccurrences(w, t, horizon))
    .filter((i) => i.start > t)
    .reduce<number | undefined>((a, i) => (a === undefined || i.start < a ? i.start : a), undefined);
  const allowEnd = windows
    .filter((w) => w.kind === 'allow')
    .flatMap((w) => windowOccurrences(w, t, t + 1))
    .filter((i) => i.start <= t && t < i.end)
    .reduce<number | undefined>((a, i) => (a === undefined || i.end > a ? i.end : a), undefined);
  // With several overlapping allow windows the latest end is when the last one closes, unless another continues it.
  let end = allowEnd;
  for (let step = 0; end !== undefined && step < 100; step++) {
    const continued = windows
      .filter((w) => w.kind === 'allow')
      .flatMap((w) => windowOccurrences(w, end!, end! + 1))
      .filter((i) => i.start <= end! && end! < i.end)
      .reduce<number | undefined>((a, i) => (a === undefined || i.end > a ? i.end : a), undefined);
    if (continued === undefined || continued <= end) break;
    end = continued;
  }
  const candidates = [denyStart, end].filter((x): x is number => x !== undefined && x < horizon);
  return candidates.length > 0 ? { closesAt: iso(Math.min(...candidates)) } : {};
}

/** What wants to enter the environment. */
export type EntryKind = 'promotion' | 'heal' | 'rollback';

/** A recorded override of closed windows. */
export interface BreakGlass {
  /** Who broke the glass. */
  by: Actor;
  reason: string;
  at: string;
}

/** Decision for one party at one instant. */
export type EntryDecision =
  | { enter: true; verdict: GateVerdict; breakGlass?: BreakGlass; note?: string }
  | { enter: false; verdict: Extract<GateVerdict, { open: false }>; reason: string; /** Wait until then and ask again (absent: until something changes, e.g. an unfreeze). */ retryAt?: string };

/**
 * May `kind` enter the environment now? `breakGlass` is an override already checked to come
 * from one of the environment's approvers (see {@link breakGlassRefusal}).
 */
export function decideEntry(gate: EnvironmentGate, now: Date, kind: EntryKind, breakGlass?: BreakGlass): EntryDecision {
  // A rollback looks only at the windows: a freeze never holds it back.
  const verdict = evaluateGate(kind === 'rollback' ? { ...gate, freeze: undefined } : gate, now);
  if (verdict.open) return { enter: true, verdict };
  if (verdict.closedBy === 'freeze') {
    return { enter: false, verdict, reason: `${verdict.reason}; waits until the environment is unfrozen` };
  }
  if (kind === 'rollback' && gate.allowRollbackInDenyWindow) return { enter: true, verdict, note: `${verdict.reason}; rollbacks are allowed in closed windows by policy` };
  if (breakGlass) return { enter: true, verdict, breakGlass, note: `${verdict.reason}; entered by break-glass of ${breakGlass.by.id}: ${breakGlass.reason}` };
  return {
    enter: false,
    verdict,
    reason: verdict.nextOpensAt ? `${verdict.reason}; waits until ${verdict.nextOpensAt}` : verdict.reason,
    ...(verdict.nextOpensAt ? { retryAt: verdict.nextOpensAt } : {}),
  };
}

/**
 * Why `who` may not break the glass, or undefined when they may: they must be one of the
 * environment's approvers (a user id, or a member of a listed `group:<name>`) and give a reason.
 */
export function breakGlassRefusal(approvers: readonly string[], who: { id: string; groups: readonly string[] }, reason: string): string | undefined {
  if (reason.trim().length === 0) return 'a break-glass override needs a reason';
  if (approvers.length === 0) return 'this environment names no approvers, so nobody may break the glass';
  const id = who.id.toLowerCase();
  const listed = approvers.some((a) =>
    a.startsWith('group:') ? who.groups.some((g) => g.toLowerCase() === a.slice('group:'.length).toLowerCase()) : a.toLowerCase() === id,
  );
  return listed ? undefined : `${who.id} is not an approver of this environment (approvers: ${approvers.join(', ')})`;
}

/** A window as written in a registration's deploy-window policy (`duration: 64h`): the stored form. */
export interface WindowSpec {
  kind: 'allow' | 'deny';
  name?: string;
  rrule?: string;
  start: string;
  duration: string;
  timeZone: string;
}

/** The rule a written window stands for. */
export function toWindowRule(v: WindowSpec): WindowRule {
  return {
    kind: v.kind,
    ...(v.name !== undefined ? { name: v.name } : {}),
    ...(v.rrule !== undefined ? { rrule: v.rrule } : {}),
    start: v.start,
    durationMs: parseWindowDuration(v.duration) ?? 0,
    timeZone: v.timeZone,
  };
}

/** Schema of a written window, validated (zone, recurrence, start, duration) but kept as written. */
export const windowSpecSchema = z
  .strictObject({
    kind: z.enum(['allow', 'deny']),
    name: z.string().min(1).max(100).optional(),
    rrule: z.string().min(1).max(500).optional(),
    start: z.string().regex(LOCAL_TIME, 'must be a local time YYYY-MM-DDTHH:MM[:SS]'),
    duration: z.string().max(20).refine((d) => parseWindowDuration(d) !== undefined, 'must be a duration such as 30m, 8h, 2d or 2d16h'),
    timeZone: z.string().min(1).max(100),
  })
  .superRefine((v, ctx) => {
    if (parseWindowDuration(v.duration) === undefined) return;
    const problem = windowRuleProblem(toWindowRule(v));
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }) satisfies z.ZodType<WindowSpec>;

/** Schema of a written window that yields the {@link WindowRule}. */
export const windowRuleSchema = windowSpecSchema.transform(toWindowRule);

/** One environment's deploy-window policy in an app registration (platform-owned: a commit cannot widen it). */
export interface DeployWindowPolicy {
  windows: WindowSpec[];
  /** Rollbacks may enter closed windows without break-glass. */
  allowRollbackInDenyWindow: boolean;
  /** Who may break the glass (users or `group:<name>`); nobody when empty. */
  breakGlass: string[];
}

/** Schema of {@link DeployWindowPolicy}. */
export const deployWindowPolicySchema = z.strictObject({
  windows: z.array(windowSpecSchema).max(50).default([]),
  allowRollbackInDenyWindow: z.boolean().default(false),
  breakGlass: z.array(z.string().min(1).max(320)).max(50).default([]),
});

/** The gate of an environment from its policy and freeze. */
export function gateOf(policy: DeployWindowPolicy | undefined, freeze: Freeze | undefined): EnvironmentGate {
  return {
    windows: (policy?.windows ?? []).map(toWindowRule),
    ...(freeze ? { freeze } : {}),
    ...(policy?.allowRollbackInDenyWindow ? { allowRollbackInDenyWindow: true } : {}),
  };
}
