/**
 * Metrics windows: `30d`, `12h`, `8w`. Parsed once at the HTTP boundary; the computation gets
 * plain instants.
 */
import { ValidationError } from '../errors.js';

/** A half-open interval of time `[from, to)`, in epoch milliseconds. */
export interface TimeWindow {
  /** The text it was parsed from, e.g. `30d`. */
  text: string;
  from: number;
  to: number;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
/** The longest window accepted: a year and a day. */
export const MAX_WINDOW_MS = 366 * 86_400_000;
/** The window used when none is given. */
export const DEFAULT_WINDOW = '30d';

/**
 * Parses a window such as `30d` (hours `h`, days `d`, weeks `w`; 1 hour to 366 days) ending at
 * `now`. Anything else -> ValidationError naming the field `window`.
 */
export function parseWindow(text: string, now: number): TimeWindow {
  const m = /^([1-9][0-9]{0,3})([hdw])$/.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!m || !(ms <= MAX_WINDOW_MS)) {
    throw new ValidationError(`invalid window ${JSON.stringify(text.slice(0, 40))}`, [
      { path: 'window', message: 'a whole number of hours, days or weeks (e.g. 12h, 30d, 8w), from 1h up to 366d' },
    ]);
  }
  return { text, from: now - ms, to: now };
}
