/**
 * Publishing events at least once without ever failing a deployment: an activity, after its own
 * record is stored, publishes the events of that change to the Service Bus topic; when the topic
 * does not acknowledge (in time), it writes them to an outbox in blob storage (the same storage
 * its record went to) instead, and the `flushEvents` timer publishes them later. Should the
 * process die between the record and the publish, the activity has not completed, so the
 * durable runtime runs it again, and it builds and publishes the same events; since each
 * event's message id is its stable CloudEvents id, a repeated publish is dropped by the topic's
 * duplicate detection. (Writing the outbox first and removing it after the publish, as an
 * earlier version did, cost two storage round trips per change for the same guarantee.)
 */
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../errors.js';
import { createJson, deleteBlob, listAllNames, readJson } from '../storage/blob-store.js';
import { cloudEventSchema, type CloudEvent } from './cloud-event.js';

/** Sends events to the topic (a port: Service Bus in production and locally, a fake in tests). */
export interface EventPublisher {
  /** Resolves once the broker acknowledged every event. */
  publish(events: readonly CloudEvent[]): Promise<void>;
  close(): Promise<void>;
}

/** Events waiting to be published, one blob per recorded change. */
export class EventOutbox {
  constructor(
    private readonly container: ContainerClient,
    private readonly prefix = 'event-outbox/',
  ) {}

  /** Stores events; the same events stored twice (a retried activity) are stored once. Resolves the blob name. */
  async add(events: readonly CloudEvent[]): Promise<string> {
    const first = events[0]!;
    const name = `${this.prefix}${first.time.replace(/[^0-9]/g, '').slice(0, 17)}-${first.id}.json`;
    try {
      await createJson(this.container, name, events);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
    return name;
  }

  /** Names of the waiting batches, oldest first. */
  async waiting(): Promise<string[]> {
    return (await listAllNames(this.container, this.prefix)).sort();
  }

  async read(name: string): Promise<CloudEvent[]> {
    return (await readJson(this.container, name, z.array(cloudEventSchema))).value as CloudEvent[];
  }

  /** Removes a published batch (already gone is fine). */
  async remove(name: string): Promise<void> {
    await deleteBlob(this.container, name).catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) throw err;
    });
  }
}

export interface EventBusOptions {
  outbox: EventOutbox;
  /** Absent when no Service Bus is configured: events are then not recorded at all. */
  publisher?: EventPublisher;
  /** How long an activity waits for the topic before leaving its events to the timer. */
  publishTimeoutMs?: number;
  /** After a failed publish, activities only write the outbox for this long. */
  backoffMs?: number;
  now?: () => number;
  log?: (message: string) => void;
}

/** Records and publishes events (see the module comment). */
export class EventBus {
  private downUntil = 0;

  constructor(private readonly options: EventBusOptions) {}

  /** True when a Service Bus is configured. */
  get enabled(): boolean {
    return this.options.publisher !== undefined;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async publishWithin(events: readonly CloudEvent[]): Promise<void> {
    const timeoutMs = this.options.publishTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.options.publisher!.publish(events),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the topic did not acknowledge within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Records events of one change: published to the topic when it acknowledges in time, otherwise
   * kept in the outbox for the timer (a storage failure then throws, so the activity is retried).
   * While the topic is known to be down, events go straight to the outbox.
   */
  async record(events: readonly CloudEvent[]): Promise<void> {
    if (!this.enabled || events.length === 0) return;
    if (this.now() >= this.downUntil) {
      try {
        await this.publishWithin(events);
        return;
      } catch (err) {
        this.downUntil = this.now() + (this.options.backoffMs ?? 30_000);
        this.options.log?.(`events: publish delayed (${(err as Error).message}); they wait in the outbox`);
      }
    }
    await this.options.outbox.add(events);
  }

  /** Publishes everything waiting in the outbox, oldest first; stops at the first failure. Resolves how many events went out. */
  async flush(): Promise<number> {
    if (!this.enabled) return 0;
    let sent = 0;
    for (const name of await this.options.outbox.waiting()) {
      const events = await this.options.outbox.read(name);
      try {
        await this.publishWithin(events);
      } catch (err) {
        this.downUntil = this.now() + (this.options.backoffMs ?? 30_000);
        this.options.log?.(`events: flush stopped (${(err as Error).message}); ${name} and later batches wait`);
        return sent;
      }
      await this.options.outbox.remove(name);
      sent += events.length;
    }
    this.downUntil = 0;
    return sent;
  }
}
