/**
 * The local Service Bus emulator: the broker (SQLite under `dataDir`), the AMQP server on
 * 127.0.0.1, and the housekeeping timer (lock expiry, schedules, TTL, duplicate window).
 * `cli.ts` runs it as a process of its own; `child.ts` starts that process for the host.
 */
import { join } from 'node:path';
import { stateSecret } from '../host/state-secret.js';
import { AmqpServer } from './amqp-server.js';
import { Broker } from './broker.js';
import { EMULATOR_KEY_NAME, emulatorConnectionString } from './connection-string.js';
import { emptyTopology, type Topology } from './topology.js';


export interface EmulatorOptions {
  /** Folder of the SQLite store (created if missing). */
  dataDir: string;
  topology?: Topology;
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** The shared access key clients must sign their tokens with; default: the data folder's (`emulatorKey`). */
  key?: string;
  /** Housekeeping interval, ms (lock expiry and schedule resolution). Default 100. */
  sweepMs?: number;
  log?: (level: 'debug' | 'info' | 'warn', message: string) => void;
}

export interface RunningEmulator {
  readonly port: number;
  readonly connectionString: string;
  readonly broker: Broker;
  /** Adds queues, topics and subscriptions (existing ones are left as they are). */
  ensureEntities(topology: Topology): void;
  stop(): Promise<void>;
}

/**
 * The emulator's private shared access key for the data folder `dataDir`, created on first use
 * (`<dataDir>/.sas-key`, mode 0600). Never the public emulator key: code the app runs shares the
 * loopback the emulator listens on.
 */
export function emulatorKey(dataDir: string): string {
  return stateSecret(join(dataDir, '.sas-key'));
}

/** Opens the store, starts listening and resolves once clients can connect. */
export async function startEmulator(options: EmulatorOptions): Promise<RunningEmulator> {
  const log = options.log ?? (() => {});
  const holder: { server?: AmqpServer } = {};
  const broker = new Broker({
    dbPath: join(options.dataDir, 'servicebus.db'),
    topology: options.topology ?? emptyTopology(),
    onReady: (e) => holder.server?.onReady(e),
    log: (m) => log('warn', m),
  });
  const key = options.key ?? emulatorKey(options.dataDir);
  const server = new AmqpServer({ broker, log, keys: new Map([[EMULATOR_KEY_NAME, key]]) });
  holder.server = server;
  let port: number;
  try {
    port = await server.listen(options.port ?? 0);
  } catch (err) {
    broker.close();
    throw err;
  }
  const timer = setInterval(() => {
    try {
      broker.sweep();
    } catch (err) {
      log('warn', `housekeeping failed: ${(err as Error).message}`);
    }
  }, options.sweepMs ?? 100);
  timer.unref();
  let stopped = false;
  return {
    port,
    connectionString: emulatorConnectionString(port, key),
    broker,
    ensureEntities: (t) => broker.ensureEntities(t),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await server.close();
      broker.close();
    },
  };
}
