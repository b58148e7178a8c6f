/**
 * CloudEvents 1.0 (JSON, structured mode) built from the catalogue's zod schemas. The `id` is
 * derived from what changed, so building the same change twice (a retried activity) gives the
 * same id and the topic's duplicate detection drops the second publish.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { eventDefinition } from './event-catalogue.js';

/** A CloudEvents 1.0 event as Conveyor publishes it. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
}

/** Validates a CloudEvent read back from storage (the outbox). */
export const cloudEventSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1),
  type: z.string().min(1),
  source: z.string().min(1),
  subject: z.string(),
  time: z.string(),
  datacontenttype: z.literal('application/json'),
  data: z.record(z.string(), z.unknown()),
});

/** What identifies a change: same parts, same event id. */
export function stableEventId(type: string, source: string, subject: string, change: string): string {
  return createHash('sha256').update(`${type}\n${source}\n${subject}\n${change}`).digest('hex').slice(0, 32);
}

/**
 * Builds an event of a catalogued type; `data` is checked against the type's schema (a
 * programming error throws), `change` names the state change for the stable id.
 */
export function buildEvent(type: string, parts: { source: string; subject: string; data: Record<string, unknown>; time: string; change: string }): CloudEvent {
  const def = eventDefinition(type);
  if (!def) throw new ValidationError(`unknown event type ${type}`, [{ path: 'type', message: 'not in the event catalogue' }]);
  const parsed = def.data.safeParse(parts.data);
  if (!parsed.success) {
    throw new ValidationError(`event ${type} has invalid data`, parsed.error.issues.map((i) => ({ path: `data.${i.path.join('.')}`, message: i.message })));
  }
  return {
    specversion: '1.0',
    id: stableEventId(type, parts.source, parts.subject, parts.change),
    type,
    source: parts.source,
    subject: parts.subject,
    time: parts.time,
    datacontenttype: 'application/json',
    data: parsed.data as Record<string, unknown>,
  };
}

/** Application properties for subscription filters: type, app, environment, status. */
export function filterProperties(event: CloudEvent): Record<string, string> {
  const props: Record<string, string> = { type: event.type };
  for (const key of ['app', 'environment', 'status'] as const) {
    const v = event.data[key];
    if (typeof v === 'string') props[key] = v;
  }
  return props;
}
