/**
 * The emulator's entities: queues, topics and subscriptions with their rules, read from a
 * topology file in the format of the official Service Bus emulator's `Config.json`
 * (`UserConfig.Namespaces[0].Queues / Topics`), so the same file works with either.
 *
 * Only what the emulator implements is accepted: a feature it would silently ignore
 * (sessions, auto-forwarding, SQL filters and actions) is refused with the field named.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Settings of a queue or subscription that receives messages. */
export interface ReceivingOptions {
  lockDurationMs: number;
  maxDeliveryCount: number;
  /** Default and maximum time to live; Infinity when unbounded. */
  defaultTtlMs: number;
  deadLetteringOnMessageExpiration: boolean;
}

/** A correlation filter: every property named must equal the message's. */
export interface CorrelationFilter {
  correlationId?: string;
  messageId?: string;
  to?: string;
  replyTo?: string;
  subject?: string;
  sessionId?: string;
  replyToSessionId?: string;
  contentType?: string;
  /** Application properties that must be present with these values. */
  properties?: Record<string, string | number | boolean>;
}

/** A subscription rule: a correlation filter, or the constant true / false filters. */
export type RuleFilter = { kind: 'true' } | { kind: 'false' } | { kind: 'correlation'; filter: CorrelationFilter };

export interface RuleDefinition {
  name: string;
  filter: RuleFilter;
}

export interface QueueDefinition extends ReceivingOptions {
  name: string;
  requiresDuplicateDetection: boolean;
  duplicateDetectionWindowMs: number;
}

export interface SubscriptionDefinition extends ReceivingOptions {
  name: string;
  rules: RuleDefinition[];
}

export interface TopicDefinition {
  name: string;
  defaultTtlMs: number;
  requiresDuplicateDetection: boolean;
  duplicateDetectionWindowMs: number;
  subscriptions: SubscriptionDefinition[];
}

/** Every entity of the emulated namespace. */
export interface Topology {
  namespace: string;
  queues: QueueDefinition[];
  topics: TopicDefinition[];
}

/** Service Bus defaults for entities created without explicit properties. */
export const ENTITY_DEFAULTS = {
  lockDurationMs: 60_000,
  maxDeliveryCount: 10,
  defaultTtlMs: Infinity,
  deadLetteringOnMessageExpiration: false,
  requiresDuplicateDetection: false,
  duplicateDetectionWindowMs: 10 * 60_000,
} as const;

/**
 * Parses an ISO 8601 duration (`PT1M`, `P14D`, `PT0.5S`) or a .NET TimeSpan (`00:01:00`,
 * `1.00:00:00`) into milliseconds. Throws on anything else.
 */
export function parseDuration(text: string): number {
  const iso = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(text.trim());
  if (iso && text.trim().length > 1 && !/T$/i.test(text.trim())) {
    const [, d, h, m, s] = iso;
    return Math.round(((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60_000 + Number(s ?? 0) * 1000);
  }
  const span = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(text.trim());
  if (span) {
    const [, d, h, m, s, frac] = span;
    return ((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(m)) * 60_000 + Number(s) * 1000 + Math.round(Number(`0.${frac ?? '0'}`) * 1000);
  }
  throw new Error(`'${text}' is not an ISO 8601 duration (e.g. PT1M) or a TimeSpan (e.g. 00:01:00)`);
}

const duration = z.string().transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const notForwarding = z
  .string()
  .optional()
  .refine((v) => v === undefined || v === '', { message: 'auto-forwarding is not emulated; leave it empty' });

const receivingProps = {
  LockDuration: duration.optional(),
  MaxDeliveryCount: z.number().int().min(1).optional(),
  DefaultMessageTimeToLive: duration.optional(),
  DeadLetteringOnMessageExpiration: z.boolean().optional(),
  ForwardTo: notForwarding,
  ForwardDeadLetteredMessagesTo: notForwarding,
  RequiresSession: z
    .boolean()
    .optional()
    .refine((v) => v !== true, { message: 'sessions are not emulated' }),
};

const dedupeProps = {
  RequiresDuplicateDetection: z.boolean().optional(),
  DuplicateDetectionHistoryTimeWindow: duration.optional(),
};

const propertyValue = z.union([z.string(), z.number(), z.boolean()]);

const correlationSchema = z
  .object({
    CorrelationId: z.string().optional(),
    MessageId: z.string().optional(),
    To: z.string().optional(),
    ReplyTo: z.string().optional(),
    Label: z.string().optional(),
    Subject: z.string().optional(),
    SessionId: z.string().optional(),
    ReplyToSessionId: z.string().optional(),
    ContentType: z.string().optional(),
    Properties: z.record(z.string(), propertyValue).optional(),
  })
  .strict();

const ruleSchema = z.object({
  Name: z.string().min(1).max(50),
  Properties: z.object({
    FilterType: z.enum(['Correlation', 'Sql', 'True', 'False']),
    CorrelationFilter: correlationSchema.optional(),
    SqlFilter: z.object({ SqlExpression: z.string() }).optional(),
    Action: z
      .unknown()
      .optional()
      .refine((v) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0), { message: 'rule actions are not emulated' }),
  }),
});

const entityName = z.string().min(1).max(260).regex(/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/, 'letters, digits, ".", "-", "_" and "/" only');

const queueSchema = z.object({ Name: entityName, Properties: z.object({ ...receivingProps, ...dedupeProps }).optional() });
const subscriptionSchema = z.object({ Name: entityName, Properties: z.object(receivingProps).optional(), Rules: z.array(ruleSchema).optional() });
const topicSchema = z.object({
  Name: entityName,
  Properties: z.object({ DefaultMessageTimeToLive: duration.optional(), ...dedupeProps }).optional(),
  Subscriptions: z.array(subscriptionSchema).optional(),
});

/** The topology file: the official emulator's `Config.json` layout. */
export const topologyFileSchema = z.object({
  UserConfig: z.object({
    Namespaces: z
      .array(z.object({ Name: z.string().min(1), Queues: z.array(queueSchema).optional(), Topics: z.array(topicSchema).optional() }))
      .min(1)
      .max(1, 'the emulator serves one namespace'),
  }),
});

/** The topology file as written; what `ensureEntities` takes too. */
export type TopologyFile = z.input<typeof topologyFileSchema>;

function toFilter(rule: z.output<typeof ruleSchema>, where: string): RuleFilter {
  const p = rule.Properties;
  if (p.FilterType === 'True') return { kind: 'true' };
  if (p.FilterType === 'False') return { kind: 'false' };
  if (p.FilterType === 'Sql') {
    const expr = (p.SqlFilter?.SqlExpression ?? '').replace(/\s+/g, '');
    if (expr === '1=1') return { kind: 'true' };
    if (expr === '1=0') return { kind: 'false' };
    throw new Error(`${where}: SQL filters are not emulated (only "1=1" and "1=0"); use a correlation filter`);
  }
  const c = p.CorrelationFilter;
  if (!c) throw new Error(`${where}: FilterType Correlation needs a CorrelationFilter`);
  return {
    kind: 'correlation',
    filter: {
      correlationId: c.CorrelationId,
      messageId: c.MessageId,
      to: c.To,
      replyTo: c.ReplyTo,
      subject: c.Subject ?? c.Label,
      sessionId: c.SessionId,
      replyToSessionId: c.ReplyToSessionId,
      contentType: c.ContentType,
      properties: c.Properties,
    },
  };
}

function receiving(p: { LockDuration?: number; MaxDeliveryCount?: number; DefaultMessageTimeToLive?: number; DeadLetteringOnMessageExpiration?: boolean } | undefined): ReceivingOptions {
  return {
    lockDurationMs: p?.LockDuration ?? ENTITY_DEFAULTS.lockDurationMs,
    maxDeliveryCount: p?.MaxDeliveryCount ?? ENTITY_DEFAULTS.maxDeliveryCount,
    defaultTtlMs: p?.DefaultMessageTimeToLive ?? ENTITY_DEFAULTS.defaultTtlMs,
    deadLetteringOnMessageExpiration: p?.DeadLetteringOnMessageExpiration ?? ENTITY_DEFAULTS.deadLetteringOnMessageExpiration,
  };
}

/** Validates a topology document; errors name the offending path. */
export function parseTopology(doc: unknown): Topology {
  const parsed = topologyFileSchema.safeParse(doc);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`topology: ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  const ns = parsed.data.UserConfig.Namespaces[0]!;
  const seen = new Set<string>();
  const unique = (name: string, what: string) => {
    const key = name.toLowerCase();
    if (seen.has(key)) throw new Error(`topology: ${what} '${name}' is defined twice (entity names are case-insensitive)`);
    seen.add(key);
  };
  const queues = (ns.Queues ?? []).map((q) => {
    unique(q.Name, 'entity');
    return {
      name: q.Name,
      ...receiving(q.Properties),
      requiresDuplicateDetection: q.Properties?.RequiresDuplicateDetection ?? ENTITY_DEFAULTS.requiresDuplicateDetection,
      duplicateDetectionWindowMs: q.Properties?.DuplicateDetectionHistoryTimeWindow ?? ENTITY_DEFAULTS.duplicateDetectionWindowMs,
    };
  });
  const topics = (ns.Topics ?? []).map((t) => {
    unique(t.Name, 'entity');
    const subNames = new Set<string>();
    return {
      name: t.Name,
      defaultTtlMs: t.Properties?.DefaultMessageTimeToLive ?? ENTITY_DEFAULTS.defaultTtlMs,
      requiresDuplicateDetection: t.Properties?.RequiresDuplicateDetection ?? ENTITY_DEFAULTS.requiresDuplicateDetection,
      duplicateDetectionWindowMs: t.Properties?.DuplicateDetectionHistoryTimeWindow ?? ENTITY_DEFAULTS.duplicateDetectionWindowMs,
      subscriptions: (t.Subscriptions ?? []).map((s) => {
        if (subNames.has(s.Name.toLowerCase())) throw new Error(`topology: subscription '${s.Name}' of topic '${t.Name}' is defined twice`);
        subNames.add(s.Name.toLowerCase());
        const rules = (s.Rules ?? []).map((r) => ({ name: r.Name, filter: toFilter(r, `topic '${t.Name}' subscription '${s.Name}' rule '${r.Name}'`) }));
        return { name: s.Name, ...receiving(s.Properties), rules: rules.length > 0 ? rules : [{ name: '$Default', filter: { kind: 'true' } as RuleFilter }] };
      }),
    };
  });
  return { namespace: ns.Name, queues, topics };
}

/** Reads and validates a topology file. */
export function readTopologyFile(path: string): Topology {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`topology file ${path}: ${(err as Error).message}`);
  }
  return parseTopology(doc);
}

/** An empty namespace. */
export function emptyTopology(namespace = 'conveyor-local'): Topology {
  return { namespace, queues: [], topics: [] };
}

/**
 * Adds the entities of `extra` that `base` lacks (by case-insensitive name; subscriptions of
 * an existing topic are merged the same way). Existing definitions win: a topology file's
 * explicit properties are never replaced by defaults.
 */
export function mergeTopology(base: Topology, extra: Topology): Topology {
  const queues = [...base.queues];
  const topics = base.topics.map((t) => ({ ...t, subscriptions: [...t.subscriptions] }));
  const names = new Set([...queues.map((q) => q.name.toLowerCase()), ...topics.map((t) => t.name.toLowerCase())]);
  for (const q of extra.queues) {
    if (!names.has(q.name.toLowerCase())) {
      queues.push(q);
      names.add(q.name.toLowerCase());
    }
  }
  for (const t of extra.topics) {
    const existing = topics.find((x) => x.name.toLowerCase() === t.name.toLowerCase());
    if (!existing) {
      if (names.has(t.name.toLowerCase())) throw new Error(`'${t.name}' is a queue, not a topic`);
      topics.push({ ...t, subscriptions: [...t.subscriptions] });
      names.add(t.name.toLowerCase());
      continue;
    }
    for (const s of t.subscriptions) {
      if (!existing.subscriptions.some((x) => x.name.toLowerCase() === s.name.toLowerCase())) existing.subscriptions.push(s);
    }
  }
  return { namespace: base.namespace, queues, topics };
}
