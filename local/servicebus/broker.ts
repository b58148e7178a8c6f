/**
 * The emulator's message store and its rules, independent of AMQP: queues, topic fan-out
 * through subscription rules, peek-lock with lock duration and renewal, receive-and-delete,
 * complete / abandon / dead-letter / defer, delivery count and max delivery count, message
 * time to live, duplicate detection by message id, scheduled messages, dead-letter queues.
 *
 * SQLite (WAL) holds every message; each operation that a client is told succeeded has been
 * committed first, so killing the process loses nothing acknowledged. In memory there are
 * only indexes rebuilt at start-up: the ready sequence numbers per entity, the locks, and the
 * schedule. Everything runs on one thread, so operations never interleave.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import rhea from 'rhea';
import { MinHeap } from './heap.js';
import type { CorrelationFilter, ReceivingOptions, RuleDefinition, Topology } from './topology.js';

/** An AMQP message as rhea decodes it. */
export type AmqpMessage = Record<string, any>;

/** An error with the AMQP condition the client maps to its own error type. */
export class BrokerError extends Error {
  constructor(
    readonly condition: string,
    message: string,
  ) {
    super(message);
    this.name = 'BrokerError';
  }
}

/** Largest message accepted (encoded), as on the Standard tier. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

export const CONDITION = {
  lockLost: 'com.microsoft:message-lock-lost',
  messageNotFound: 'com.microsoft:message-not-found',
  notFound: 'amqp:not-found',
  notAllowed: 'amqp:not-allowed',
  argument: 'com.microsoft:argument-error',
  notImplemented: 'amqp:not-implemented',
  tooLarge: 'amqp:link:message-size-exceeded',
} as const;

/** Message states as the `x-opt-message-state` annotation numbers them. */
export const STATE = { active: 0, deferred: 1, scheduled: 2 } as const;

export const DLQ_SUFFIX = '/$deadletterqueue';

export type ReceiveMode = 'peekLock' | 'receiveAndDelete';

interface Row {
  entity: string;
  seq: number;
  state: number;
  enqueued_at: number;
  expires_at: number | null;
  delivery_count: number;
  lock_token: string | null;
  locked_until: number | null;
  message_id: string | null;
  body: Buffer;
  dead_letter_source: string | null;
}

/** A message handed to a receiver. */
export interface Delivered {
  seq: number;
  /** Lock token (peek-lock only). */
  lockToken?: string;
  lockedUntil?: number;
  /** The encoded AMQP message with the broker's header and annotations. */
  bytes: Buffer;
}

/** A queue, subscription or dead-letter queue: something messages are received from. */
export interface ReceivableEntity {
  readonly path: string;
  readonly name: string;
  readonly kind: 'queue' | 'subscription' | 'deadletter';
  readonly options: ReceivingOptions;
  readonly ready: MinHeap<number>;
  readonly readySet: Set<number>;
  readonly parent?: ReceivableEntity;
  dlq?: ReceivableEntity;
}

interface SendTarget {
  readonly path: string;
  readonly name: string;
  readonly kind: 'queue' | 'topic';
  readonly dedupe: boolean;
  readonly dedupeWindowMs: number;
  readonly defaultTtlMs: number;
  /** Queue: itself; topic: its subscriptions with their rules. */
  readonly receivers: { entity: ReceivableEntity; rules: RuleDefinition[] | null }[];
}

interface Lock {
  entity: ReceivableEntity;
  seq: number;
  until: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  entity TEXT NOT NULL,
  seq INTEGER NOT NULL,
  state INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  expires_at INTEGER,
  delivery_count INTEGER NOT NULL DEFAULT 0,
  lock_token TEXT,
  locked_until INTEGER,
  message_id TEXT,
  body BLOB NOT NULL,
  dead_letter_source TEXT,
  PRIMARY KEY (entity, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS dedupe (
  entity TEXT NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (entity, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/** Lower-cased entity path without a leading slash; `Subscriptions` spelled any way. */
export function normalizePath(address: string): string {
  return address.replace(/^\/+/, '').replace(/\/+$/, '').toLowerCase();
}

/** The message id as the duplicate-detection key (ids may be strings, numbers, binary or uuids). */
function messageIdKey(id: unknown): string | null {
  if (id === undefined || id === null) return null;
  if (typeof id === 'string') return id;
  if (Buffer.isBuffer(id)) return `0x${id.toString('hex')}`;
  return String(id);
}

function propEquals(actual: unknown, wanted: unknown): boolean {
  if (actual === undefined || actual === null) return false;
  if (Buffer.isBuffer(actual)) return false;
  return String(actual) === String(wanted);
}

/** True when the message matches a correlation filter (every property it names must be equal). */
export function matchesCorrelation(msg: AmqpMessage, f: CorrelationFilter): boolean {
  const checks: [unknown, string | undefined][] = [
    [msg.correlation_id, f.correlationId],
    [msg.message_id, f.messageId],
    [msg.to, f.to],
    [msg.reply_to, f.replyTo],
    [msg.subject, f.subject],
    [msg.group_id, f.sessionId],
    [msg.reply_to_group_id, f.replyToSessionId],
    [msg.content_type, f.contentType],
  ];
  for (const [actual, wanted] of checks) if (wanted !== undefined && !propEquals(actual, wanted)) return false;
  for (const [k, v] of Object.entries(f.properties ?? {})) {
    if (!propEquals(msg.application_properties?.[k], v)) return false;
  }
  return true;
}

function matchesRules(msg: AmqpMessage, rules: RuleDefinition[]): boolean {
  return rules.some((r) => r.filter.kind === 'true' || (r.filter.kind === 'correlation' && matchesCorrelation(msg, r.filter.filter)));
}

/** The scheduled enqueue time a sender asked for, if any. */
function scheduledTime(msg: AmqpMessage): number | undefined {
  const v = msg.message_annotations?.['x-opt-scheduled-enqueue-time'];
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number') return v;
  return undefined;
}

export interface BrokerOptions {
  /** SQLite file. */
  dbPath: string;
  topology: Topology;
  /** Clock (tests). */
  now?: () => number;
  /** Called when messages became ready on an entity (receivers should be offered them). */
  onReady?: (entity: ReceivableEntity) => void;
  /** Diagnostics. */
  log?: (message: string) => void;
}

/** The message store and delivery rules of one emulated namespace. */
export class Broker {
  readonly db: Database.Database;
  readonly #now: () => number;
  readonly #onReady: (entity: ReceivableEntity) => void;
  readonly #log: (message: string) => void;
  readonly #receivable = new Map<string, ReceivableEntity>();
  readonly #targets = new Map<string, SendTarget>();
  readonly #locks = new Map<string, Lock>();
  readonly #lockExpiry = new MinHeap<{ token: string; until: number }>((a, b) => a.until < b.until);
  readonly #schedule = new MinHeap<{ entity: string; seq: number; at: number }>((a, b) => a.at < b.at);
  #topology: Topology;
  #seq = 0;
  #afterCommit: (() => void)[] = [];
  #commitScheduled = false;
  readonly #st: ReturnType<Broker['prepare']>;

  constructor(options: BrokerOptions) {
    this.#now = options.now ?? Date.now;
    this.#onReady = options.onReady ?? (() => {});
    this.#log = options.log ?? (() => {});
    this.#topology = options.topology;
    mkdirSync(dirname(options.dbPath), { recursive: true });
    // A host restarted right after a crash may start its emulator while the previous one is
    // still shutting down: wait for its lock rather than fail.
    this.db = new Database(options.dbPath, { timeout: 10_000 });
    // One emulator per data folder: a second one would hand out the same messages twice.
    this.db.pragma('locking_mode = EXCLUSIVE');
    this.db.pragma('journal_mode = WAL');
    // A committed transaction survives the process being killed (it is in the OS's cache);
    // only a power cut could lose the last ones, as with the durable backend.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.#st = this.prepare();
    this.#buildEntities(options.topology);
    this.#recover();
  }

  /**
   * Group commit: the first write of an event-loop turn opens a transaction that every other
   * write of the turn joins; it commits on `setImmediate`, and only then do the acknowledgements
   * queued with {@link Broker.afterCommit} go out. One commit per turn instead of one per
   * message, and still nothing is acknowledged before it is on disk. (A failing COMMIT throws
   * out of the timer and ends the process: a restart recovers from what was committed.)
   */
  #group(): void {
    if (this.db.inTransaction) return;
    this.db.exec('BEGIN');
    if (!this.#commitScheduled) {
      this.#commitScheduled = true;
      setImmediate(() => this.commit());
    }
  }

  /** Commits the open group (if any) and runs what waited for it. */
  commit(): void {
    this.#commitScheduled = false;
    if (this.db.open && this.db.inTransaction) this.db.exec('COMMIT');
    const waiting = this.#afterCommit;
    this.#afterCommit = [];
    for (const cb of waiting) cb();
  }

  /** Runs `cb` once everything written so far is committed (at once when nothing is pending). */
  afterCommit(cb: () => void): void {
    if (!this.db.inTransaction) cb();
    else this.#afterCommit.push(cb);
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare(
        'INSERT INTO messages (entity, seq, state, enqueued_at, expires_at, delivery_count, message_id, body, dead_letter_source) VALUES (?, ?, ?, ?, ?, 0, ?, ?, NULL)',
      ),
      get: db.prepare<[string, number], Row>('SELECT * FROM messages WHERE entity = ? AND seq = ?'),
      delete: db.prepare('DELETE FROM messages WHERE entity = ? AND seq = ?'),
      lock: db.prepare('UPDATE messages SET lock_token = ?, locked_until = ?, delivery_count = delivery_count + 1 WHERE entity = ? AND seq = ?'),
      unlock: db.prepare('UPDATE messages SET lock_token = NULL, locked_until = NULL WHERE entity = ? AND seq = ?'),
      unlockWithBody: db.prepare('UPDATE messages SET lock_token = NULL, locked_until = NULL, state = ?, body = ? WHERE entity = ? AND seq = ?'),
      setState: db.prepare('UPDATE messages SET lock_token = NULL, locked_until = NULL, state = ? WHERE entity = ? AND seq = ?'),
      renew: db.prepare('UPDATE messages SET locked_until = ? WHERE entity = ? AND seq = ?'),
      moveToDlq: db.prepare(
        'UPDATE messages SET entity = ?, state = 0, lock_token = NULL, locked_until = NULL, expires_at = NULL, body = ?, dead_letter_source = ? WHERE entity = ? AND seq = ?',
      ),
      activate: db.prepare('UPDATE messages SET state = 0 WHERE entity = ? AND seq = ?'),
      peek: db.prepare<[string, number, number], Row>('SELECT * FROM messages WHERE entity = ? AND seq >= ? ORDER BY seq LIMIT ?'),
      dedupeGet: db.prepare<[string, string], { expires_at: number }>('SELECT expires_at FROM dedupe WHERE entity = ? AND message_id = ?'),
      dedupePut: db.prepare('INSERT OR REPLACE INTO dedupe (entity, message_id, expires_at) VALUES (?, ?, ?)'),
      dedupeSweep: db.prepare('DELETE FROM dedupe WHERE expires_at <= ?'),
      expired: db.prepare<[number], { entity: string; seq: number }>(
        'SELECT entity, seq FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ? AND lock_token IS NULL AND state != 2 LIMIT 500',
      ),
      seqGet: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'seq'"),
      seqPut: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('seq', ?)"),
      maxSeq: db.prepare<[], { m: number | null }>('SELECT MAX(seq) AS m FROM messages'),
    };
  }

  #buildEntities(topology: Topology): void {
    const receivable = (path: string, name: string, kind: 'queue' | 'subscription', options: ReceivingOptions): ReceivableEntity => {
      const existing = this.#receivable.get(path);
      if (existing) return existing;
      const e: ReceivableEntity = { path, name, kind, options, ready: new MinHeap<number>((a, b) => a < b), readySet: new Set() };
      const dlq: ReceivableEntity = {
        path: path + DLQ_SUFFIX,
        name: name + DLQ_SUFFIX,
        kind: 'deadletter',
        options: { lockDurationMs: options.lockDurationMs, maxDeliveryCount: Infinity, defaultTtlMs: Infinity, deadLetteringOnMessageExpiration: false },
        ready: new MinHeap<number>((a, b) => a < b),
        readySet: new Set(),
        parent: e,
      };
      e.dlq = dlq;
      this.#receivable.set(path, e);
      this.#receivable.set(dlq.path, dlq);
      return e;
    };
    for (const q of topology.queues) {
      const path = normalizePath(q.name);
      if (this.#targets.has(path)) continue;
      const e = receivable(path, q.name, 'queue', q);
      this.#targets.set(path, {
        path,
        name: q.name,
        kind: 'queue',
        dedupe: q.requiresDuplicateDetection,
        dedupeWindowMs: q.duplicateDetectionWindowMs,
        defaultTtlMs: q.defaultTtlMs,
        receivers: [{ entity: e, rules: null }],
      });
    }
    for (const t of topology.topics) {
      const path = normalizePath(t.name);
      const existing = this.#targets.get(path);
      const receivers = existing?.receivers ?? [];
      for (const s of t.subscriptions) {
        const subPath = `${path}/subscriptions/${s.name.toLowerCase()}`;
        if (this.#receivable.has(subPath)) continue;
        receivers.push({ entity: receivable(subPath, `${t.name}/Subscriptions/${s.name}`, 'subscription', s), rules: s.rules });
      }
      if (!existing) {
        this.#targets.set(path, {
          path,
          name: t.name,
          kind: 'topic',
          dedupe: t.requiresDuplicateDetection,
          dedupeWindowMs: t.duplicateDetectionWindowMs,
          defaultTtlMs: t.defaultTtlMs,
          receivers,
        });
      }
    }
  }

  /** Rebuilds the in-memory indexes from the database (start-up). */
  #recover(): void {
    const stored = this.#st.seqGet.get()?.value ?? 0;
    this.#seq = Math.max(stored, this.#st.maxSeq.get()?.m ?? 0);
    const now = this.#now();
    let orphans = 0;
    for (const row of this.db.prepare<[], Omit<Row, 'body'>>('SELECT entity, seq, state, enqueued_at, expires_at, delivery_count, lock_token, locked_until, message_id, dead_letter_source FROM messages').all()) {
      if (row.state === STATE.scheduled) {
        if (!this.#targets.has(row.entity) && !this.#receivable.has(row.entity)) orphans++;
        else this.#schedule.push({ entity: row.entity, seq: row.seq, at: row.enqueued_at });
        continue;
      }
      const e = this.#receivable.get(row.entity);
      if (!e) {
        orphans++;
        continue;
      }
      if (row.lock_token && row.locked_until && row.locked_until > now) {
        this.#locks.set(row.lock_token, { entity: e, seq: row.seq, until: row.locked_until });
        this.#lockExpiry.push({ token: row.lock_token, until: row.locked_until });
      } else if (row.lock_token) {
        // The lock ran out while the emulator was down: the delivery attempt counts.
        this.#st.unlock.run(row.entity, row.seq);
        if (row.state === STATE.active) this.#afterRelease(e, row.seq, row.delivery_count);
      } else if (row.state === STATE.active) {
        this.#makeReady(e, row.seq);
      }
    }
    if (orphans > 0) this.#log(`${orphans} stored message(s) belong to entities the topology no longer has; they are kept but not served`);
  }

  /** Adds entities (existing ones keep their settings and messages). */
  ensureEntities(extra: Topology): void {
    this.#buildEntities(extra);
    this.#topology = { ...this.#topology, queues: [...this.#topology.queues, ...extra.queues], topics: [...this.#topology.topics, ...extra.topics] };
  }

  /** The entity a receiver reads from, by address (`q`, `q/$deadletterqueue`, `t/Subscriptions/s`). */
  receivable(address: string): ReceivableEntity | undefined {
    return this.#receivable.get(normalizePath(address));
  }

  /** True when the address names a queue or topic that accepts messages. */
  canSendTo(address: string): boolean {
    return this.#targets.has(normalizePath(address));
  }

  /** Every receivable entity (queues, subscriptions and their dead-letter queues). */
  entities(): ReceivableEntity[] {
    return [...this.#receivable.values()];
  }

  get topology(): Topology {
    return this.#topology;
  }

  #nextSeq(): number {
    this.#seq += 1;
    return this.#seq;
  }

  #makeReady(e: ReceivableEntity, seq: number): void {
    if (e.readySet.has(seq)) return;
    e.readySet.add(seq);
    e.ready.push(seq);
  }

  #target(address: string): SendTarget {
    const t = this.#targets.get(normalizePath(address));
    if (!t) {
      if (this.#receivable.has(normalizePath(address))) throw new BrokerError(CONDITION.notAllowed, `'${address}' cannot be sent to`);
      throw new BrokerError(CONDITION.notFound, `The messaging entity '${address}' could not be found.`);
    }
    return t;
  }

  /**
   * Enqueues messages sent to a queue or topic, in one transaction. Duplicates (same message
   * id within the window, when the entity detects them) are accepted and dropped, as Service
   * Bus does. Returns the sequence numbers assigned (0 for a dropped duplicate).
   */
  send(address: string, messages: AmqpMessage[], scheduleAt?: number): number[] {
    this.#group();
    const target = this.#target(address);
    const now = this.#now();
    const touched = new Set<ReceivableEntity>();
    // Everything that can refuse the send is checked before anything is written.
    const prepared = messages.map((msg) => {
      // Service Bus gives every message an id; a sender that set none gets one from the broker.
      if (msg.message_id === undefined || msg.message_id === null) msg.message_id = randomUUID().replace(/-/g, '');
      const at = scheduleAt ?? scheduledTime(msg);
      if (scheduleAt !== undefined && at !== undefined && at > now) {
        msg.message_annotations = { ...(msg.message_annotations ?? {}), 'x-opt-scheduled-enqueue-time': new Date(at) };
      }
      const encoded = rhea.message.encode(msg);
      if (encoded.length > MAX_MESSAGE_BYTES) {
        throw new BrokerError(CONDITION.tooLarge, `The message of ${encoded.length} bytes exceeds the maximum size of ${MAX_MESSAGE_BYTES} bytes.`);
      }
      return { msg, at, encoded, idKey: messageIdKey(msg.message_id) };
    });
    const write = () => {
      const out: number[] = [];
      for (const { msg, at, encoded, idKey } of prepared) {
        const dedupe = target.dedupe && idKey !== null;
        if (dedupe) {
          const seen = this.#st.dedupeGet.get(target.path, idKey);
          if (seen && seen.expires_at > now) {
            out.push(0);
            continue;
          }
        }
        const seq = this.#nextSeq();
        out.push(seq);
        if (at !== undefined && at > now) {
          this.#st.insert.run(target.path, seq, STATE.scheduled, at, null, idKey, encoded);
          this.#schedule.push({ entity: target.path, seq, at });
        } else {
          this.#enqueue(target, msg, seq, now, idKey, touched, encoded);
        }
        // After the message: a failed write leaves no id marked as seen without its message.
        if (dedupe) this.#st.dedupePut.run(target.path, idKey, now + target.dedupeWindowMs);
      }
      this.#st.seqPut.run(this.#seq);
      return out;
    };
    // Inside the group's transaction already: a batch gets a savepoint of its own (all or none of
    // it), a single message needs none.
    const seqs = prepared.length > 1 ? this.db.transaction(write)() : write();
    for (const e of touched) this.#onReady(e);
    return seqs;
  }

  /** Stores one message in every receiver of the target it matches; adds them to `touched`. */
  #enqueue(target: SendTarget, msg: AmqpMessage, seq: number, enqueuedAt: number, idKey: string | null, touched: Set<ReceivableEntity>, encoded?: Buffer): void {
    const msgTtl = typeof msg.ttl === 'number' && msg.ttl > 0 ? msg.ttl : Infinity;
    let body: Buffer | undefined = encoded;
    for (const { entity, rules } of target.receivers) {
      if (rules && !matchesRules(msg, rules)) continue;
      const ttl = Math.min(msgTtl, target.defaultTtlMs, entity.options.defaultTtlMs);
      body ??= rhea.message.encode(msg);
      this.#st.insert.run(entity.path, seq, STATE.active, enqueuedAt, Number.isFinite(ttl) ? enqueuedAt + ttl : null, idKey, body);
      this.#makeReady(entity, seq);
      touched.add(entity);
    }
  }

  /**
   * Takes up to `max` ready messages from an entity for a receiver: locked (peek-lock) or
   * removed (receive-and-delete). Expired messages met on the way are expired.
   */
  take(entity: ReceivableEntity, mode: ReceiveMode, max: number): Delivered[] {
    if (max <= 0 || entity.ready.size === 0) return [];
    this.#group();
    const now = this.#now();
    const out: Delivered[] = [];
    const dlqTouched = new Set<ReceivableEntity>();
    // No savepoint: the in-memory ready set and locks change as rows are taken, so rolling the
    // rows back alone would not undo a partial take; a lock whose delivery never left expires.
    {
      while (out.length < max && entity.ready.size > 0) {
        const seq = entity.ready.pop()!;
        entity.readySet.delete(seq);
        const row = this.#st.get.get(entity.path, seq);
        if (!row || row.state !== STATE.active || row.lock_token) continue;
        if (row.expires_at !== null && row.expires_at <= now) {
          this.#expire(entity, row, dlqTouched);
          continue;
        }
        if (mode === 'receiveAndDelete') {
          this.#st.delete.run(entity.path, seq);
          out.push({ seq, bytes: this.#outgoing(row, row.delivery_count) });
          continue;
        }
        const token = randomUUID();
        const until = now + entity.options.lockDurationMs;
        this.#st.lock.run(token, until, entity.path, seq);
        this.#locks.set(token, { entity, seq, until });
        this.#lockExpiry.push({ token, until });
        out.push({ seq, lockToken: token, lockedUntil: until, bytes: this.#outgoing(row, row.delivery_count, until) });
      }
    }
    for (const e of dlqTouched) this.#onReady(e);
    return out;
  }

  /** The message as a receiver gets it: header delivery count and the broker's annotations. */
  #outgoing(row: Row, priorDeliveries: number, lockedUntil?: number | null, state?: number): Buffer {
    const msg = rhea.message.decode(row.body) as AmqpMessage;
    msg.delivery_count = priorDeliveries;
    const ann: Record<string, unknown> = { ...(msg.message_annotations ?? {}) };
    ann['x-opt-sequence-number'] = rhea.types.wrap_long(row.seq);
    ann['x-opt-enqueued-time'] = new Date(row.enqueued_at);
    if (lockedUntil) ann['x-opt-locked-until'] = new Date(lockedUntil);
    if (row.dead_letter_source) ann['x-opt-deadletter-source'] = row.dead_letter_source;
    if (state !== undefined && state !== STATE.active) ann['x-opt-message-state'] = rhea.types.wrap_int(state);
    msg.message_annotations = ann;
    return rhea.message.encode(msg);
  }

  #lockOf(token: string): Lock {
    const lock = this.#locks.get(token);
    if (!lock || lock.until <= this.#now()) {
      throw new BrokerError(CONDITION.lockLost, 'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.');
    }
    return lock;
  }

  #dropLock(token: string): void {
    this.#locks.delete(token);
  }

  /** Completes a locked message: it is removed. */
  complete(token: string): void {
    this.#group();
    const lock = this.#lockOf(token);
    this.#st.delete.run(lock.entity.path, lock.seq);
    this.#dropLock(token);
  }

  /** Gives a locked message up: ready again, or dead-lettered past the max delivery count. */
  abandon(token: string, propertiesToModify?: Record<string, unknown>): void {
    this.#group();
    const lock = this.#lockOf(token);
    const row = this.#st.get.get(lock.entity.path, lock.seq);
    this.#dropLock(token);
    if (!row) return;
    const touched = new Set<ReceivableEntity>();
    this.db.transaction(() => {
      if (propertiesToModify && Object.keys(propertiesToModify).length > 0) {
        this.#st.unlockWithBody.run(row.state, this.#withProperties(row.body, propertiesToModify), row.entity, row.seq);
      } else {
        this.#st.unlock.run(row.entity, row.seq);
      }
      if (row.state === STATE.active) this.#afterRelease(lock.entity, row.seq, row.delivery_count, touched);
    })();
    for (const e of touched) this.#onReady(e);
  }

  /** Defers a locked message: only receive-by-sequence-number gets it again. */
  defer(token: string, propertiesToModify?: Record<string, unknown>): void {
    this.#group();
    const lock = this.#lockOf(token);
    const row = this.#st.get.get(lock.entity.path, lock.seq);
    this.#dropLock(token);
    if (!row) return;
    if (propertiesToModify && Object.keys(propertiesToModify).length > 0) {
      this.#st.unlockWithBody.run(STATE.deferred, this.#withProperties(row.body, propertiesToModify), row.entity, row.seq);
    } else {
      this.#st.setState.run(STATE.deferred, row.entity, row.seq);
    }
  }

  /** Moves a locked message to its entity's dead-letter queue with a reason and description. */
  deadLetter(token: string, reason?: string, description?: string, propertiesToModify?: Record<string, unknown>): void {
    this.#group();
    const lock = this.#lockOf(token);
    const row = this.#st.get.get(lock.entity.path, lock.seq);
    this.#dropLock(token);
    if (!row) return;
    if (lock.entity.kind === 'deadletter') {
      throw new BrokerError(CONDITION.notAllowed, 'A message in a dead-letter queue cannot be dead-lettered again.');
    }
    const touched = new Set<ReceivableEntity>();
    this.db.transaction(() => this.#toDeadLetter(lock.entity, row, reason, description, propertiesToModify, touched))();
    for (const e of touched) this.#onReady(e);
  }

  #toDeadLetter(entity: ReceivableEntity, row: Row, reason: string | undefined, description: string | undefined, props: Record<string, unknown> | undefined, touched?: Set<ReceivableEntity>): void {
    const dlq = entity.dlq!;
    const extra: Record<string, unknown> = { ...(props ?? {}) };
    if (reason !== undefined) extra.DeadLetterReason = reason;
    if (description !== undefined) extra.DeadLetterErrorDescription = description;
    this.#st.moveToDlq.run(dlq.path, this.#withProperties(row.body, extra), entity.name, entity.path, row.seq);
    entity.readySet.delete(row.seq);
    this.#makeReady(dlq, row.seq);
    touched?.add(dlq);
  }

  /** After a lock ends without settlement: ready again, or dead-lettered past the max. */
  #afterRelease(entity: ReceivableEntity, seq: number, deliveries: number, touched?: Set<ReceivableEntity>): void {
    if (deliveries >= entity.options.maxDeliveryCount) {
      const row = this.#st.get.get(entity.path, seq);
      if (row) {
        const n = entity.options.maxDeliveryCount;
        this.#toDeadLetter(entity, row, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${n} delivery attempts.`, undefined, touched);
      }
      return;
    }
    this.#makeReady(entity, seq);
    touched?.add(entity);
  }

  #expire(entity: ReceivableEntity, row: Row, touched: Set<ReceivableEntity>): void {
    if (entity.options.deadLetteringOnMessageExpiration && entity.kind !== 'deadletter') {
      this.#toDeadLetter(entity, row, 'TTLExpiredException', 'The message expired and was dead lettered.', undefined, touched);
    } else {
      this.#st.delete.run(entity.path, row.seq);
      entity.readySet.delete(row.seq);
    }
  }

  #withProperties(body: Buffer, props: Record<string, unknown>): Buffer {
    const msg = rhea.message.decode(body) as AmqpMessage;
    msg.application_properties = { ...(msg.application_properties ?? {}), ...props };
    return rhea.message.encode(msg);
  }

  /** Extends the lock of a message by the entity's lock duration; returns the new expiry. */
  renewLock(token: string): number {
    this.#group();
    const lock = this.#lockOf(token);
    lock.until = this.#now() + lock.entity.options.lockDurationMs;
    this.#st.renew.run(lock.until, lock.entity.path, lock.seq);
    this.#lockExpiry.push({ token, until: lock.until });
    return lock.until;
  }

  /** Messages from `fromSeq` on (active, locked, deferred and scheduled alike), encoded. */
  peek(address: string, fromSeq: number, count: number): Buffer[] {
    const path = normalizePath(address);
    if (!this.#receivable.has(path) && !this.#targets.has(path)) throw new BrokerError(CONDITION.notFound, `The messaging entity '${address}' could not be found.`);
    return this.#st.peek.all(path, fromSeq, count).map((row) => this.#outgoing(row, row.delivery_count, row.locked_until, row.state));
  }

  /** Receives deferred messages by sequence number (locked, or removed in receive-and-delete). */
  receiveDeferred(address: string, seqs: number[], mode: ReceiveMode): Delivered[] {
    this.#group();
    const entity = this.receivable(address);
    if (!entity) throw new BrokerError(CONDITION.notFound, `The messaging entity '${address}' could not be found.`);
    const now = this.#now();
    return this.db.transaction(() =>
      seqs.map((seq) => {
        const row = this.#st.get.get(entity.path, seq);
        if (!row || row.state !== STATE.deferred) {
          throw new BrokerError(CONDITION.messageNotFound, `Failed to lock one or more specified messages. The message with sequence number ${seq} was not found or is not deferred.`);
        }
        if (row.lock_token && (row.locked_until ?? 0) > now) {
          throw new BrokerError(CONDITION.lockLost, `The deferred message with sequence number ${seq} is locked by another receiver.`);
        }
        if (mode === 'receiveAndDelete') {
          this.#st.delete.run(entity.path, seq);
          return { seq, bytes: this.#outgoing(row, row.delivery_count, null, STATE.deferred) };
        }
        const token = randomUUID();
        const until = now + entity.options.lockDurationMs;
        this.#st.lock.run(token, until, entity.path, seq);
        this.#locks.set(token, { entity, seq, until });
        this.#lockExpiry.push({ token, until });
        return { seq, lockToken: token, lockedUntil: until, bytes: this.#outgoing(row, row.delivery_count, until, STATE.deferred) };
      }),
    )();
  }

  /** Cancels scheduled messages of a queue or topic by sequence number (unknown ones are ignored). */
  cancelScheduled(address: string, seqs: number[]): void {
    this.#group();
    const target = this.#target(address);
    this.db.transaction(() => {
      for (const seq of seqs) this.db.prepare('DELETE FROM messages WHERE entity = ? AND seq = ? AND state = 2').run(target.path, seq);
    })();
  }

  /**
   * Housekeeping, called on a short interval: expired locks (ready again or dead-lettered),
   * due scheduled messages, expired messages, stale duplicate-detection entries.
   */
  sweep(): void {
    this.#group();
    const now = this.#now();
    const touched = new Set<ReceivableEntity>();
    this.db.transaction(() => {
      while (this.#lockExpiry.size > 0 && this.#lockExpiry.peek()!.until <= now) {
        const { token, until } = this.#lockExpiry.pop()!;
        const lock = this.#locks.get(token);
        if (!lock || lock.until !== until) continue; // settled, or renewed (a later entry exists)
        this.#locks.delete(token);
        const row = this.#st.get.get(lock.entity.path, lock.seq);
        if (!row) continue;
        this.#st.unlock.run(row.entity, row.seq);
        if (row.state === STATE.active) this.#afterRelease(lock.entity, row.seq, row.delivery_count, touched);
      }
      while (this.#schedule.size > 0 && this.#schedule.peek()!.at <= now) {
        const { entity, seq, at } = this.#schedule.pop()!;
        const row = this.#st.get.get(entity, seq);
        if (!row || row.state !== STATE.scheduled) continue; // cancelled
        const target = this.#targets.get(entity);
        if (target?.kind === 'topic') {
          this.#st.delete.run(entity, seq);
          this.#enqueue(target, rhea.message.decode(row.body) as AmqpMessage, seq, at, row.message_id, touched, row.body);
          continue;
        }
        const e = this.#receivable.get(entity);
        if (!e) continue;
        this.#st.activate.run(entity, seq);
        this.#makeReady(e, seq);
        touched.add(e);
      }
      for (const { entity, seq } of this.#st.expired.all(now)) {
        const e = this.#receivable.get(entity);
        const row = e && this.#st.get.get(entity, seq);
        if (e && row) this.#expire(e, row, touched);
      }
      this.#st.dedupeSweep.run(now);
    })();
    for (const e of touched) this.#onReady(e);
  }

  close(): void {
    if (this.db.open) {
      this.commit();
      this.db.close();
    }
  }
}
