/**
 * The event publisher on Azure Service Bus: each CloudEvent becomes one message in
 * structured mode (`content-type: application/cloudevents+json`, the event as the JSON body),
 * with the event id as the message id (the topic's duplicate detection drops repeats) and the
 * type, app, environment and status as application properties for subscription filters.
 */
import type { ServiceBusClient, ServiceBusMessage, ServiceBusSender } from '@azure/service-bus';
import { filterProperties, type CloudEvent } from './cloud-event.js';
import type { EventPublisher } from './event-bus.js';

/** Where the namespace is: a connection string, or a namespace reached with the managed identity. */
export type ServiceBusConnection = { connectionString: string } | { namespace: string };

/** The Service Bus message for an event. */
export function toServiceBusMessage(event: CloudEvent): ServiceBusMessage {
  return {
    messageId: event.id,
    contentType: 'application/cloudevents+json',
    subject: event.type,
    body: event,
    applicationProperties: filterProperties(event),
  };
}

/** Builds a Service Bus client for a connection (the SDKs load on first use). */
export async function serviceBusClient(connection: ServiceBusConnection): Promise<ServiceBusClient> {
  const { ServiceBusClient: Client } = await import('@azure/service-bus');
  if ('connectionString' in connection) return new Client(connection.connectionString);
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new Client(connection.namespace, new DefaultAzureCredential());
}

/** Publishes events to one topic. */
export class ServiceBusEventPublisher implements EventPublisher {
  private sender?: Promise<{ client: ServiceBusClient; sender: ServiceBusSender }>;

  constructor(
    private readonly connection: ServiceBusConnection,
    private readonly topic: string,
  ) {}

  private open(): Promise<{ client: ServiceBusClient; sender: ServiceBusSender }> {
    this.sender ??= serviceBusClient(this.connection).then((client) => ({ client, sender: client.createSender(this.topic) }));
    return this.sender;
  }

  async publish(events: readonly CloudEvent[]): Promise<void> {
    if (events.length === 0) return;
    const { sender } = await this.open();
    // Small groups keep every send within one message batch.
    for (let i = 0; i < events.length; i += 20) await sender.sendMessages(events.slice(i, i + 20).map(toServiceBusMessage));
  }

  async close(): Promise<void> {
    const opened = await this.sender?.catch(() => undefined);
    this.sender = undefined;
    await opened?.client.close();
  }
}
