/**
 * The local sandboxed runner: each step runs in a bubblewrap sandbox (see bubblewrap-sandbox.ts
 * for what it may see). The executor's guarantees hold unchanged: output is streamed, redacted,
 * to the log sink; a timeout or an abort kills the whole sandbox; whatever the step leaves
 * running ends with it (the sandbox's PID namespace ends when the step's shell does, daemons
 * that called `setsid` included); and the sandbox dies with Conveyor (`--die-with-parent`), so a
 * step resumed after a crash never shares its workspace with a leftover copy.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { ExternalFailureError } from '../errors.js';
import { runStep, stepEnvironment } from '../executor/run-step.js';
import { BUBBLEWRAP_FIX, bubblewrapArgs, probeBubblewrap, SANDBOX_ENTRY, SANDBOX_HOME, sandboxPath, SandboxUnavailableError } from './bubblewrap-sandbox.js';
import { stepRedactor } from './step-secrets.js';
import { DEFAULT_STEP_LIMITS, effectiveLimits, formatBytes, limitHit, type StepIsolation, type StepLimits } from './step-limits.js';
import { SECRET_FILES_DIR, type StepOutcome, type StepRequest, type StepRunner } from './step-runner.js';
import { hostEnvironment } from '../config/settings.js';

/** Options of {@link BubblewrapStepRunner}. */
export interface BubblewrapStepRunnerOptions {
  /** The bwrap binary. Default `bwrap` (found on PATH). */
  bwrap?: string;
  /** Host folders that must never be visible to a step (Conveyor's working, state and data folders). */
  hidden?: readonly string[];
  /** Further host paths bound read-only into every sandbox. */
  readOnly?: readonly string[];
  /** Time between SIGTERM and SIGKILL of the sandbox on timeout. Default 2000 ms. */
  killGraceMs?: number;
  /** The installation's step limits: each step's default and ceiling. Default {@link DEFAULT_STEP_LIMITS}. */
  limits?: StepLimits;
}

let nextCpu = 0;

/** `taskset` CPU list of `count` CPUs out of the ones this process may use, rotating the start so steps spread. */
function cpuList(count: number): { list?: string; used: number; of: number } {
  const all = availableParallelism();
  const n = Math.min(all, Math.max(1, Math.ceil(count)));
  if (n >= all) return { used: all, of: all };
  const start = nextCpu++ % all;
  return { list: Array.from({ length: n }, (_, i) => (start + i) % all).join(','), used: n, of: all };
}

/** Bytes the tree at `dir` takes on disk (`du`); undefined when it cannot be measured. */
function duBytes(dir: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('du', ['-s', '-x', '-B1', dir], { timeout: 60_000 }, (err, stdout) => {
      const n = Number(/^(\d+)/.exec(stdout ?? '')?.[1]);
      resolve(Number.isFinite(n) && n >= 0 && (!err || n > 0) ? n : undefined);
    });
  });
}

/** Entries walked in-process before the measurement is left to `du` (a spawn costs more than a small walk). */
const WALK_LIMIT = 2000;

/**
 * Bytes the tree at `dir` takes on disk (allocated blocks, as `du` counts them): walked here for
 * a small tree, by `du` for a large one; undefined when it cannot be measured.
 */
export async function treeBytes(dir: string): Promise<number | undefined> {
  let entries = 0;
  let bytes = 0;
  const pending = [dir];
  try {
    while (pending.length > 0) {
      const current = pending.pop()!;
      for (const entry of await readdir(current, { withFileTypes: true })) {
        if (++entries > WALK_LIMIT) return duBytes(dir);
        const path = join(current, entry.name);
        const st = await lstat(path);
        bytes += st.blocks * 512;
        if (entry.isDirectory()) pending.push(path);
      }
    }
    return bytes + (await lstat(dir)).blocks * 512;
  } catch {
    return duBytes(dir);
  }
}

/** Runs steps in bubblewrap sandboxes. */
export class BubblewrapStepRunner implements StepRunner {
  /** Always `bubblewrap`. */
  readonly kind = 'bubblewrap';
  private readonly bwrap: string;

  /** Creates the runner; bubblewrap is probed on first use. */
  constructor(private readonly options: BubblewrapStepRunnerOptions = {}) {
    this.bwrap = options.bwrap ?? 'bwrap';
  }

  /** Resolves when bubblewrap works here; rejects with {@link SandboxUnavailableError} naming the fix otherwise. */
  async ensureAvailable(): Promise<{ disableUserns: boolean }> {
    const probe = await probeBubblewrap(this.bwrap);
    if (!probe.ok) throw new SandboxUnavailableError(`steps cannot be sandboxed: ${probe.reason}; ${BUBBLEWRAP_FIX}`);
    return probe;
  }

  /** See {@link StepRunner.run}. */
  async run(request: StepRequest): Promise<StepOutcome> {
    const { disableUserns } = await this.ensureAvailable();
    const dir = request.workspace.dir;
    if (!existsSync(dir)) throw new ExternalFailureError(`workspace folder ${dir} does not exist`);
    const { limits, notes } = effectiveLimits(request.resources, this.options.limits ?? DEFAULT_STEP_LIMITS);
    const files = Object.entries(request.secretFiles ?? {});
    const env = stepEnvironment({
      env: { ...request.env, ...request.secretEnv, ...Object.fromEntries(files.map(([name]) => [name, `${SECRET_FILES_DIR}/${name}`])) },
      conveyorVars: request.conveyorVars,
      baseEnv: { PATH: sandboxPath(), HOME: SANDBOX_HOME, LANG: hostEnvironment().LANG ?? 'C.UTF-8', TMPDIR: '/tmp' },
    });
    const network = request.network === 'none' ? 'none' : 'on';
    const args = bubblewrapArgs({
      writable: dir,
      network: network === 'on',
      dieWithParent: true,
      hidden: this.options.hidden,
      readOnly: this.options.readOnly,
      hostname: 'conveyor-step',
      disableUserns,
      tmpfsBytes: limits.diskBytes,
      secretFiles: files.map(([name], i) => ({ name, fd: 3 + i })),
    });
    // Limits are set inside the sandbox, before the step's shell starts, on hard and soft
    // values alike: every process of the step inherits them and none can raise them.
    const cpus = cpuList(limits.cpu);
    const limited = [
      'prlimit', `--data=${limits.memoryBytes}`, `--fsize=${limits.diskBytes}`, '--',
      ...(cpus.list ? ['taskset', '-c', cpus.list] : []),
    ];
    const before = await treeBytes(dir);
    const result = await runStep({
      command: request.command,
      cwd: dir,
      timeoutMs: request.timeoutMs,
      conveyorVars: request.conveyorVars,
      log: request.log,
      secrets: stepRedactor(request),
      signal: request.signal,
      killGraceMs: this.options.killGraceMs,
      launch: {
        file: this.bwrap,
        args: [...args, '--', ...limited, 'bash', '-c', SANDBOX_ENTRY, 'conveyor-step', request.command],
        env,
        inputs: files.map(([, value]) => value),
      },
    });
    let hit = limitHit(result, limits);
    // The workspace is a host folder: its growth is measured when the step ends.
    const after = before === undefined ? undefined : await treeBytes(dir);
    if (!hit && before !== undefined && after !== undefined && after - before > limits.diskBytes) {
      hit = { limit: 'disk', why: `the workspace grew by ${formatBytes(after - before)}, past the disk limit of ${formatBytes(limits.diskBytes)}` };
    }
    const isolation: StepIsolation = {
      runner: this.kind,
      sandbox: true,
      network,
      limits: { cpu: cpus.used, memory: formatBytes(limits.memoryBytes), disk: formatBytes(limits.diskBytes) },
      enforcement: [
        cpus.list ? `cpu: pinned to ${cpus.used} of ${cpus.of} CPUs (taskset)` : `cpu: all ${cpus.of} CPUs of this machine (no more to give)`,
        'memory: RLIMIT_DATA per process (prlimit)',
        'disk: RLIMIT_FSIZE per file (prlimit), /tmp and HOME tmpfs of that size, workspace growth checked at the end',
      ],
      ...(notes.length ? { notes } : {}),
    };
    return { ...result, isolation, ...(hit ? { limitHit: hit } : {}) };
  }
}
