/**
 * The AMQP 1.0 front end of the Service Bus emulator, on rhea's server mode. It speaks what
 * `@azure/service-bus` needs:
 *
 * - SASL ANONYMOUS, or PLAIN with a key name and its key (either way, entities need a token);
 * - the `$cbs` node: `put-token` with a shared access signature made with one of the
 *   emulator's keys (sas-token.ts) grants the resource it names until it expires; every other
 *   link (send, receive, `$management`) is refused with `amqp:unauthorized-access` unless the
 *   connection holds such a grant for its entity. Code the app runs shares the machine's
 *   loopback, so the emulator must not take just any token;
 * - sender links to queues and topics (single messages and batches, format 0x80013700);
 * - receiver links from queues, subscriptions and dead-letter queues, peek-lock (lock token as
 *   the delivery tag, in .NET GUID byte order as Service Bus sends it) or receive-and-delete,
 *   with credit and drain;
 * - settlement by disposition: accepted = complete, modified = abandon (or defer when
 *   `undeliverable-here`), rejected with `com.microsoft:dead-letter` = dead-letter;
 * - the entity `$management` node: renew-lock, peek-message, schedule-message,
 *   cancel-scheduled-message, receive-by-sequence-number, update-disposition.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import rhea from 'rhea';
import { grantCovers, resourcePath, verifySasToken } from './sas-token.js';
import { BrokerError, CONDITION, MAX_MESSAGE_BYTES, type AmqpMessage, type Broker, type ReceivableEntity, type ReceiveMode } from './broker.js';

const BATCH_FORMAT = 0x80013700;
const DEAD_LETTER_CONDITION = 'com.microsoft:dead-letter';

/** Service Bus sends lock tokens as delivery tags in .NET `Guid.ToByteArray()` order. */
export function lockTokenToDeliveryTag(token: string): Buffer {
  const b = Buffer.from(token.replace(/-/g, ''), 'hex');
  return Buffer.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}

function uuidBytesToString(v: unknown): string {
  if (Buffer.isBuffer(v) && v.length === 16) return rhea.uuid_to_string(v);
  if (typeof v === 'string') return v.toLowerCase();
  throw new BrokerError(CONDITION.argument, 'lock tokens must be uuids');
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (Buffer.isBuffer(v) && v.length === 8) return Number(v.readBigInt64BE(0));
  if (typeof v === 'bigint') return Number(v);
  throw new BrokerError(CONDITION.argument, 'sequence numbers must be longs');
}

function listOf(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (v === undefined || v === null) return [];
  return [v];
}

interface Consumer {
  sender: any;
  entity: ReceivableEntity;
  mode: ReceiveMode;
}

interface ConnState {
  /** Response links ($cbs, $management) by link name and by target address. */
  replyLinks: Map<string, any>;
  /** What valid tokens put on `$cbs` granted: entity path ('' = namespace) and expiry. */
  grants: { path: string; expiresAtMs: number }[];
}

const UNAUTHORIZED = 'amqp:unauthorized-access';

const STATUS: Record<string, number> = {
  [CONDITION.lockLost]: 410,
  [CONDITION.messageNotFound]: 404,
  [CONDITION.notFound]: 404,
  [CONDITION.notAllowed]: 400,
  [CONDITION.argument]: 400,
  [CONDITION.notImplemented]: 501,
  [CONDITION.tooLarge]: 413,
};

export interface AmqpServerOptions {
  broker: Broker;
  /** The emulator's shared access keys, by key name. */
  keys: ReadonlyMap<string, string>;
  host?: string;
  /** 0 or absent picks a free port. */
  port?: number;
  log?: (level: 'debug' | 'warn', message: string) => void;
}

/** The listening AMQP server. */
export class AmqpServer {
  readonly #broker: Broker;
  readonly #keys: ReadonlyMap<string, string>;
  readonly #log: (level: 'debug' | 'warn', message: string) => void;
  readonly #consumers = new Map<ReceivableEntity, Set<Consumer>>();
  readonly #conns = new WeakMap<object, ConnState>();
  readonly #sockets = new Set<Socket>();
  readonly #container: any;
  #server?: Server;

  constructor(options: AmqpServerOptions) {
    this.#broker = options.broker;
    this.#keys = options.keys;
    this.#log = options.log ?? (() => {});
    const container = rhea.create_container({ id: 'conveyor-servicebus-emulator' });
    this.#container = container;
    container.sasl_server_mechanisms.enable_anonymous();
    container.sasl_server_mechanisms.enable_plain((user: string, pass: string) => {
      const key = this.#keys.get(user);
      return key !== undefined && typeof pass === 'string' && Buffer.byteLength(pass) === Buffer.byteLength(key) && timingSafeEqual(Buffer.from(pass), Buffer.from(key));
    });
    container.on('sender_open', (ctx: any) => this.#onSenderOpen(ctx));
    container.on('receiver_open', (ctx: any) => this.#onReceiverOpen(ctx));
    container.on('message', (ctx: any) => this.#onMessage(ctx));
    container.on('sendable', (ctx: any) => this.#pumpLink(ctx.sender));
    container.on('sender_draining', (ctx: any) => this.#onDraining(ctx.sender));
    container.on('accepted', (ctx: any) => this.#settle(ctx, 'complete'));
    container.on('released', (ctx: any) => this.#settle(ctx, 'abandon'));
    container.on('modified', (ctx: any) => this.#settle(ctx, ctx.delivery.remote_state?.undeliverable_here ? 'defer' : 'abandon'));
    container.on('rejected', (ctx: any) => this.#settle(ctx, 'deadletter'));
    container.on('sender_close', (ctx: any) => this.#dropConsumer(ctx.sender));
    container.on('connection_close', (ctx: any) => this.#dropConnection(ctx.connection));
    container.on('disconnected', (ctx: any) => this.#dropConnection(ctx.connection));
    // Errors on one connection concern that client only.
    container.on('error', (err: unknown) => this.#log('debug', `connection error: ${String((err as Error)?.message ?? err)}`));
    container.on('connection_error', () => {});
    container.on('sender_error', () => {});
    container.on('receiver_error', () => {});
    container.on('session_error', () => {});
  }

  /** Starts listening; resolves with the bound port. */
  listen(port = 0, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      // A larger session window than rhea's 2048: a delivery whose lock expired stays in it
      // until the client settles it (and learns the lock was lost).
      const server: Server = this.#container.listen({ port, host, autoaccept: false, treat_modified_as_released: false, session_buffer_size: 1 << 15 });
      this.#server = server;
      server.on('connection', (s: Socket) => {
        this.#sockets.add(s);
        s.setNoDelay(true);
        coalesceWrites(s);
        s.on('close', () => {
          this.#sockets.delete(s);
          // rhea ends a connection (and stops its heartbeat timer) when its socket ends or
          // errs, not when the socket is destroyed, as close() does: without the end, the
          // heartbeat keeps re-arming itself and keeps the process alive.
          if (!s.readableEnded) s.emit('end');
        });
      });
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Offers newly ready messages of an entity to its receivers. */
  onReady(entity: ReceivableEntity): void {
    const set = this.#consumers.get(entity);
    if (!set) return;
    for (const c of set) {
      if (entity.ready.size === 0) break;
      this.#pump(c);
    }
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }

  #state(conn: object): ConnState {
    let s = this.#conns.get(conn);
    if (!s) {
      s = { replyLinks: new Map(), grants: [] };
      this.#conns.set(conn, s);
    }
    return s;
  }

  /** True when the connection holds an unexpired grant covering `address`. */
  #authorized(conn: object, address: string): boolean {
    const now = Date.now();
    return this.#state(conn).grants.some((g) => g.expiresAtMs > now && grantCovers(g.path, address));
  }

  /** A client receiver attached: we send on this link. */
  #onSenderOpen(ctx: any): void {
    const sender = ctx.sender;
    const remote = sender.remote.attach ?? {};
    const address: string = remote.source?.address ?? '';
    sender.set_source(remote.source ?? {});
    sender.set_target(remote.target ?? {});
    sender.local.attach.snd_settle_mode = remote.snd_settle_mode;
    sender.local.attach.rcv_settle_mode = remote.rcv_settle_mode;
    if (address === '$cbs' || address.endsWith('/$management') || address === '$management') {
      const st = this.#state(ctx.connection);
      st.replyLinks.set(sender.name, sender);
      if (remote.target?.address) st.replyLinks.set(remote.target.address, sender);
      return;
    }
    if (!this.#authorized(ctx.connection, address)) {
      sender.close({ condition: UNAUTHORIZED, description: `Unauthorized access to '${address}': put a valid token on $cbs first.` });
      return;
    }
    const filter = remote.source?.filter;
    if (filter && Object.keys(filter).some((k) => k.includes('session-filter'))) {
      sender.close({ condition: CONDITION.notImplemented, description: 'Sessions are not supported by the local Service Bus emulator.' });
      return;
    }
    const entity = this.#broker.receivable(address);
    if (!entity) {
      sender.close({ condition: CONDITION.notFound, description: `The messaging entity '${address}' could not be found.` });
      return;
    }
    const consumer: Consumer = { sender, entity, mode: remote.snd_settle_mode === 1 ? 'receiveAndDelete' : 'peekLock' };
    sender.conveyorConsumer = consumer;
    let set = this.#consumers.get(entity);
    if (!set) this.#consumers.set(entity, (set = new Set()));
    set.add(consumer);
  }

  /** A client sender attached: we receive on this link. */
  #onReceiverOpen(ctx: any): void {
    const receiver = ctx.receiver;
    const remote = receiver.remote.attach ?? {};
    const address: string = remote.target?.address ?? '';
    receiver.set_source(remote.source ?? {});
    receiver.set_target(remote.target ?? {});
    receiver.local.attach.snd_settle_mode = remote.snd_settle_mode;
    receiver.local.attach.rcv_settle_mode = remote.rcv_settle_mode;
    // Clients size their batches by it (the SDK's createMessageBatch).
    receiver.local.attach.max_message_size = MAX_MESSAGE_BYTES;
    if (address === '$cbs') return;
    // The SDK signs `<entity>/$management` for management links: a grant of the entity covers it.
    if (!this.#authorized(ctx.connection, address)) {
      receiver.close({ condition: UNAUTHORIZED, description: `Unauthorized access to '${address}': put a valid token on $cbs first.` });
      return;
    }
    if (address.endsWith('/$management') || address === '$management') return;
    if (!this.#broker.canSendTo(address)) {
      const exists = !!this.#broker.receivable(address);
      receiver.close({
        condition: exists ? CONDITION.notAllowed : CONDITION.notFound,
        description: exists ? `'${address}' cannot be sent to.` : `The messaging entity '${address}' could not be found.`,
      });
    }
  }

  #onMessage(ctx: any): void {
    const receiver = ctx.receiver;
    const address: string = receiver.remote.attach?.target?.address ?? '';
    const delivery = ctx.delivery;
    if (address === '$cbs') {
      delivery.accept();
      this.#putToken(ctx.connection, ctx.message);
      return;
    }
    if (address.endsWith('$management')) {
      delivery.accept();
      // A grant may have expired since the link opened.
      if (!this.#authorized(ctx.connection, address)) {
        this.#reply(ctx.connection, ctx.message, { statusCode: 401, statusDescription: `Unauthorized access to '${address}'.`, errorCondition: UNAUTHORIZED });
        return;
      }
      this.#management(ctx.connection, address.replace(/\/?\$management$/, ''), ctx.message);
      return;
    }
    try {
      const messages = ctx.format === BATCH_FORMAT ? this.#unbatch(ctx.message as Buffer) : [ctx.message as AmqpMessage];
      this.#broker.send(address, messages);
      this.#broker.afterCommit(() => delivery.accept());
    } catch (err) {
      const e = err instanceof BrokerError ? err : new BrokerError('amqp:internal-error', String((err as Error)?.message ?? err));
      if (!(err instanceof BrokerError)) this.#log('warn', `send to '${address}' failed: ${e.message}`);
      delivery.reject({ condition: e.condition, description: e.message });
    }
  }

  /** `$cbs` put-token: a valid token adds a grant for the resource it was signed for. */
  #putToken(conn: object, req: AmqpMessage): void {
    const props = req.application_properties ?? {};
    if (props.operation !== 'put-token') {
      this.#reply(conn, req, { 'status-code': 400, 'status-description': `unsupported $cbs operation '${String(props.operation)}'` });
      return;
    }
    const verdict = verifySasToken(req.body, this.#keys, Date.now());
    if (!verdict.ok) {
      this.#log('debug', `$cbs refused a token for '${String(props.name)}': ${verdict.reason}`);
      this.#reply(conn, req, { 'status-code': 401, 'status-description': `Unauthorized: ${verdict.reason}.` });
      return;
    }
    const path = resourcePath(verdict.resource);
    if (typeof props.name === 'string' && !grantCovers(path, resourcePath(props.name))) {
      this.#reply(conn, req, { 'status-code': 401, 'status-description': `Unauthorized: the token is for '${verdict.resource}', not '${props.name}'.` });
      return;
    }
    this.#state(conn).grants.push({ path, expiresAtMs: verdict.expiresAtMs });
    this.#reply(conn, req, { 'status-code': 202, 'status-description': 'Accepted' });
  }

  #unbatch(data: Buffer): AmqpMessage[] {
    const outer = rhea.message.decode(data) as AmqpMessage;
    const body = outer.body;
    const parts: Buffer[] = body && body.typecode === 0x75 ? (body.multiple ? body.content : [body.content]) : [];
    return parts.map((p) => rhea.message.decode(p) as AmqpMessage);
  }

  #reply(conn: object, request: AmqpMessage, props: Record<string, unknown>, body?: unknown): void {
    const st = this.#state(conn);
    const link = st.replyLinks.get(request.reply_to);
    if (!link) {
      this.#log('debug', `no response link for reply-to '${request.reply_to}'`);
      return;
    }
    const response: AmqpMessage = { correlation_id: request.message_id, application_properties: props };
    if (body !== undefined) response.body = body;
    link.send(response);
  }

  #management(conn: object, entityAddress: string, req: AmqpMessage): void {
    const op: string = req.application_properties?.operation ?? '';
    const body: Record<string, any> = req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? req.body : {};
    const ok = (status: number, resBody?: unknown) =>
      this.#broker.afterCommit(() => this.#reply(conn, req, { statusCode: status, statusDescription: status === 204 ? 'No Content' : 'OK' }, resBody));
    try {
      switch (op) {
        case 'com.microsoft:renew-lock': {
          const tokens = listOf(body['lock-tokens']).map(uuidBytesToString);
          ok(200, { expirations: tokens.map((t) => new Date(this.#broker.renewLock(t))) });
          return;
        }
        case 'com.microsoft:peek-message': {
          const from = toNumber(body['from-sequence-number'] ?? 1);
          const count = Number(body['message-count'] ?? 1);
          if (body['session-id'] !== undefined && body['session-id'] !== null) throw new BrokerError(CONDITION.notImplemented, 'Sessions are not supported by the local Service Bus emulator.');
          const msgs = this.#broker.peek(entityAddress, Math.max(1, from), Math.max(1, Math.min(count, 1000)));
          if (msgs.length === 0) ok(204);
          else ok(200, { messages: msgs.map((m) => ({ message: m })) });
          return;
        }
        case 'com.microsoft:schedule-message': {
          const entries = listOf(body.messages) as Record<string, any>[];
          const decoded = entries.map((e) => rhea.message.decode(e.message as Buffer) as AmqpMessage);
          const seqs = this.#broker.send(entityAddress, decoded);
          ok(200, { 'sequence-numbers': rhea.types.wrap_array(seqs, 0x81, undefined) });
          return;
        }
        case 'com.microsoft:cancel-scheduled-message': {
          this.#broker.cancelScheduled(entityAddress, listOf(body['sequence-numbers']).map(toNumber));
          ok(200);
          return;
        }
        case 'com.microsoft:receive-by-sequence-number': {
          if (body['session-id'] !== undefined && body['session-id'] !== null) throw new BrokerError(CONDITION.notImplemented, 'Sessions are not supported by the local Service Bus emulator.');
          const mode: ReceiveMode = Number(body['receiver-settle-mode'] ?? 1) === 0 ? 'receiveAndDelete' : 'peekLock';
          const got = this.#broker.receiveDeferred(entityAddress, listOf(body['sequence-numbers']).map(toNumber), mode);
          ok(200, {
            messages: got.map((d) => {
              const entry: Record<string, unknown> = { message: d.bytes };
              if (d.lockToken) entry['lock-token'] = rhea.types.wrap_uuid(rhea.string_to_uuid(d.lockToken));
              return entry;
            }),
          });
          return;
        }
        case 'com.microsoft:update-disposition': {
          const tokens = listOf(body['lock-tokens']).map(uuidBytesToString);
          const status = String(body['disposition-status'] ?? '');
          const props = body['properties-to-modify'] && typeof body['properties-to-modify'] === 'object' ? (body['properties-to-modify'] as Record<string, unknown>) : undefined;
          for (const t of tokens) {
            if (status === 'completed') this.#broker.complete(t);
            else if (status === 'abandoned') this.#broker.abandon(t, props);
            else if (status === 'defered' || status === 'deferred') this.#broker.defer(t, props);
            else if (status === 'suspended') this.#broker.deadLetter(t, body['deadletter-reason'], body['deadletter-description'], props);
            else throw new BrokerError(CONDITION.argument, `unknown disposition-status '${status}'`);
          }
          ok(200);
          return;
        }
        default:
          throw new BrokerError(CONDITION.notImplemented, `The operation '${op}' is not supported by the local Service Bus emulator.`);
      }
    } catch (err) {
      const e = err instanceof BrokerError ? err : new BrokerError('amqp:internal-error', String((err as Error)?.message ?? err));
      if (!(err instanceof BrokerError)) this.#log('warn', `management ${op} on '${entityAddress}' failed: ${e.message}`);
      this.#reply(conn, req, { statusCode: STATUS[e.condition] ?? 500, statusDescription: e.message, errorCondition: e.condition });
    }
  }

  #pumpLink(sender: any): void {
    const c: Consumer | undefined = sender.conveyorConsumer;
    if (c) this.#pump(c);
  }

  /** Sends ready messages while the link has credit that pending transfers do not use up. */
  #pump(c: Consumer): void {
    const sender = c.sender;
    if (!sender.is_open() || !this.#consumers.get(c.entity)?.has(c)) return;
    const outgoing = sender.session.outgoing;
    const budget = sender.credit - (outgoing.next_delivery_id - outgoing.next_pending_delivery);
    if (budget <= 0) return;
    const batch = this.#broker.take(c.entity, c.mode, Math.min(budget, 500));
    for (const d of batch) {
      const tag = d.lockToken ? lockTokenToDeliveryTag(d.lockToken) : Buffer.from(String(d.seq));
      const delivery = sender.send(d.bytes, tag, 0);
      if (d.lockToken) delivery.conveyorLockToken = d.lockToken;
    }
  }

  #onDraining(sender: any): void {
    this.#pumpLink(sender);
    // Let the transfers just queued go out first; then give back the credit left over.
    setImmediate(() => {
      if (sender.is_open() && sender._draining) {
        sender.set_drained(true);
        // set_drained only marks the flow as due; have the connection write it now.
        sender.connection._register();
      }
    });
  }

  #settle(ctx: any, op: 'complete' | 'abandon' | 'defer' | 'deadletter'): void {
    const delivery = ctx.delivery;
    const token: string | undefined = delivery?.conveyorLockToken;
    if (!token || delivery.settled) return;
    try {
      if (op === 'complete') this.#broker.complete(token);
      else if (op === 'abandon') this.#broker.abandon(token, delivery.remote_state?.message_annotations);
      else if (op === 'defer') this.#broker.defer(token, delivery.remote_state?.message_annotations);
      else {
        const error = delivery.remote_state?.error;
        const info: Record<string, unknown> = { ...(error?.info ?? {}) };
        if (error?.condition && error.condition !== DEAD_LETTER_CONDITION) {
          info.DeadLetterReason ??= error.condition;
          info.DeadLetterErrorDescription ??= error.description;
        }
        const reason = info.DeadLetterReason as string | undefined;
        const description = info.DeadLetterErrorDescription as string | undefined;
        delete info.DeadLetterReason;
        delete info.DeadLetterErrorDescription;
        for (const k of Object.keys(info)) if (info[k] === undefined || info[k] === null) delete info[k];
        this.#broker.deadLetter(token, reason ?? undefined, description ?? undefined, info);
      }
      // The outcome the client asked for, without an error (an error would tell it the
      // settlement failed), once the settlement is committed. The client (receiver settle mode
      // "second") settles as soon as it sees this and sends nothing more: without marking it
      // remotely settled, rhea would keep the delivery in the session window for ever.
      const outcome = op === 'deadletter' ? (rhea.message as any).rejected({}).described() : remoteOutcome(delivery);
      this.#broker.afterCommit(() => {
        delivery.update(true, outcome);
        delivery.remote_settled = true;
      });
    } catch (err) {
      const e = err instanceof BrokerError ? err : new BrokerError('amqp:internal-error', String((err as Error)?.message ?? err));
      delivery.update(true, (rhea.message as any).rejected({ error: { condition: e.condition, description: e.message } }).described());
      delivery.remote_settled = true;
    }
    // A settled message frees credit-bound prefetch in some clients; offer more.
    this.#pumpLink(ctx.sender);
  }

  #dropConsumer(sender: any): void {
    const c: Consumer | undefined = sender.conveyorConsumer;
    if (c) this.#consumers.get(c.entity)?.delete(c);
  }

  #dropConnection(conn: any): void {
    for (const set of this.#consumers.values()) {
      for (const c of set) if (c.sender.connection === conn) set.delete(c);
    }
  }
}

/**
 * rhea writes every frame with its own `socket.write`; corking the socket for the rest of the
 * tick sends the frames of one turn (transfers, dispositions, flows) in one system call.
 */
function coalesceWrites(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  (socket as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  };
}

/** The outcome to settle with: the one the client asked for. */
function remoteOutcome(delivery: any): unknown {
  const s = delivery.remote_state;
  if (s && typeof s.described === 'function') return s.described();
  return (rhea.message as any).accepted().described();
}
