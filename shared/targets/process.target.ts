/**
 * The `process` deploy target (the embedded default): each environment's artifact runs as a
 * local process group on the environment's port.
 *
 * Layout under the root folder:
 *
 *   <root>/<app>/<env>/state.json                      what runs (or ran) there, written atomically
 *   <root>/<app>/<env>/releases/<revision>/            the artifact, extracted by `materialize`
 *   <root>/<app>/<env>/releases/<revision>/logs/output.log   the process's stdout and stderr
 *
 * Processes start with `bash -c <start>` in the release folder, detached into their own
 * session and process group, so they keep running when Conveyor stops or restarts. state.json
 * records pid, process group, start time and boot id, which lets a later Conveyor (a new
 * ProcessTarget on the same root) recognise them and stop them without risking a reused pid.
 * Replacing stops the whole old group first (SIGTERM, then SIGKILL after a grace period), so
 * no process of an old revision is left behind. Linux is assumed (/proc); elsewhere identity
 * checks degrade to "pid exists".
 *
 * Operations on one app+environment are serialised within the process; across processes the
 * promotion orchestration's environment lock keeps deployments from overlapping.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { ProcessTargetSpec } from '../domain/pipeline.js';
import { upgradeStoredNames } from '../domain/deployment.js';
import { isName, NAME_RULE } from '../domain/ids.js';
import { CorruptDataError, ValidationError } from '../errors.js';
import { revisionFromText, type DeployRequest, type DeployResult, type DeployTarget, type DetailValue, type StopResult, type TargetStatus } from './deploy-target.js';
import type { StepIsolation } from '../domain/run.js';
import { SECRET_FILES_DIR } from '../steps/step-runner.js';
import { bubblewrapArgs, resolveLocalSandbox, SANDBOX_HOME, sandboxPath, type LocalSandbox, type LocalSandboxSettings } from '../steps/bubblewrap-sandbox.js';
import { bootId, groupHasLiveProcessSync, isSameProcessAlive, liveGroupMembers, processesWithMarker, readProcStat, signalGroup, signalProcess, type GroupIdentity, type ProcessIdentity } from './process-table.js';
import { hostEnvironment } from '../config/settings.js';

/** Options of {@link ProcessTarget}. */
export interface ProcessTargetOptions {
  /** Folder holding every app's environments (e.g. `.conveyor/targets/process`). */
  root: string;
  /** How long a process group gets between SIGTERM and SIGKILL. Default 10 s. */
  stopGraceMs?: number;
  /** Release folders kept per environment, the current one included. Default 5. */
  keepReleases?: number;
  /** Bytes of output returned as `logTail` on failure. Default 4 KiB. */
  logTailBytes?: number;
  /**
   * Environment the process's minimal environment is taken from (PATH, HOME, LANG, TZ,
   * TMPDIR only). Default `process.env`. Conveyor's own settings (connection strings,
   * secrets) are never passed on.
   */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * How services are isolated: a bubblewrap sandbox (own namespaces, the release folder the only
   * writable tree, nothing of Conveyor's visible) unless bubblewrap is unusable and
   * `allowUnsandboxed` is set. Default: sandboxed, refused without bubblewrap.
   */
  sandbox?: ProcessSandboxOptions;
}

/** See {@link ProcessTargetOptions.sandbox}. */
export interface ProcessSandboxOptions extends Partial<LocalSandboxSettings> {
  /** Host folders never visible to a service even inside a bound system folder (Conveyor's own). */
  hidden?: readonly string[];
  /** Further host paths bound read-only. */
  readOnly?: readonly string[];
}

/** The record in state.json. */
export interface ProcessState {
  version: 1;
  app: string;
  environment: string;
  revision: number;
  commit: string;
  digest: string;
  status: 'starting' | 'running' | 'stopped' | 'failed';
  port: number;
  baseUrl: string;
  releaseDir: string;
  logFile: string;
  /** Leader pid; with `detached` it is also the process group and session id. */
  pid?: number;
  pgid?: number;
  /** From /proc/<pid>/stat (clock ticks since boot) and the boot id: the process's identity. */
  procStartTime?: string;
  bootId?: string | null;
  /**
   * Random id passed to the process as `CONVEYOR_INSTANCE_ID`; its children inherit it, which
   * identifies orphans of the group after the leader died.
   */
  instanceId?: string;
  startedAt?: string;
  stoppedAt?: string;
  reason?: string;
}

/** state.json as read back: validated, since a foreign or damaged file must not be acted on. */
// State files written before the vocabulary was unified say `artifactDigest`: upgraded on read.
const processStateSchema: z.ZodType<ProcessState> = z.preprocess(upgradeStoredNames, z.object({
  version: z.literal(1),
  app: z.string(),
  environment: z.string(),
  // Older state files hold the revision as decimal text: upgraded on read.
  revision: z.preprocess((v) => revisionFromText(v) ?? v, z.number().int().nonnegative()),
  commit: z.string(),
  digest: z.string(),
  status: z.enum(['starting', 'running', 'stopped', 'failed']),
  port: z.number().int(),
  baseUrl: z.string(),
  releaseDir: z.string(),
  logFile: z.string(),
  pid: z.number().int().positive().optional(),
  pgid: z.number().int().positive().optional(),
  procStartTime: z.string().regex(/^\d+$/).optional(),
  bootId: z.string().nullable().optional(),
  instanceId: z.string().optional(),
  startedAt: z.string().optional(),
  stoppedAt: z.string().optional(),
  reason: z.string().optional(),
}));

/** Revision labels (folder names under an environment's releases). App and environment names follow shared/domain/ids.ts. */
// Readiness and stop polls: a refused connect or a /proc scan costs well under a millisecond,
// and every poll interval is pure latency added to a deployment.
const POLL_MS = 10;
/** Environment variable carrying {@link ProcessState.instanceId}. */
const INSTANCE_VARIABLE = 'CONVEYOR_INSTANCE_ID';

/**
 * First thing run inside a service's sandbox. Closes inherited descriptors above stderr, starts
 * the start command as a child and then stays until no other process is left in the sandbox:
 * the sandbox's PID namespace ends with this shell, and a start command may hand over to a
 * background process and exit (a daemonising script). SIGTERM is caught (not ignored, which
 * children would inherit), so a stop reaches the service and it may shut down gracefully; the
 * exit status is the start command's.
 */
const SERVICE_ENTRY = [
  'for fd in /proc/self/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done',
  "trap ':' TERM INT HUP",
  'bash -c "$1" & main=$!',
  'while :; do wait $main; rc=$?; kill -0 $main 2>/dev/null || break; done',
  'while :; do others=; for p in /proc/[0-9]*; do case ${p#/proc/} in 1|$$) ;; *) others=1; break ;; esac; done; [ -z "$others" ] && exit $rc; sleep 0.5 & wait $!; done',
].join('\n');

/** How services of this target run: the isolation recorded with each deployment. */
function serviceIsolation(sandbox: LocalSandbox): StepIsolation {
  return sandbox.kind === 'bubblewrap'
    ? { runner: 'bubblewrap', sandbox: true, network: 'on', enforcement: ['no CPU, memory or disk limits on services (steps only)'] }
    : { runner: 'unsandboxed', sandbox: false, network: 'on', enforcement: ['none: no sandbox (CONVEYOR_ALLOW_UNSANDBOXED_STEPS)'] };
}

/** The `process` deploy target. */
export class ProcessTarget implements DeployTarget<ProcessTargetSpec> {
  /** Always `process`. */
  readonly type = 'process' as const;
  private readonly root: string;
  private readonly stopGraceMs: number;
  private readonly keepReleases: number;
  private readonly logTailBytes: number;
  private readonly baseEnv: Readonly<Record<string, string | undefined>>;
  private readonly sandbox: ProcessSandboxOptions;
  private readonly queues = new Map<string, Promise<unknown>>();

  /** Creates a target storing its state under `options.root`. Nothing is read until first use. */
  constructor(options: ProcessTargetOptions) {
    this.root = options.root;
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    this.keepReleases = Math.max(1, options.keepReleases ?? 5);
    this.logTailBytes = options.logTailBytes ?? 4096;
    this.baseEnv = options.baseEnv ?? hostEnvironment();
    this.sandbox = options.sandbox ?? {};
  }

  /** `http://127.0.0.1:<port>`: processes listen on loopback only. */
  baseUrl(_app: string, _environment: string, spec: ProcessTargetSpec): string {
    return `http://127.0.0.1:${spec.port}`;
  }

  /** Folder of one environment (state.json and releases/). */
  environmentDir(app: string, environment: string): string {
    checkName('app', app);
    checkName('environment', environment);
    return join(this.root, app, environment);
  }

  /**
   * Every app+environment this root holds a record for (running or not), e.g. to report what
   * runs where after a restart, or to look for drift.
   */
  async listEnvironments(): Promise<{ app: string; environment: string }[]> {
    const out: { app: string; environment: string }[] = [];
    const dirs = async (path: string) => (await readdir(path, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => d.name);
    for (const app of (await dirs(this.root)).filter(isName)) {
      for (const environment of (await dirs(join(this.root, app))).filter(isName)) {
        if (await stat(join(this.root, app, environment, 'state.json')).catch(() => undefined)) out.push({ app, environment });
      }
    }
    return out.sort((a, b) => a.app.localeCompare(b.app) || a.environment.localeCompare(b.environment));
  }

  /** Reads state.json; undefined when nothing was ever deployed. */
  async readState(app: string, environment: string): Promise<ProcessState | undefined> {
    const file = join(this.environmentDir(app, environment), 'state.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CorruptDataError(`${file} is not valid JSON`, { cause: err });
    }
    const result = processStateSchema.safeParse(parsed);
    if (!result.success) {
      const first = result.error.issues[0];
      throw new CorruptDataError(`${file} is not a process target state record (${first?.path.join('.') || '(root)'}: ${first?.message})`);
    }
    return result.data;
  }

  /** See {@link DeployTarget.deploy}. */
  deploy(request: DeployRequest<ProcessTargetSpec>): Promise<DeployResult> {
    checkRevision(request.revision);
    return this.serialised(request.app, request.environment, () => this.deployNow(request));
  }

  /** See {@link DeployTarget.stop}. */
  stop(app: string, environment: string): Promise<StopResult> {
    this.environmentDir(app, environment);
    return this.serialised(app, environment, async () => {
      const state = await this.readState(app, environment);
      if (!state) return { ok: true, wasRunning: false };
      const stopped = await this.stopGroup(state);
      if (!stopped.ok) return stopped;
      if (state.status === 'running' || state.status === 'starting') {
        await this.writeState({ ...state, status: 'stopped', stoppedAt: new Date().toISOString(), reason: 'stopped on request' });
      }
      return { ok: true, wasRunning: stopped.wasRunning, revision: state.revision };
    });
  }

  /** See {@link DeployTarget.status}. Reads state.json and checks the recorded process and port. */
  async status(app: string, environment: string): Promise<TargetStatus> {
    const state = await this.readState(app, environment);
    if (!state) return { app, environment, state: 'absent', running: false, healthy: false, details: {} };
    const alive = await this.isGroupAlive(state);
    const healthy = alive ? await portAcceptsConnections(state.port, 500) : false;
    let reported: TargetStatus['state'];
    let reason = state.reason;
    if (alive) reported = 'running';
    else if (state.status === 'running' || state.status === 'starting') {
      reported = 'exited';
      reason = 'the process is no longer running (it exited or was killed outside Conveyor)';
    } else reported = state.status;
    const details: Record<string, DetailValue> = {
      port: state.port,
      releaseDir: state.releaseDir,
      logFile: state.logFile,
      pid: state.pid ?? null,
      pgid: state.pgid ?? null,
    };
    return {
      app,
      environment,
      state: reported,
      running: alive,
      healthy,
      revision: state.revision,
      commit: state.commit,
      digest: state.digest,
      baseUrl: state.baseUrl,
      ...(state.startedAt ? { startedAt: state.startedAt } : {}),
      ...(reason && reported !== 'running' ? { reason } : {}),
      details,
    };
  }

  private async deployNow(request: DeployRequest<ProcessTargetSpec>): Promise<DeployResult> {
    const { app, environment, revision, spec } = request;
    const envDir = this.environmentDir(app, environment);
    const releasesDir = join(envDir, 'releases');
    await mkdir(releasesDir, { recursive: true });
    const baseUrl = this.baseUrl(app, environment, spec);
    const previous = await this.readState(app, environment);
    // Decided before anything is stopped: without a usable sandbox the old revision keeps serving.
    const sandbox = await resolveLocalSandbox({ allowUnsandboxed: false, ...this.sandbox });
    if (sandbox.kind !== 'bubblewrap' && Object.keys(request.secretFiles ?? {}).length > 0) {
      // Without the sandbox's memory-backed file the value would sit on the host's disk for the
      // service's whole life: refused, and the old revision keeps serving.
      return { ok: false, reason: 'secrets delivered as files need the bubblewrap sandbox (it keeps them in memory); this machine runs services unsandboxed', logTail: '' };
    }
    const isolation = serviceIsolation(sandbox);

    // Already running exactly this? Then a retried activity must not restart it.
    if (
      !request.force &&
      previous &&
      previous.status === 'running' &&
      previous.revision === revision &&
      previous.digest === request.digest &&
      previous.port === spec.port &&
      (await this.isGroupAlive(previous)) &&
      (await portAcceptsConnections(spec.port, 500))
    ) {
      return {
        ok: true,
        baseUrl,
        revision,
        startedAt: previous.startedAt ?? new Date().toISOString(),
        unchanged: true,
        isolation,
        details: { pid: previous.pid ?? null, releaseDir: previous.releaseDir, logFile: previous.logFile },
      };
    }

    // Materialize before stopping anything: if the artifact cannot be written, the old
    // revision keeps serving. Leftover `.incoming-*` folders are from an interrupted deploy.
    await removeStaleIncoming(releasesDir);
    const incoming = join(releasesDir, `.incoming-${revision}-${randomBytes(4).toString('hex')}`);
    await mkdir(incoming, { recursive: true });
    try {
      await request.materialize(incoming);
    } catch (err) {
      await rm(incoming, { recursive: true, force: true });
      throw err;
    }

    if (previous) {
      const stopped = await this.stopGroup(previous);
      if (!stopped.ok) {
        await rm(incoming, { recursive: true, force: true });
        return { ok: false, reason: `could not stop the running revision ${previous.revision}: ${stopped.reason}`, logTail: '' };
      }
      // On a loaded machine the stopped revision's listener can outlive its process by a
      // moment; give the port a little time before calling it someone else's.
      if (stopped.wasRunning) await waitUntil(async () => !(await portAcceptsConnections(spec.port, 200)), 5_000);
      // No separate "stopped" record for the old revision: the next write (the new
      // revision starting, or failing) follows at once, and until then a status read
      // reports the old one as exited, which is true.
    }

    const releaseDir = join(releasesDir, String(revision));
    const logFile = join(releaseDir, 'logs', 'output.log');
    const base: ProcessState = {
      version: 1,
      app,
      environment,
      revision,
      commit: request.commit,
      digest: request.digest,
      status: 'starting',
      port: spec.port,
      baseUrl,
      releaseDir,
      logFile,
    };

    // Something else on the port would answer our readiness probe and hide a failed start.
    if (await portAcceptsConnections(spec.port, 500)) {
      await rm(incoming, { recursive: true, force: true });
      const reason = `port ${spec.port} on 127.0.0.1 is already in use by a process Conveyor does not manage`;
      await this.writeState({ ...base, status: 'failed', reason });
      return { ok: false, reason, logTail: '' };
    }

    // A redeploy of the same revision (e.g. a rollback to it) gets a fresh copy of the
    // artifact but keeps that revision's earlier logs (the new run appends to them).
    await rename(join(releaseDir, 'logs'), join(incoming, 'logs')).catch(() => undefined);
    await rm(releaseDir, { recursive: true, force: true });
    await rename(incoming, releaseDir);
    const now = new Date();
    await utimes(releaseDir, now, now); // release age = last activation, for pruning
    await mkdir(dirname(logFile), { recursive: true });

    const instanceId = randomBytes(12).toString('hex');
    // Recorded before spawning: a Conveyor killed between the spawn and the next write would
    // otherwise leave a process nobody knows (holding the port); the marker finds it.
    await this.writeState({ ...base, instanceId });
    const started = await this.startProcess(request, releaseDir, logFile, instanceId, sandbox);
    if (!started.ok) {
      await this.writeState({ ...base, status: 'failed', reason: started.reason });
      return { ok: false, reason: started.reason, logTail: await readTail(logFile, this.logTailBytes) };
    }
    const running: ProcessState = {
      ...base,
      pid: started.pid,
      pgid: started.pid,
      procStartTime: started.identity.startTime,
      bootId: started.identity.bootId ?? null,
      instanceId,
      startedAt: started.startedAt,
    };
    // Recorded before waiting, so a Conveyor that dies during the wait still knows the process.
    await this.writeState(running);

    const ready = await this.waitUntilListening(spec, started.exited, groupOf(running));
    if (!ready.ok) {
      await this.stopGroup(running);
      await this.writeState({ ...running, status: 'failed', reason: ready.reason, stoppedAt: new Date().toISOString() });
      return { ok: false, reason: ready.reason, logTail: await readTail(logFile, this.logTailBytes) };
    }
    await this.writeState({ ...running, status: 'running' });
    await this.pruneReleases(releasesDir, String(revision));
    return {
      ok: true,
      baseUrl,
      revision,
      startedAt: started.startedAt,
      unchanged: false,
      details: { pid: started.pid, releaseDir, logFile },
      isolation,
    };
  }

  private async startProcess(
    request: DeployRequest<ProcessTargetSpec>,
    releaseDir: string,
    logFile: string,
    instanceId: string,
    sandbox: LocalSandbox,
  ): Promise<
    | { ok: true; pid: number; identity: ProcessIdentity; startedAt: string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }
    | { ok: false; reason: string }
  > {
    const log = await open(logFile, 'a');
    try {
      const header = `--- ${new Date().toISOString()} starting ${request.app}/${request.environment} revision ${request.revision} (commit ${request.commit}): ${request.spec.start}\n`;
      await log.write(header);
      const env = this.processEnvironment(request, instanceId, sandbox.kind === 'bubblewrap');
      // Own session and process group: survives Conveyor, and can be signalled as a whole. In
      // the sandbox the leader is bwrap; the group reaches every process inside as well.
      const files = sandbox.kind === 'bubblewrap' ? Object.entries(request.secretFiles ?? {}) : [];
      for (const [name] of files) env[name] = `${SECRET_FILES_DIR}/${name}`;
      // Secret files reach bubblewrap through pipes (descriptors 3, 4, ...), never a host file.
      const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', log.fd, log.fd, ...files.map(() => 'pipe' as const)];
      const options = { cwd: releaseDir, detached: true, stdio, env };
      const child =
        sandbox.kind === 'bubblewrap'
          ? spawn(
              sandbox.bwrap,
              [
                ...bubblewrapArgs({
                  writable: releaseDir,
                  network: true,
                  dieWithParent: false,
                  hidden: [this.root, ...(this.sandbox.hidden ?? [])],
                  readOnly: this.sandbox.readOnly,
                  hostname: 'conveyor-service',
                  disableUserns: sandbox.disableUserns,
                  secretFiles: files.map(([name], i) => ({ name, fd: 3 + i })),
                }),
                '--',
                'bash',
                '-c',
                SERVICE_ENTRY,
                'conveyor-service',
                request.spec.start,
              ],
              options,
            )
          : spawn('bash', ['-c', request.spec.start], options);
      files.forEach(([, value], i) => {
        const pipe = child.stdio[3 + i] as import('node:net').Socket | null;
        pipe?.on('error', () => {});
        pipe?.end(value);
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', () => resolve({ code: null, signal: null }));
      });
      const pid = await new Promise<number | undefined>((resolve) => {
        child.once('spawn', () => resolve(child.pid));
        child.once('error', () => resolve(undefined));
      });
      if (pid === undefined) return { ok: false, reason: 'could not start bash for the start command' };
      // Conveyor may exit while the process keeps running.
      child.unref();
      const stat = await readProcStat(pid);
      const identity: ProcessIdentity = { pid, ...(stat ? { startTime: stat.startTime } : {}), bootId: await bootId() };
      return { ok: true, pid, identity, startedAt: new Date().toISOString(), exited };
    } finally {
      // The child holds its own copy of the descriptor.
      await log.close();
    }
  }

  /** The process's environment: minimal, plus the spec's variables, plus Conveyor's. */
  private processEnvironment(request: DeployRequest<ProcessTargetSpec>, instanceId: string, sandboxed: boolean): Record<string, string> {
    const base = sandboxed ? { PATH: sandboxPath(), HOME: SANDBOX_HOME, TMPDIR: '/tmp', LANG: this.baseEnv.LANG, LC_ALL: this.baseEnv.LC_ALL, TZ: this.baseEnv.TZ } : this.baseEnv;
    // The Node running Conveyor goes first on PATH, so `node ...` start commands use the same
    // runtime whatever the machine's PATH holds.
    const nodeBin = dirname(process.execPath);
    const path = base.PATH ? `${nodeBin}:${base.PATH}` : `${nodeBin}:/usr/local/bin:/usr/bin:/bin`;
    const env: Record<string, string> = { PATH: path };
    for (const key of ['HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const) {
      const value = base[key];
      if (value !== undefined) env[key] = value;
    }
    Object.assign(env, request.spec.env, request.secretEnv);
    // Set last: the pipeline schema forbids CONVEYOR_* in env, and PORT must match the spec.
    Object.assign(env, {
      PORT: String(request.spec.port),
      CONVEYOR_APP: request.app,
      CONVEYOR_ENV: request.environment,
      CONVEYOR_REVISION: String(request.revision),
      CONVEYOR_COMMIT: request.commit,
      CONVEYOR_ARTIFACT_DIGEST: request.digest,
      [INSTANCE_VARIABLE]: instanceId,
    });
    return env;
  }

  private async waitUntilListening(
    spec: ProcessTargetSpec,
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
    group: GroupIdentity,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exited.then((e) => (exit = e));
    const deadline = Date.now() + spec.startTimeoutMs;
    // A start command may hand over to a background process and exit (a daemonising
    // script); what counts is whether any process of the group is still alive.
    const groupAlive = async () => exit === undefined || (await liveGroupMembers(group)).length > 0;
    for (;;) {
      if (!(await groupAlive())) {
        return { ok: false, reason: `the start command exited (${describeExit(exit!)}) before port ${spec.port} accepted connections` };
      }
      if (await portAcceptsConnections(spec.port, 250)) {
        // It may have bound the port and died at once; only a live process counts (the
        // leader still running, which its exit event tells for free, or another member).
        if (exit !== undefined && (await liveGroupMembers(group)).length === 0) {
          return { ok: false, reason: `the process exited right after opening port ${spec.port}` };
        }
        return { ok: true };
      }
      if (Date.now() >= deadline) return { ok: false, reason: `port ${spec.port} did not accept connections within ${spec.startTimeoutMs} ms` };
      await delay(POLL_MS);
    }
  }

  /** True when the recorded group still has a live member that is provably ours. */
  private async isGroupAlive(state: ProcessState): Promise<boolean> {
    if (state.pid === undefined) return false;
    if (await isSameProcessAlive(identityOf(state))) return true;
    return (await liveGroupMembers(groupOf(state))).length > 0;
  }

  /**
   * Stops every process of the recorded group: SIGTERM, wait up to the grace period, then
   * SIGKILL, and wait until none is left. Nothing is signalled unless it is provably ours
   * (see liveGroupMembers: leader identity, or the instance marker for orphans).
   */
  private async stopGroup(state: ProcessState): Promise<StopResult> {
    if (state.pid === undefined) return this.stopMarked(state);
    const group = groupOf(state);
    const pgid = group.pgid;
    const members = async () => liveGroupMembers(group);
    if ((await members()).length === 0) return { ok: true, wasRunning: false };

    // With the leader alive the whole group is provably ours: signal it at once (this also
    // reaches processes forked a moment ago). Otherwise signal only the verified orphans.
    const signal = async (sig: NodeJS.Signals) => {
      if (await isSameProcessAlive(group.leader)) signalGroup(pgid, sig);
      else for (const pid of await members()) signalProcess(pid, sig);
    };
    // A sandbox's last processes (its init, its entry shell) exit a moment after the members
    // that carry the marker readably; wait for them too, briefly, so "stopped" means gone.
    const settled = async () => {
      await waitUntil(async () => !groupHasLiveProcessSync(pgid), 1_000);
      return { ok: true as const, wasRunning: true };
    };
    await signal('SIGTERM');
    if (await waitUntil(async () => (await members()).length === 0, this.stopGraceMs)) return settled();
    await signal('SIGKILL');
    if (await waitUntil(async () => (await members()).length === 0, 5_000)) return settled();
    return { ok: false, reason: `processes ${(await members()).join(', ')} of group ${pgid} survived SIGKILL` };
  }

  /**
   * Stops the processes of a start whose pid was never recorded (state `starting` with only
   * the instance marker): SIGTERM, the grace period, then SIGKILL.
   */
  private async stopMarked(state: ProcessState): Promise<StopResult> {
    if (state.instanceId === undefined) return { ok: true, wasRunning: false };
    const marker = `${INSTANCE_VARIABLE}=${state.instanceId}`;
    if (processesWithMarker(marker).length === 0) return { ok: true, wasRunning: false };
    for (const pid of processesWithMarker(marker)) signalProcess(pid, 'SIGTERM');
    if (await waitUntil(async () => processesWithMarker(marker).length === 0, this.stopGraceMs)) return { ok: true, wasRunning: true };
    for (const pid of processesWithMarker(marker)) signalProcess(pid, 'SIGKILL');
    if (await waitUntil(async () => processesWithMarker(marker).length === 0, 5_000)) return { ok: true, wasRunning: true };
    return { ok: false, reason: `processes ${processesWithMarker(marker).join(', ')} of an unrecorded start survived SIGKILL` };
  }

  /** Keeps the newest `keepReleases` release folders (the current one always), deletes the rest. */
  private async pruneReleases(releasesDir: string, current: string): Promise<void> {
    const names = (await readdir(releasesDir)).filter((n) => !n.startsWith('.'));
    const aged = await Promise.all(
      names.map(async (name) => ({ name, mtimeMs: (await stat(join(releasesDir, name)).catch(() => undefined))?.mtimeMs ?? 0 })),
    );
    const others = aged.filter((r) => r.name !== current).sort((a, b) => b.mtimeMs - a.mtimeMs);
    for (const old of others.slice(this.keepReleases - 1)) {
      await rm(join(releasesDir, old.name), { recursive: true, force: true });
    }
  }

  /** Writes state.json atomically: a temp file, flushed, then renamed over the old one. */
  private async writeState(state: ProcessState): Promise<void> {
    const dir = this.environmentDir(state.app, state.environment);
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'state.json');
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(JSON.stringify(state, null, 2) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  }

  /** Runs `fn` after every earlier operation on the same app+environment has finished. */
  private serialised<T>(app: string, environment: string, fn: () => Promise<T>): Promise<T> {
    const key = `${app}\u0000${environment}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }
}

function identityOf(state: ProcessState): ProcessIdentity {
  return {
    pid: state.pid ?? 0,
    ...(state.procStartTime !== undefined ? { startTime: state.procStartTime } : {}),
    ...(state.bootId !== undefined ? { bootId: state.bootId } : {}),
  };
}

function groupOf(state: ProcessState): GroupIdentity {
  return {
    pgid: state.pgid ?? state.pid ?? 0,
    leader: identityOf(state),
    ...(state.instanceId !== undefined ? { marker: `${INSTANCE_VARIABLE}=${state.instanceId}` } : {}),
  };
}

function checkName(what: 'app' | 'environment', value: string): void {
  if (!isName(value)) throw new ValidationError(`invalid ${what} name for the process target: ${JSON.stringify(value)}`, [{ path: what, message: NAME_RULE }]);
}

function checkRevision(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`invalid revision for the process target: ${JSON.stringify(value)}`, [{ path: 'revision', message: 'must be a whole number, 0 or more' }]);
  }
}

async function removeStaleIncoming(releasesDir: string): Promise<void> {
  for (const name of await readdir(releasesDir)) {
    if (name.startsWith('.incoming-')) await rm(join(releasesDir, name), { recursive: true, force: true });
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port within `timeoutMs`. */
export function portAcceptsConnections(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The last `bytes` of a log file, starting at a line boundary; '' when there is none. */
async function readTail(file: string, bytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    let text = buffer.toString('utf8');
    if (start > 0) {
      const nl = text.indexOf('\n');
      if (nl >= 0) text = text.slice(nl + 1);
    }
    return text;
  } finally {
    await handle.close();
  }
}

function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return exit.code === null ? 'could not run' : `exit code ${exit.code}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await delay(POLL_MS);
  }
}
