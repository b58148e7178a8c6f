// Shared bench helpers: one row format, percentile maths, and the table printer.

/** One line of the `npm run bench` table. */
export interface BenchRow {
  /** Which bench (e.g. "http", "durable"). */
  group: string;
  /** What was measured, e.g. "local host: requests/s". */
  metric: string;
  /** The measured figure, already rounded for display. */
  value: string;
  /** The same work done the bare way, when there is one. */
  baseline?: string;
  /** Ratio or comparison, e.g. "83% of bare". */
  ratio?: string;
  /** The goal, e.g. ">= 70%". */
  goal?: string;
  /** "yes" / "no" / "" */
  met?: string;
}

/** A bench module exports `run()` returning its rows. */
export interface BenchModule {
  run(): Promise<BenchRow[]>;
}

/** p-th percentile (0..100) of a list of numbers (nearest-rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Formats a number with a fixed number of decimals. */
export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

/** Prints rows as an aligned text table. */
export function printTable(rows: readonly BenchRow[]): void {
  const cols: (keyof BenchRow)[] = ['group', 'metric', 'value', 'baseline', 'ratio', 'goal', 'met'];
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(line(cols as string[]));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c] ?? ''))));
}

/** Deterministic PRNG (mulberry32), so every run generates the same data (shared with the tests). */
export { rng } from '../test/support/seeded-random.js';
