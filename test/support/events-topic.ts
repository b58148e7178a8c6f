// A Service Bus topic for event tests: Azurite with a `state` container (for the outbox and the
// stores), the local emulator with the `conveyor-events` topic (duplicate detection on, one
// subscription `all`), and an SDK client to read it. Shared by the event integration tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import type { ContainerClient } from '@azure/storage-blob';
import { startEmulator, type RunningEmulator } from '../../local/servicebus/emulator.js';
import { parseTopology } from '../../local/servicebus/topology.js';
import { containerClient } from '../../shared/storage/blob-store.js';
import { withAzurite } from './azurite.js';

/** The running parts of an events test. */
export interface EventsTopic {
  container: ContainerClient;
  emulator: RunningEmulator;
  /**
   * Receives what subscription `all` holds: at least `n` messages when that many come within
   * `timeoutMs`, then looks a little longer, so a duplicate beyond `n` would show.
   */
  drain(n: number, timeoutMs?: number): Promise<ServiceBusReceivedMessage[]>;
  /** Stops the client, the emulator and Azurite, and removes the emulator's folder. */
  dispose(): Promise<void>;
}

/** The emulator's topology: the `conveyor-events` topic with duplicate detection and subscription `all`. */
export const EVENTS_TOPOLOGY = parseTopology({
  UserConfig: {
    Namespaces: [
      { Name: 't', Topics: [{ Name: 'conveyor-events', Properties: { RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: 'PT10M' }, Subscriptions: [{ Name: 'all' }] }] },
    ],
  },
});

/** Starts Azurite and the emulator with the events topic. */
export async function startEventsTopic(prefix: string): Promise<EventsTopic> {
  const topology = EVENTS_TOPOLOGY;
  const azurite = await withAzurite();
  const container = containerClient(azurite.connectionString, 'state');
  await container.createIfNotExists();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const emulator = await startEmulator({ dataDir: dir, topology, sweepMs: 25 });
  const client = new ServiceBusClient(emulator.connectionString);
  return {
    container,
    emulator,
    async drain(n, timeoutMs = 5000) {
      const receiver = client.createReceiver('conveyor-events', 'all', { receiveMode: 'receiveAndDelete' });
      const out: ServiceBusReceivedMessage[] = [];
      const deadline = Date.now() + timeoutMs;
      while (out.length < n && Date.now() < deadline) out.push(...(await receiver.receiveMessages(n - out.length + 5, { maxWaitTimeInMs: 300 })));
      out.push(...(await receiver.receiveMessages(10, { maxWaitTimeInMs: 300 })));
      await receiver.close();
      return out;
    },
    async dispose() {
      await client.close();
      await emulator.stop();
      await azurite.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
