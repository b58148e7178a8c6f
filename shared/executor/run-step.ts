/**
 * Runs one pipeline step (`bash -c <command>`) in a workspace.
 *
 * Safety rules (docs/architecture.md principle 8):
 * - the command string comes only from the pipeline file; values from webhooks (branch, commit
 *   message, author) reach the step only as `CONVEYOR_*` environment variables;
 * - the step gets a minimal environment, not the orchestrator's (which holds connection strings);
 * - the step runs in its own process group, so a timeout (or the step ending) kills every
 *   process it started, grandchildren included;
 * - output is redacted of registered secrets before it reaches any sink.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { ExternalFailureError } from '../errors.js';
import { SecretRegistry, StreamingRedactor } from '../secrets/redactor.js';
import type { LogSink } from './log-sink.js';
import { hostEnvironment } from '../config/settings.js';

/** Values exposed to the step as `CONVEYOR_<NAME>` variables. Untrusted values belong here. */
export interface ConveyorVars {
  app: string;
  commit: string;
  branch?: string;
  environment?: string;
  /** Further values, e.g. `{ runId, commitMessage, author }` -> `CONVEYOR_RUN_ID`, ... */
  [name: string]: string | undefined;
}

/** What to run. */
export interface StepOptions {
  /** Shell text from the pipeline file; run with `bash -c`. */
  command: string;
  /** Working directory (the workspace). */
  cwd: string;
  /** Literal variables from the pipeline file. */
  env?: Record<string, string>;
  /** Kill the whole process group after this long. */
  timeoutMs: number;
  /** Becomes `CONVEYOR_*` variables. */
  conveyorVars: ConveyorVars;
  /** Receives redacted output while the step runs. */
  log: LogSink;
  /** Values to mask in the output. */
  secrets?: SecretRegistry | Iterable<string>;
  /** Aborting kills the step like a timeout (but `timedOut` stays false). */
  signal?: AbortSignal;
  /** Time between SIGTERM and SIGKILL of the process group. Default 2000 ms. */
  killGraceMs?: number;
  /** Lines kept for `outputTail`. Default 50. */
  tailLines?: number;
  /** Base environment the minimal one is taken from (tests); default `process.env`. */
  baseEnv?: NodeJS.ProcessEnv;
  /**
   * Runs the step through a wrapper (a sandbox) instead of a watched `bash` on this machine.
   * The wrapper must end every process of the step when it is killed or when Conveyor dies
   * (bubblewrap: `--die-with-parent` and a PID namespace), so no lifeline is passed to it.
   */
  launch?: StepLaunch;
}

/** How a wrapped step is started: `file args...`, with the environment the step should see. */
export interface StepLaunch {
  file: string;
  args: string[];
  /** The step's environment (replaces {@link stepEnvironment}'s result). */
  env: Record<string, string>;
  /** Data written to descriptors 3, 4, ... of the wrapper (pipes, closed after writing): secret files. */
  inputs?: readonly string[];
}

/** How a step ended. */
export interface StepResult {
  /** Exit code of bash, or null when it was killed by a signal. */
  exitCode: number | null;
  /** Signal that ended bash, if any. */
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** True when the step was killed for exceeding `timeoutMs`. */
  timedOut: boolean;
  /** The last lines of (redacted) output, for failure reports. */
  outputTail: string;
}

/** `commitMessage` -> `CONVEYOR_COMMIT_MESSAGE`. */
export function conveyorVarName(key: string): string {
  return `CONVEYOR_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}`;
}

/** The minimal environment a step sees: PATH, HOME, LANG, TMPDIR, CONVEYOR_* and the step's own variables. */
export function stepEnvironment(options: Pick<StepOptions, 'env' | 'conveyorVars' | 'baseEnv'>): Record<string, string> {
  const base = options.baseEnv ?? hostEnvironment();
  const env: Record<string, string> = {
    PATH: base.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: base.HOME ?? tmpdir(),
    LANG: base.LANG ?? 'C.UTF-8',
    TMPDIR: base.TMPDIR ?? tmpdir(),
  };
  for (const [k, v] of Object.entries(options.env ?? {})) env[k] = v;
  // CONVEYOR_* last: the pipeline file cannot override them (the schema also forbids it).
  for (const [k, v] of Object.entries(options.conveyorVars)) {
    if (v !== undefined) env[conveyorVarName(k)] = v;
  }
  return env;
}

/** Keeps the last N lines of a text stream without storing all of it. */
class Tail {
  private lines: string[] = [''];
  constructor(private readonly max: number) {}
  push(text: string): void {
    const parts = text.split('\n');
    this.lines[this.lines.length - 1] += parts[0];
    for (let i = 1; i < parts.length; i++) this.lines.push(parts[i]!);
    // Keep a little slack so trimming happens in batches.
    if (this.lines.length > this.max * 2) this.lines = this.lines.slice(-this.max - 1);
  }
  text(): string {
    const lines = this.lines[this.lines.length - 1] === '' ? this.lines.slice(0, -1) : this.lines;
    return lines.slice(-this.max).map((l) => (l.length > 2000 ? `${l.slice(0, 2000)}…` : l)).join('\n');
  }
}

/**
 * How a step runs: a watcher in the step's process group reads fd 3, whose other end only
 * Conveyor holds; if Conveyor dies (even kill -9) the read ends and the watcher kills the whole
 * group, so a step never outlives the process that would record its result (the restarted host
 * runs it again, and two copies must not share a workspace). Then `exec` replaces this shell by
 * the step's own `bash -c` (same pid and group, fd 3 closed), so exit codes and signals are the
 * command's own. The command arrives as `$1`, never spliced into the script.
 */
const WATCHED_STEP = '{ while read -r -u 3 _; do :; done; kill -KILL 0; } </dev/null >/dev/null 2>&1 & exec bash -c "$1" 3<&-';

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Runs a step and resolves when it has ended and its output is flushed to the sink. A failing
 * command is not an error (see `exitCode`); only failing to start bash at all throws.
 */
export async function runStep(options: StepOptions): Promise<StepResult> {
  const registry = options.secrets instanceof SecretRegistry ? options.secrets : new SecretRegistry(options.secrets ?? []);
  const grace = options.killGraceMs ?? 2000;
  const tail = new Tail(options.tailLines ?? 50);
  if (!existsSync(options.cwd)) throw new ExternalFailureError(`workspace folder ${options.cwd} does not exist`);
  const started = performance.now();

  const launch = options.launch;
  const child = launch
    ? spawn(launch.file, launch.args, { cwd: options.cwd, env: launch.env, detached: true, stdio: ['ignore', 'pipe', 'pipe', ...(launch.inputs ?? []).map(() => 'pipe' as const)] })
    : spawn('bash', ['-c', WATCHED_STEP, 'conveyor-step', options.command], {
        cwd: options.cwd,
        env: stepEnvironment(options),
        // Own process group: `kill(-pid)` reaches everything the step starts.
        detached: true,
        // fd 3: the lifeline (see WATCHED_STEP); this process holds its other end.
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      });
  const lifeline = launch ? null : (child.stdio[3] as import('node:net').Socket | null);
  lifeline?.on('error', () => {});
  (launch?.inputs ?? []).forEach((data, i) => {
    const pipe = child.stdio[3 + i] as import('node:net').Socket | null;
    pipe?.on('error', () => {});
    pipe?.end(data);
  });

  const emit = (text: string) => {
    if (!text) return;
    tail.push(text);
    options.log.write(text);
  };
  // One decoder + redactor per stream: interleaving would otherwise split characters and secrets.
  const streams = [child.stdout!, child.stderr!].map((stream) => {
    const decoder = new StringDecoder('utf8');
    const redactor = new StreamingRedactor(registry);
    stream.on('data', (chunk: Buffer) => emit(redactor.push(decoder.write(chunk))));
    return new Promise<void>((resolve) => {
      stream.on('close', () => {
        emit(redactor.push(decoder.end()) + redactor.end());
        resolve();
      });
    });
  });

  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const terminate = () => {
    if (child.pid === undefined || killTimer) return;
    killGroup(child.pid, 'SIGTERM');
    killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), grace);
  };
  const timeout = setTimeout(() => {
    timedOut = true;
    terminate();
  }, options.timeoutMs);
  const onAbort = () => terminate();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) terminate();

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (err) => reject(new ExternalFailureError(`could not start ${launch ? launch.file : 'bash'}: ${err.message}`, { cause: err })));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await exited;
  } finally {
    clearTimeout(timeout);
    options.signal?.removeEventListener('abort', onAbort);
  }
  // bash is gone; anything it left running in the background (daemons, `sleep &`) goes too, so a
  // step cannot outlive itself and keep the output pipes open forever.
  if (child.pid !== undefined) {
    killGroup(child.pid, 'SIGTERM');
    const pid = child.pid;
    const reaper = setTimeout(() => killGroup(pid, 'SIGKILL'), grace);
    await Promise.all(streams);
    clearTimeout(reaper);
    killGroup(pid, 'SIGKILL');
  }
  if (killTimer) clearTimeout(killTimer);
  lifeline?.destroy();
  const durationMs = Math.round(performance.now() - started);
  if (timedOut) emit(`\n[conveyor] step timed out after ${options.timeoutMs} ms; process group killed\n`);
  await options.log.flush();
  return { exitCode: exit.code, signal: exit.signal, durationMs, timedOut, outputTail: tail.text() };
}
