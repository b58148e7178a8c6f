#!/usr/bin/env node
/**
 * The local Service Bus emulator as a process of its own:
 *
 *   node dist/local/servicebus/cli.js --data-dir DIR [--config Config.json] [--port 5672]
 *
 * Prints `Service Bus emulator listening on 127.0.0.1:PORT` and then the connection string.
 * When started with an IPC channel (by the local host, see child.ts) it also takes
 * `{ type: 'ensure', id, topology }` messages to add entities and answers `{ type: 'ensured', id }`.
 * SIGINT/SIGTERM close it (exit 0).
 */
import { parseArgs } from 'node:util';
import { startEmulator } from './emulator.js';
import { emptyTopology, parseTopology, readTopologyFile, type Topology } from './topology.js';

function fail(message: string): never {
  process.stderr.write(`servicebus-emulator: ${message}\nusage: servicebus-emulator --data-dir DIR [--config FILE] [--port N]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ options: { 'data-dir': { type: 'string' }, config: { type: 'string' }, port: { type: 'string' } }, strict: true }));
  } catch (err) {
    fail((err as Error).message);
  }
  const dataDir = values['data-dir'];
  if (typeof dataDir !== 'string' || dataDir === '') fail('--data-dir is required');
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be a port number');
  let topology: Topology = emptyTopology();
  try {
    if (typeof values.config === 'string') topology = readTopologyFile(values.config);
  } catch (err) {
    fail((err as Error).message);
  }

  const emulator = await startEmulator({
    dataDir,
    topology,
    port,
    log: (level, message) => {
      if (level !== 'debug') process.stderr.write(`servicebus-emulator: ${level}: ${message}\n`);
    },
  });
  process.stdout.write(`Service Bus emulator listening on 127.0.0.1:${emulator.port}\n${emulator.connectionString}\n`);

  process.on('message', (msg: any) => {
    if (msg?.type !== 'ensure') return;
    try {
      emulator.ensureEntities(parseTopology(msg.topology));
      process.send?.({ type: 'ensured', id: msg.id });
    } catch (err) {
      process.send?.({ type: 'ensured', id: msg.id, error: (err as Error).message });
    }
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    emulator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`servicebus-emulator: failed to start: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
