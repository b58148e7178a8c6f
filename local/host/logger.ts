/**
 * The host's one structured console logger. Every line carries a timestamp and a level; lines
 * written on behalf of a function invocation also carry the function name and invocation id,
 * so interleaved output of concurrent invocations stays attributable.
 */
import { format } from 'node:util';
import type { HostLogger } from './extension.js';

/** Levels in increasing severity; `none` silences everything. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'none';

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, none: 5 };
const LABEL: Record<Exclude<LogLevel, 'none'>, string> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO ',
  warn: 'WARN ',
  error: 'ERROR',
};

/**
 * Accepts both the host.json vocabulary (`Trace`, `Information`, `Warning`, `Critical`, `None`)
 * and the short names, case-insensitively. Unknown values give `undefined`.
 */
export function parseLogLevel(value: unknown): LogLevel | undefined {
  if (typeof value !== 'string') return undefined;
  switch (value.trim().toLowerCase()) {
    case 'trace':
    case 'verbose':
      return 'trace';
    case 'debug':
      return 'debug';
    case 'information':
    case 'info':
      return 'info';
    case 'warning':
    case 'warn':
      return 'warn';
    case 'error':
    case 'critical':
      return 'error';
    case 'none':
    case 'off':
      return 'none';
    default:
      return undefined;
  }
}

/** Maps the @azure/functions log level names (`information`, `warning`, `critical`, ...) to ours. */
export function fromFunctionsLevel(level: string): LogLevel {
  switch (level) {
    case 'information':
      return 'info';
    case 'warning':
      return 'warn';
    case 'critical':
      return 'error';
    case 'trace':
    case 'debug':
    case 'error':
    case 'none':
      return level;
    default:
      return 'info';
  }
}

export interface LogRecord {
  time: Date;
  level: Exclude<LogLevel, 'none'>;
  message: string;
  fields: Record<string, unknown>;
}

export interface ConsoleLoggerOptions {
  /** Minimum level written (default `info`). */
  level?: LogLevel;
  /** `text` (default) is for people; `json` writes one JSON object per line. */
  format?: 'text' | 'json';
  /** Where lines go; defaults to stdout (trace..info) and stderr (warn, error). */
  write?: (line: string, level: Exclude<LogLevel, 'none'>) => void;
  /** Extra observer of every record that passes the level filter (tests, log capture). */
  onRecord?: (record: LogRecord) => void;
}

function renderValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.stack ?? v.message);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function defaultWrite(line: string, level: Exclude<LogLevel, 'none'>): void {
  if (level === 'warn' || level === 'error') process.stderr.write(line + '\n');
  else process.stdout.write(line + '\n');
}

/**
 * Console logger implementing the host/extension `HostLogger` contract. `child(fields)` binds
 * fields (e.g. `functionName`, `invocationId`) once instead of on every call.
 */
export class ConsoleLogger implements HostLogger {
  readonly #min: number;
  readonly #format: 'text' | 'json';
  readonly #write: (line: string, level: Exclude<LogLevel, 'none'>) => void;
  readonly #onRecord?: (record: LogRecord) => void;
  readonly #bound: Record<string, unknown>;

  constructor(options: ConsoleLoggerOptions = {}, bound: Record<string, unknown> = {}) {
    this.#min = RANK[options.level ?? 'info'];
    this.#format = options.format ?? 'text';
    this.#write = options.write ?? defaultWrite;
    this.#onRecord = options.onRecord;
    this.#bound = bound;
  }

  /** A logger writing to the same sink with `fields` attached to every line. */
  child(fields: Record<string, unknown>, level?: LogLevel): ConsoleLogger {
    return new ConsoleLogger(
      { level: level ?? this.level, format: this.#format, write: this.#write, onRecord: this.#onRecord },
      { ...this.#bound, ...fields },
    );
  }

  get level(): LogLevel {
    return (Object.keys(RANK) as LogLevel[]).find((k) => RANK[k] === this.#min) ?? 'info';
  }

  enabled(level: LogLevel): boolean {
    return level !== 'none' && RANK[level] >= this.#min;
  }

  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (level === 'none' || RANK[level] < this.#min) return;
    const all = fields ? { ...this.#bound, ...fields } : this.#bound;
    const time = new Date();
    this.#onRecord?.({ time, level, message, fields: all });
    let line: string;
    if (this.#format === 'json') {
      line = JSON.stringify({ time: time.toISOString(), level, message, ...all }, (_k, v: unknown) =>
        v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v,
      );
    } else {
      const { functionName, invocationId, category, ...rest } = all;
      const who = functionName
        ? ` [${String(functionName)}${invocationId ? ` ${String(invocationId)}` : ''}]`
        : category
          ? ` [${String(category)}]`
          : '';
      let tail = '';
      for (const [k, v] of Object.entries(rest)) if (v !== undefined) tail += ` ${k}=${renderValue(v)}`;
      line = `${time.toISOString()} ${LABEL[level]}${who} ${message}${tail}`;
    }
    this.#write(line, level);
  }

  trace(message: string, fields?: Record<string, unknown>): void {
    this.log('trace', message, fields);
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.log('debug', message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log('info', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log('warn', message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log('error', message, fields);
  }
}

/**
 * Picks the level for a category from host.json `logging.logLevel`, most specific key first
 * (`Function.<name>.User`, `Function.<name>`, `Function`, `default`), like the real host.
 */
export function levelFor(logLevels: Record<string, unknown> | undefined, category: string, fallback: LogLevel): LogLevel {
  if (!logLevels) return fallback;
  const parts = category.split('.');
  const lower = new Map(Object.entries(logLevels).map(([k, v]) => [k.toLowerCase(), v]));
  for (let i = parts.length; i > 0; i--) {
    const hit = parseLogLevel(lower.get(parts.slice(0, i).join('.').toLowerCase()));
    if (hit) return hit;
  }
  return fallback;
}

/** util.format for the variadic arguments of `context.log(...)`. */
export function formatArgs(args: unknown[]): string {
  return args.length === 1 && typeof args[0] === 'string' ? args[0] : format(...args);
}
