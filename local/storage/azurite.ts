/**
 * Starts and stops an Azurite storage emulator as a child process.
 *
 * Generic local-runtime part: knows nothing about the app it serves. Ports are picked free
 * unless given, data lives under the caller's folder, telemetry is always off.
 *
 * The account key is private: the well-known development key would let any process on the
 * machine's loopback (a build step with network, a deployed service) read and write every
 * blob. A random key is created once per data folder (`<location>/.account-key`, mode 0600),
 * handed to Azurite through `AZURITE_ACCOUNTS` (its environment, never its command line) and
 * put in the connection string the caller gets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { request } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stateSecret } from '../host/state-secret.js';

/** Well-known development account name of every Azure storage emulator (kept: SDKs and tools recognise it). */
export const DEV_ACCOUNT = 'devstoreaccount1';
/** The public development key; Azurite started here refuses it. Only for emulators started elsewhere. */
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Folder for Azurite's data (created if missing). */
  location: string;
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  /** How long to wait for the emulator to answer, ms. */
  startTimeoutMs?: number;
  /** Where Azurite's own debug output goes (file path); none by default. */
  debugLog?: string;
  /** Account key (base64); default: the data folder's private key (`azuriteAccountKey`). */
  accountKey?: string;
}

/** The private account key of the Azurite whose data lives in `location` (created on first use). */
export function azuriteAccountKey(location: string): string {
  return stateSecret(join(location, '.account-key'), 64);
}

export interface RunningAzurite {
  readonly blobPort: number;
  readonly queuePort: number;
  readonly tablePort: number;
  readonly pid: number;
  /** Full connection string usable by the Azure SDKs and the Functions host (holds the private key). */
  readonly connectionString: string;
  stop(): Promise<void>;
}

/** Connection string for an emulator on 127.0.0.1 with the given ports and account key. */
export function emulatorConnectionString(blobPort: number, queuePort: number, tablePort: number, accountKey: string): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${accountKey}`,
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${DEV_ACCOUNT}`,
    `QueueEndpoint=http://127.0.0.1:${queuePort}/${DEV_ACCOUNT}`,
    `TableEndpoint=http://127.0.0.1:${tablePort}/${DEV_ACCOUNT}`,
  ].join(';') + ';';
}

function azuriteBin(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('azurite/package.json');
  return join(dirname(pkg), 'dist', 'src', 'azurite.js');
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: `/${DEV_ACCOUNT}?comp=list`, method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Starts Azurite (blob, queue and table) and resolves once every service listens and the blob endpoint answers. */
export async function startAzurite(options: AzuriteOptions): Promise<RunningAzurite> {
  mkdirSync(options.location, { recursive: true });
  const accountKey = options.accountKey ?? azuriteAccountKey(options.location);
  // Ports not given are bound by Azurite itself (port 0) and read back from its start-up lines:
  // picking "free" ports first would race with other processes doing the same.
  const args = [
    azuriteBin(),
    '--silent',
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--location', options.location,
    '--blobHost', '127.0.0.1', '--blobPort', String(options.blobPort ?? 0),
    '--queueHost', '127.0.0.1', '--queuePort', String(options.queuePort ?? 0),
    '--tableHost', '127.0.0.1', '--tablePort', String(options.tablePort ?? 0),
  ];
  if (options.debugLog) args.push('--debug', options.debugLog);
  // stdin is a pipe the child watches (parent-watch.js): if this process dies, Azurite exits.
  const watch = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'parent-watch.js')).href;
  const child: ChildProcess = spawn(process.execPath, ['--import', watch, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, AZURITE_ACCOUNTS: `${DEV_ACCOUNT}:${accountKey}` },
  });
  child.stdin?.on('error', () => {});
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const ports: Partial<Record<'Blob' | 'Queue' | 'Table', number>> = {};
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout = (stdout + d.toString()).slice(-8000);
    for (const m of stdout.matchAll(/Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/[^:\s]+:(\d+)/g)) {
      ports[m[1] as 'Blob' | 'Queue' | 'Table'] = Number(m[2]);
    }
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  const ready = async () => ports.Blob !== undefined && ports.Queue !== undefined && ports.Table !== undefined && (await ping(ports.Blob));
  while (!(await ready())) {
    if (exited) throw new Error(`Azurite exited during start-up: ${stderr.trim() || stdout.trim() || 'no output'}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Azurite did not start within the start timeout: ${stderr.trim() || stdout.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // Keep draining its output so a chatty emulator never blocks on a full pipe.
  child.stdout?.resume();
  const blobPort = ports.Blob!;
  const queuePort = ports.Queue!;
  const tablePort = ports.Table!;

  return {
    blobPort,
    queuePort,
    tablePort,
    pid: child.pid ?? -1,
    connectionString: emulatorConnectionString(blobPort, queuePort, tablePort, accountKey),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}
