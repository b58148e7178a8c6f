/** Output for people: aligned tables, ages, and colour only where a terminal shows it. */

/** Colour functions (identity when colour is off). */
export interface Palette {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;

/** A palette: ANSI colours when `on`, plain text otherwise. */
export function palette(on: boolean): Palette {
  if (!on) {
    const id = (s: string) => s;
    return { green: id, red: id, yellow: id, cyan: id, dim: id, bold: id };
  }
  return { green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), cyan: wrap(36, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const visible = (s: string) => s.replace(ANSI, '').length;

/** An aligned table with a header row; cells may carry colour. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c))))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A short age: `42s`, `5m`, `3h`, `2d` (from `iso` to `now`). */
export function age(iso: string | undefined, now: number): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (Number.isNaN(s)) return '';
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** A duration in seconds as `45s`, `12m`, `3.5h`, `2.0d`; `-` for none. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86_400) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86_400).toFixed(1)}d`;
}

/** A rate as a percentage; `-` for none. */
export function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '-' : `${(rate * 100).toFixed(rate < 0.1 && rate > 0 ? 1 : 0)}%`;
}

/** A status word coloured by meaning. */
export function statusWord(status: string | undefined, p: Palette): string {
  if (!status) return '';
  if (status === 'Succeeded') return p.green(status);
  if (status === 'Failed' || status === 'Errored') return p.red(status);
  if (status === 'Running' || status === 'Pending') return p.yellow(status);
  return p.dim(status);
}

/** Strips control characters from untrusted text (commit messages, authors) before it reaches a terminal. */
export function clean(text: string | undefined, max = 60): string {
  if (!text) return '';
  // eslint-disable-next-line no-control-regex
  const one = text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
