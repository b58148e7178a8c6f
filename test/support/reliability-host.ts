// Test support for the reliability suite: Conveyor on the local host CLI as a REAL child
// process (so it can be killed with SIGKILL and restarted on the same state folder), plus
// helpers that read everything Conveyor wrote (every blob of every container, the ledger,
// the files under its folders) and the processes it left running.
//
//   const h = await spawnConveyorHost({ root, env });     // node dist/local/host/cli.js ...
//   await h.api('/api/apps', { key: 'admin' });
//   await h.kill9();                                       // SIGKILL; waits for its Azurite to exit by itself
//   const h2 = await spawnConveyorHost({ root, env });    // same state folder, same Azurite ports
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { BlobServiceClient } from '@azure/storage-blob';
import { azuriteAccountKey, emulatorConnectionString } from '../../local/storage/azurite.js';
import { DeploymentLedger } from '../../shared/ledger/index.js';
import type { DeploymentRecord as DeploymentRecordT } from '../../shared/domain/deployment.js';
import { CONTAINERS, containerClient } from '../../shared/storage/blob-store.js';
import { ProcessTarget } from '../../shared/targets/index.js';
import { findFreePorts } from './sample-service.js';
import { REPO_ROOT } from '../e2e/conveyor-support.js';

/** Options of {@link spawnConveyorHost}. */
export interface SpawnOptions {
  /** Folder owning everything: `state/`, `data/`, `logs/` are created under it. */
  root: string;
  /** Extra environment for the host (webhook secrets, CONVEYOR_API_TOKENS, ...). */
  env?: Record<string, string>;
  /** Azurite ports; default: read from `<root>/azurite-ports.json`, picked once and reused. */
  azuritePorts?: { blob: number; queue: number; table: number };
  /** Pass `--no-storage` (the caller points AzureWebJobsStorage at its own emulator). */
  noStorage?: boolean;
  /** Start-up timeout, ms (default 60 s). */
  startTimeoutMs?: number;
}

/** Which key an API call carries. */
export type KeyKind = 'function' | 'admin' | 'none';

/** API call options: a key, an optional JSON body. */
export type ApiInit = RequestInit & { key?: KeyKind; json?: unknown };

/** A Conveyor host running as a child process. */
export interface ChildHost {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly origin: string;
  readonly keys: { master: string; function: string };
  /** Azurite's pid and blob port as the host printed them (absent with `noStorage`). */
  readonly azurite?: { pid: number; blobPort: number };
  /** Blob connection string for the storage this host uses. */
  readonly connectionString: string;
  /** File every stdout/stderr line of this host instance goes to. */
  readonly logFile: string;
  /** Every line so far. */
  readonly lines: string[];
  api(path: string, init?: ApiInit): Promise<Response>;
  /** Polls GET /api/runs/{id} until `done` holds. */
  waitForRun(runId: string, done?: (run: any) => boolean, timeoutMs?: number): Promise<any>;
  /** SIGKILL the host; resolves once it is gone and its Azurite (if any) exited by itself. */
  kill9(): Promise<{ azuriteExitedMs?: number }>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
}

/** Final statuses of a run. */
export const FINAL_RUN_STATUSES = ['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded', 'Skipped'];

const CLI = join(REPO_ROOT, 'dist', 'local', 'host', 'cli.js');

/** True while a pid exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone; returns the ms it took, or undefined after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (!alive(pid)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

function azuritePortsFor(root: string): { blob: number; queue: number; table: number } | undefined {
  const file = join(root, 'azurite-ports.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { blob: number; queue: number; table: number }) : undefined;
}

/** Starts `node dist/local/host/cli.js --app-dir <repo> --port 0 --state-dir <root>/state`. */
export async function spawnConveyorHost(options: SpawnOptions): Promise<ChildHost> {
  const { root } = options;
  mkdirSync(join(root, 'logs'), { recursive: true });
  let ports = options.azuritePorts ?? azuritePortsFor(root);
  if (!ports && !options.noStorage) {
    const [blob, queue, table] = await findFreePorts(3);
    ports = { blob: blob!, queue: queue!, table: table! };
  }
  if (ports) await import('node:fs/promises').then((fs) => fs.writeFile(join(root, 'azurite-ports.json'), JSON.stringify(ports)));
  const instance = readdirSync(join(root, 'logs')).length + 1;
  const logFile = join(root, 'logs', `host-${instance}.log`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C',
    TMPDIR: process.env.TMPDIR,
    CONVEYOR_DATA_DIR: join(root, 'data'),
    CONVEYOR_LOG_LEVEL: 'info',
    // The reconcile timer would start runs for pushed heads on its own and race what a test
    // sends; tests of the loop turn it on with a schedule of their own.
    CONVEYOR_RECONCILE_SCHEDULE: 'off',
    ...(ports
      ? { CONVEYOR_AZURITE_BLOB_PORT: String(ports.blob), CONVEYOR_AZURITE_QUEUE_PORT: String(ports.queue), CONVEYOR_AZURITE_TABLE_PORT: String(ports.table) }
      : {}),
    ...options.env,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const args = [CLI, '--app-dir', REPO_ROOT, '--port', '0', '--state-dir', join(root, 'state'), '--grace-ms', '2000'];
  if (options.noStorage) args.push('--no-storage');
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: WriteStream = createWriteStream(logFile, { flags: 'a' });
  const lines: string[] = [];
  const onData = (prefix: string) => {
    let partial = '';
    return (d: Buffer) => {
      const text = partial + d.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        out.write(`${prefix}${l}\n`);
        if (process.env.CONVEYOR_TEST_VERBOSE) process.stderr.write(`[host ${child.pid}] ${l}\n`);
      }
    };
  };
  child.stdout!.on('data', onData(''));
  child.stderr!.on('data', onData('[stderr] '));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('exit', () => out.end());

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let origin: string | undefined;
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  while (!origin) {
    const ready = lines.map((l) => /^Host ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(l)).find(Boolean);
    if (ready) origin = ready[1];
    else if (exitedEarly || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`conveyor host did not start (exited: ${exitedEarly}):\n${lines.slice(-40).join('\n')}`);
    } else await new Promise((r) => setTimeout(r, 50));
  }
  const grab = (re: RegExp) => lines.map((l) => re.exec(l)).find(Boolean)?.[1];
  const keys = { master: grab(/^Master key:\s+(\S+)/)!, function: grab(/^Function key:\s+(\S+)/)! };
  const storageLine = lines.map((l) => /^Storage:\s+Azurite pid (\d+), blob http:\/\/127\.0\.0\.1:(\d+)/.exec(l)).find(Boolean);
  const azurite = storageLine ? { pid: Number(storageLine[1]), blobPort: Number(storageLine[2]) } : undefined;
  const connectionString = ports
    ? emulatorConnectionString(ports.blob, ports.queue, ports.table, azuriteAccountKey(join(root, 'state', 'azurite')))
    : (options.env?.AzureWebJobsStorage ?? options.env?.CONVEYOR_STORAGE_CONNECTION ?? '');

  const api: ChildHost['api'] = (path, init = {}) => {
    const headers = new Headers(init.headers);
    const key = init.key ?? 'function';
    if (key !== 'none') headers.set('x-functions-key', key === 'admin' ? keys.master : keys.function);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return fetch(`${origin}${path}`, { ...init, headers, body });
  };
  return {
    child,
    pid: child.pid!,
    origin: origin!,
    keys,
    azurite,
    connectionString,
    logFile,
    lines,
    api,
    async waitForRun(runId, done = (r) => FINAL_RUN_STATUSES.includes(r.status), timeoutMs = 90_000) {
      const until = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < until) {
        const res = await api(`/api/runs/${encodeURIComponent(runId)}`).catch(() => undefined);
        if (res?.status === 200) {
          last = await res.json();
          if (done(last)) return last;
        } else await res?.body?.cancel();
        await new Promise((r) => setTimeout(r, 150));
      }
      throw new Error(`run ${runId} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}\nhost log tail:\n${lines.slice(-40).join('\n')}`);
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
      if (!azurite) return {};
      // Azurite is the host's child: parent-watch.js sees its stdin pipe close and exits.
      const ms = await waitGone(azurite.pid, 15_000);
      return { azuriteExitedMs: ms };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      if (azurite) await waitGone(azurite.pid, 10_000);
      return code;
    },
  };
}

/**
 * Every container of the account, every blob: name -> sha256 of the content (plus the content
 * when `withContent`). A blob deleted between the listing and its download (a change marker of
 * the matrix snapshot being cleared) is left out rather than failing the dump.
 */
export async function dumpBlobs(connectionString: string, withContent = false): Promise<Map<string, { sha256: string; content?: Buffer }>> {
  const service = BlobServiceClient.fromConnectionString(connectionString);
  const out = new Map<string, { sha256: string; content?: Buffer }>();
  for await (const c of service.listContainers()) {
    const container = service.getContainerClient(c.name);
    for await (const b of container.listBlobsFlat()) {
      let content: Buffer;
      try {
        content = await container.getBlobClient(b.name).downloadToBuffer();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) continue;
        throw err;
      }
      out.set(`${c.name}/${b.name}`, { sha256: createHash('sha256').update(content).digest('hex'), ...(withContent ? { content } : {}) });
    }
  }
  return out;
}

/** `dumpBlobs` without the derived read models (matrix snapshots and their change markers), which refresh themselves. */
export async function dumpRecordedBlobs(connectionString: string): Promise<Map<string, { sha256: string; content?: Buffer }>> {
  const all = await dumpBlobs(connectionString);
  return new Map([...all].filter(([name]) => !name.includes('/matrix/')));
}

/** A ledger reader over the host's storage. */
export function ledgerOf(connectionString: string): DeploymentLedger {
  return new DeploymentLedger(containerClient(connectionString, CONTAINERS.state));
}

/** The state container (for raw listings). */
export function stateContainer(connectionString: string): ContainerClient {
  return containerClient(connectionString, CONTAINERS.state);
}

/**
 * Checks the ledger invariants of one environment and returns its history oldest first:
 * revisions 1..n without gap or duplicate, `current` = the newest record, deployments never
 * overlapping in time (each starts after the previous one finished).
 */
export async function ledgerInvariants(ledger: DeploymentLedger, app: string, env: string): Promise<{ problems: string[]; records: Awaited<ReturnType<DeploymentLedger['history']>>['records'] }> {
  const records: DeploymentRecordT[] = [];
  let continuation: string | undefined;
  do {
    const page = await ledger.history(app, env, { pageSize: 100, continuation });
    records.push(...page.records);
    continuation = page.continuation;
  } while (continuation);
  records.reverse();
  const problems: string[] = [];
  records.forEach((r, i) => {
    if (r.revision !== i + 1) problems.push(`${app}/${env}: revision #${i + 1} is ${r.revision}`);
    const prev = records[i - 1];
    if (prev && Date.parse(r.startedAt) < Date.parse(prev.finishedAt)) {
      problems.push(`${app}/${env}: revision ${r.revision} started ${r.startedAt} before revision ${prev.revision} finished ${prev.finishedAt}`);
    }
  });
  const current = await ledger.current(app, env);
  const newest = records[records.length - 1];
  if (newest && current?.revision !== newest.revision) problems.push(`${app}/${env}: current is ${current?.revision}, newest record is ${newest.revision}`);
  return { problems, records };
}

/** One process on this machine. */
export interface ProcInfo {
  pid: number;
  cmdline: string;
  cwd: string;
}

/** Processes whose command line, working folder or environment mention `marker` (a temp path). */
export function processesMentioning(marker: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // not ours to read
      }
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        // not ours to read
      }
      if (!alive(pid)) continue;
      if (cmdline.includes(marker) || cwd.startsWith(marker) || environ.includes(marker)) out.push({ pid, cmdline, cwd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Stops every environment the process target runs under `<root>/data` (test clean-up). */
export async function stopAllEnvironments(root: string): Promise<void> {
  const target = new ProcessTarget({ root: join(root, 'data', 'targets', 'process'), stopGraceMs: 2000 });
  for (const { app, environment } of await target.listEnvironments()) await target.stop(app, environment);
}

/** Every regular file under `dir` (recursive), for greps. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** A two-environment (dev, prod) pipeline for the sample service, with a configurable build. */
export function twoEnvPipeline(options: { ports: { dev: number; prod: number }; build?: string; test?: string; start?: string; verifyRetries?: number; prodExtra?: string }): string {
  const env = (name: 'dev' | 'prod') => `  - name: ${name}
    target:
      type: process
      start: ${options.start ?? 'node dist/server.js'}
      port: ${options.ports[name]}
      startTimeout: 10s
    verify:
      - http:
          path: /healthz
          expect: 200
          timeout: 2s
          retries: ${options.verifyRetries ?? 3}
          interval: 200ms
    rollback: auto
${name === 'prod' ? (options.prodExtra ?? '') : ''}`;
  return `version: 1
build:
  command: ${JSON.stringify(options.build ?? 'mkdir -p dist && cp server.js dist/')}
  artifact:
    - dist
  timeout: 2m
${options.test ? `test:\n  command: ${JSON.stringify(options.test)}\n  timeout: 1m\n` : ''}environments:
${env('dev')}${env('prod')}`;
}
