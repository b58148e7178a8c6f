/**
 * `npm start` prints Conveyor's deployment events as they are published: a receiver on the
 * demo topology's `demo-console` subscription of the `conveyor-events` topic (docs/events.md),
 * one line per CloudEvent.
 */
import { ServiceBusClient, type ServiceBusReceiver } from '@azure/service-bus';

/** Stops printing. */
export interface EventPrinter {
  stop(): Promise<void>;
}

/** Starts printing events with `print`; undefined when Conveyor has no Service Bus. */
export function printEvents(connectionString: string | undefined, print: (line: string) => void, style: (s: string) => string): EventPrinter | undefined {
  if (!connectionString || !/Endpoint=/i.test(connectionString)) return undefined;
  const client = new ServiceBusClient(connectionString);
  const receiver: ServiceBusReceiver = client.createReceiver('conveyor-events', 'demo-console', { receiveMode: 'receiveAndDelete' });
  const sub = receiver.subscribe({
    processMessage: async (m) => {
      const e = m.body as { type?: string; source?: string; subject?: string; data?: Record<string, unknown> };
      const detail = [e.data?.status, e.data?.outcome, e.data?.reason].filter((x) => typeof x === 'string').join(' ');
      print(style(`event ${e.type ?? '?'} ${e.source ?? ''} ${e.subject ?? ''}${detail ? ` (${String(detail).slice(0, 120)})` : ''}`));
    },
    processError: async () => {},
  });
  return {
    async stop() {
      await sub.close().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}
