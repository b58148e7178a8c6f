/**
 * Starts and stops an Azurite storage emulator as a child process.
 *
 * Generic local-runtime part: knows nothing about the app it serves. Ports are picked free
 * unless given, data lives under the caller's folder, telemetry is always off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createServer, request } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Well-known development account of every Azure storage emulator (public, not a secret). */
export const DEV_ACCOUNT = 'devstoreaccount1';
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
}

export interface RunningAzurite {
  readonly blobPort: number;
  readonly queuePort: number;
  readonly tablePort: number;
  readonly pid: number;
  /** Full connection string usable by the Azure SDKs and the Functions host. */
  readonly connectionString: string;
  stop(): Promise<void>;
}

/** Finds a free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Connection string for an emulator on 127.0.0.1 with the given ports. */
export function emulatorConnectionString(blobPort: number, queuePort: number, tablePort: number): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
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

/** Starts Azurite (blob, queue and table) and resolves once the blob endpoint answers. */
export async function startAzurite(options: AzuriteOptions): Promise<RunningAzurite> {
  mkdirSync(options.location, { recursive: true });
  // Free ports are picked before Azurite binds them, so a parallel process can take one in
  // between; when the ports were ours to choose, such a clash is retried with fresh ones.
  const choosing = options.blobPort === undefined || options.queuePort === undefined || options.tablePort === undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (!choosing || attempt >= 3 || !(err instanceof PortClashError)) throw err;
    }
  }
}

class PortClashError extends Error {}

async function startOnce(options: AzuriteOptions): Promise<RunningAzurite> {
  const blobPort = options.blobPort ?? (await freePort());
  const queuePort = options.queuePort ?? (await freePort());
  const tablePort = options.tablePort ?? (await freePort());
  const args = [
    azuriteBin(),
    '--silent',
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--location', options.location,
    '--blobHost', '127.0.0.1', '--blobPort', String(blobPort),
    '--queueHost', '127.0.0.1', '--queuePort', String(queuePort),
    '--tableHost', '127.0.0.1', '--tablePort', String(tablePort),
  ];
  if (options.debugLog) args.push('--debug', options.debugLog);
  // stdin is a pipe the child watches (parent-watch.js): if this process dies, Azurite exits.
  const watch = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'parent-watch.js')).href;
  const child: ChildProcess = spawn(process.execPath, ['--import', watch, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  child.stdin?.on('error', () => {});
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const failed = () => {
    const text = stderr.trim() || 'no output';
    return /EADDRINUSE/.test(text) ? new PortClashError(`Azurite port clash: ${text}`) : new Error(`Azurite exited during start-up: ${text}`);
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (!(await ping(blobPort))) {
    if (exited) throw failed();
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Azurite did not answer on port ${blobPort} within the start timeout`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // The answer may have come from whoever else holds the port: make sure ours is the one alive.
  await new Promise((r) => setTimeout(r, 50));
  if (exited) throw failed();

  return {
    blobPort,
    queuePort,
    tablePort,
    pid: child.pid ?? -1,
    connectionString: emulatorConnectionString(blobPort, queuePort, tablePort),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}
