/**
 * Starts the Service Bus emulator (cli.ts) as a child process, as the host starts Azurite:
 * a free port unless one is given, data under the caller's folder, and a stdin pipe the
 * child watches so it exits by itself if the parent dies without stopping it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { emulatorConnectionString } from './connection-string.js';
import { emulatorKey } from './emulator.js';
import type { TopologyFile } from './topology.js';

export interface EmulatorChildOptions {
  dataDir: string;
  /** Topology file (the official emulator's Config.json layout). */
  configFile?: string;
  port?: number;
  startTimeoutMs?: number;
}

export interface RunningEmulatorChild {
  readonly pid: number;
  readonly port: number;
  readonly connectionString: string;
  /** Adds queues, topics and subscriptions (existing ones keep their settings). */
  ensureEntities(topology: TopologyFile): Promise<void>;
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Spawns the emulator and resolves once it listens. */
export async function startEmulatorChild(options: EmulatorChildOptions): Promise<RunningEmulatorChild> {
  mkdirSync(options.dataDir, { recursive: true });
  const watch = pathToFileURL(join(here, '..', 'storage', 'parent-watch.js')).href;
  const args = ['--import', watch, join(here, 'cli.js'), '--data-dir', options.dataDir, '--port', String(options.port ?? 0)];
  if (options.configFile) args.push('--config', options.configFile);
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] });
  child.stdin?.on('error', () => {});
  child.stdout?.on('error', () => {});
  child.stderr?.on('error', () => {});
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the Service Bus emulator did not start in time: ${stderr.trim() || out.trim() || 'no output'}`));
    }, options.startTimeoutMs ?? 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    void exitPromise.then(() => {
      clearTimeout(timer);
      reject(new Error(`the Service Bus emulator exited during start-up: ${stderr.trim() || out.trim() || 'no output'}`));
    });
  });
  // The IPC channel must not keep the parent alive.
  child.channel?.unref();

  let nextId = 0;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  child.on('message', (msg: any) => {
    if (msg?.type !== 'ensured') return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error));
    else p?.resolve();
  });
  void exitPromise.then(() => {
    for (const p of pending.values()) p.reject(new Error('the Service Bus emulator exited'));
    pending.clear();
  });

  return {
    pid: child.pid ?? -1,
    port,
    connectionString: emulatorConnectionString(port, emulatorKey(options.dataDir)),
    ensureEntities(topology) {
      if (exited) return Promise.reject(new Error('the Service Bus emulator has exited'));
      const id = ++nextId;
      return new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ type: 'ensure', id, topology });
      });
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}
