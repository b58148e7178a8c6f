/**
 * `ModelBindingData` for Service Bus triggers bound to the SDK type (`sdkBinding: true`): what the
 * real host's Service Bus extension hands a language worker instead of the message body.
 *
 * The extension's encoding (`version` 1.0, `source` `AzureServiceBusReceivedMessage`,
 * `contentType` `application/octet-stream`): the content is the 16 bytes of the lock token in
 * .NET `Guid.ToByteArray()` order, followed by the received AMQP message as bytes — with the
 * lock token also in its delivery annotations (`x-opt-lock-token`), as the broker delivers it.
 * The Node and Python worker libraries find the lock token before that annotation and decode
 * the message sections after it.
 */
import type { ServiceBusReceivedMessage } from '@azure/service-bus';
import rhea from 'rhea';

/** One model binding value, as the worker protocol's `ModelBindingData` carries it. */
export interface ModelBindingData {
  version: string;
  source: string;
  contentType: string;
  content: Buffer;
}

/** The `source` the Service Bus extension gives its messages. */
export const SERVICE_BUS_MESSAGE_SOURCE = 'AzureServiceBusReceivedMessage';

/** A GUID string as .NET's `Guid.ToByteArray()` lays it out (the first three groups little-endian). */
export function dotnetGuidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a GUID: ${guid}`);
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([b.subarray(0, 4).reverse(), b.subarray(4, 6).reverse(), b.subarray(6, 8).reverse(), b.subarray(8)]);
}

type Raw = NonNullable<ServiceBusReceivedMessage['_rawAmqpMessage']>;

const TIME_ANNOTATIONS = new Set(['x-opt-enqueued-time', 'x-opt-locked-until', 'x-opt-scheduled-enqueue-time']);
const LONG_ANNOTATIONS = new Set(['x-opt-sequence-number', 'x-opt-enqueue-sequence-number']);

function annotations(values: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values ?? {})) {
    if (v === undefined) continue;
    if (TIME_ANNOTATIONS.has(k) && (v instanceof Date || typeof v === 'number')) out[k] = rhea.types.wrap_timestamp(v instanceof Date ? v.getTime() : v);
    else if (LONG_ANNOTATIONS.has(k) && (typeof v === 'number' || typeof (v as { toNumber?: unknown }).toNumber === 'function')) out[k] = rhea.types.wrap_long(typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber());
    else out[k] = v;
  }
  return out;
}

/** The body as the broker sent it: the SDK keeps the decoded section (typecode and content) in the raw message. */
function bodySection(bodyType: string, body: unknown): unknown {
  const section = body as { typecode?: unknown; content?: unknown } | null;
  if (section && typeof section === 'object' && typeof section.typecode === 'number' && 'content' in section) {
    if (section.typecode === 0x75) return rhea.message.data_section(section.content as Buffer);
    if (section.typecode === 0x76) return rhea.message.sequence_section(section.content);
    return section.content;
  }
  if (bodyType === 'value') return body;
  if (bodyType === 'sequence') return rhea.message.sequence_section(body);
  return rhea.message.data_section(Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : (JSON.stringify(body) ?? ''), 'utf8'));
}

/** The received message as AMQP bytes (header, annotations, properties, application properties, body). */
export function amqpBytes(m: ServiceBusReceivedMessage, lockToken: Buffer): Buffer {
  const raw: Raw | undefined = m._rawAmqpMessage;
  const header = raw?.header ?? {};
  const p = raw?.properties ?? {};
  const msg: Record<string, unknown> = {
    durable: header.durable,
    priority: header.priority,
    ttl: header.timeToLive,
    first_acquirer: header.firstAcquirer,
    delivery_count: m.deliveryCount ?? header.deliveryCount ?? 0,
    delivery_annotations: { ...(raw?.deliveryAnnotations ?? {}), 'x-opt-lock-token': rhea.types.wrap_uuid(lockToken) },
    message_annotations: annotations(raw?.messageAnnotations),
    message_id: p.messageId ?? m.messageId,
    user_id: (p as { userId?: unknown }).userId,
    to: p.to,
    subject: p.subject,
    reply_to: p.replyTo,
    correlation_id: p.correlationId,
    content_type: p.contentType,
    content_encoding: p.contentEncoding,
    absolute_expiry_time: p.absoluteExpiryTime,
    creation_time: p.creationTime,
    group_id: p.groupId,
    group_sequence: p.groupSequence,
    reply_to_group_id: p.replyToGroupId,
    application_properties: raw?.applicationProperties ?? m.applicationProperties ?? {},
  };
  msg.body = bodySection(raw?.bodyType ?? 'data', raw ? raw.body : m.body);
  for (const k of Object.keys(msg)) if (msg[k] === undefined || msg[k] === null) delete msg[k];
  return rhea.message.encode(msg as unknown as rhea.Message);
}

/** The model binding value of one peek-locked message. */
export function serviceBusModelBindingData(m: ServiceBusReceivedMessage): ModelBindingData {
  if (!m.lockToken) throw new Error('only peek-locked messages (with a lock token) can be bound to the SDK type');
  // The lock token string the SDK gives is the delivery tag's bytes in order.
  const tag = Buffer.from(m.lockToken.replace(/-/g, ''), 'hex');
  return {
    version: '1.0',
    source: SERVICE_BUS_MESSAGE_SOURCE,
    contentType: 'application/octet-stream',
    content: Buffer.concat([dotnetGuidBytes(m.lockToken), amqpBytes(m, tag)]),
  };
}
