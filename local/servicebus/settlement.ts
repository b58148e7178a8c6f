/**
 * The Settlement gRPC service the real Functions host serves to language workers, so that a
 * function bound to `ServiceBusReceivedMessage` (`sdkBinding: true`, e.g. through
 * `@azure/functions-extensions-servicebus`) can complete, abandon, dead-letter, defer or renew
 * the lock of its own trigger message.
 *
 * The worker side finds the service through its command line (`--host`, `--port`,
 * `--functions-grpc-max-message-length`, as the real host starts a worker). The local host runs
 * the app in its own process, so that process is the worker: {@link acquireSettlementServer}
 * binds the service on 127.0.0.1 and gives `process.argv` those arguments (docs/local-host.md).
 *
 * One server per process, like one worker per process: the worker library caches its client
 * with the address it read first, so a later host in the same process (tests start several)
 * gets the same port again. Each request's lock token is looked up among the messages being
 * processed by the triggers that registered them, and settled through the receiver that holds
 * the message's lock (the emulator's or a real namespace's, through @azure/service-bus).
 */
import { createRequire } from 'node:module';
import type { ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import rhea from 'rhea';

/** How a message was settled through the service. */
export type Settlement = 'complete' | 'abandon' | 'deadletter' | 'defer';

/** A message whose lock a trigger holds while its function runs. */
export interface LockedMessage {
  readonly receiver: ServiceBusReceiver;
  readonly message: ServiceBusReceivedMessage;
  /** Set once the function settled it through the service. */
  settled?: Settlement;
}

/** The largest gRPC message the worker is told to send or accept (the real host's default). */
export const GRPC_MAX_MESSAGE_LENGTH = 2_147_483_647;

interface ServerState {
  port: number;
  users: number;
  close(): Promise<void>;
}

const locked = new Map<string, LockedMessage>();
let state: Promise<ServerState> | undefined;
let lastPort = 0;

/** Makes a message's lock token answerable by the service until the returned function runs. */
export function registerLockedMessage(entry: LockedMessage): () => void {
  const token = String(entry.message.lockToken ?? '').toLowerCase();
  if (!token) throw new Error('a peek-locked message has no lock token');
  locked.set(token, entry);
  return () => {
    if (locked.get(token) === entry) locked.delete(token);
  };
}

/** Decodes `propertiesToModify`: the AMQP encoding of a map (empty bytes: none). */
function propertiesOf(bytes: Uint8Array | undefined): Record<string, number | boolean | string | Date | null> | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  const value = new (rhea.types as unknown as { Reader: new (b: Buffer) => { read(): unknown } }).Reader(Buffer.from(bytes)).read();
  const map = rhea.types.unwrap(value) as unknown;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new Error('propertiesToModify is not an AMQP map');
  return map as Record<string, number | boolean | string | Date | null>;
}

type Callback = (err: { code: number; details: string } | null, value?: unknown) => void;
type Call = { request: { locktoken?: string; propertiesToModify?: Uint8Array; deadletterReason?: { value?: string } | null; deadletterErrorDescription?: { value?: string } | null } };

/** Starts (or joins) this process's Settlement service. The proto is the contract file the app's worker library ships. */
export async function acquireSettlementServer(protoPath: string): Promise<{ port: number; release(): Promise<void> }> {
  if (!state) state = startServer(protoPath);
  let s: ServerState;
  try {
    s = await state;
  } catch (err) {
    state = undefined;
    throw err;
  }
  s.users++;
  let released = false;
  return {
    port: s.port,
    async release() {
      if (released) return;
      released = true;
      if (--s.users > 0) return;
      state = undefined;
      await s.close();
    },
  };
}

async function startServer(protoPath: string): Promise<ServerState> {
  const req = createRequire(import.meta.url);
  const grpc = req('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const loader = req('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
  const definition = loader.loadSync(protoPath, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as Record<string, { service: import('@grpc/grpc-js').ServiceDefinition }>;
  const service = pkg.Settlement?.service;
  if (!service) throw new Error(`${protoPath} defines no Settlement service`);

  const fail = (cb: Callback, code: number, details: string) => cb({ code, details });
  const settle = (what: Settlement | 'renew', act: (entry: LockedMessage, call: Call) => Promise<void>) => (call: Call, cb: Callback) => {
    const token = String(call.request.locktoken ?? '').toLowerCase();
    const entry = locked.get(token);
    if (!entry) return fail(cb, grpc.status.NOT_FOUND, `no message with lock token ${token || '(none)'} is being processed by a trigger (settled already, or its lock was lost)`);
    if (entry.settled) return fail(cb, grpc.status.FAILED_PRECONDITION, `the message with lock token ${token} was settled already (${entry.settled})`);
    act(entry, call).then(
      () => {
        if (what !== 'renew') entry.settled = what;
        cb(null, {});
      },
      (err: Error) => fail(cb, grpc.status.FAILED_PRECONDITION, err.message),
    );
  };
  const unimplemented = (_call: unknown, cb: Callback) => fail(cb, grpc.status.UNIMPLEMENTED, 'session-enabled Service Bus triggers are not supported by the local host');

  const server = new grpc.Server({ 'grpc.max_receive_message_length': GRPC_MAX_MESSAGE_LENGTH, 'grpc.max_send_message_length': GRPC_MAX_MESSAGE_LENGTH });
  server.addService(service, {
    complete: settle('complete', ({ receiver, message }) => receiver.completeMessage(message)),
    abandon: settle('abandon', ({ receiver, message }, call) => receiver.abandonMessage(message, propertiesOf(call.request.propertiesToModify))),
    deadletter: settle('deadletter', ({ receiver, message }, call) => {
      const options: Record<string, number | boolean | string | Date | null> = { ...(propertiesOf(call.request.propertiesToModify) ?? {}) };
      const reason = call.request.deadletterReason?.value;
      const description = call.request.deadletterErrorDescription?.value;
      if (reason !== undefined) options.deadLetterReason = reason;
      if (description !== undefined) options.deadLetterErrorDescription = description;
      return receiver.deadLetterMessage(message, options as Parameters<ServiceBusReceiver['deadLetterMessage']>[1]);
    }),
    defer: settle('defer', ({ receiver, message }, call) => receiver.deferMessage(message, propertiesOf(call.request.propertiesToModify))),
    renewMessageLock: settle('renew', async ({ receiver, message }) => {
      await receiver.renewMessageLock(message);
    }),
    getSessionState: unimplemented,
    setSessionState: unimplemented,
    releaseSession: unimplemented,
    renewSessionLock: unimplemented,
  } as unknown as import('@grpc/grpc-js').UntypedServiceImplementation);

  const bind = (port: number) =>
    new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  let port: number;
  try {
    // The worker library keeps the address it read first: come back on the same port.
    port = await bind(lastPort);
  } catch (err) {
    if (lastPort === 0) throw err;
    port = await bind(0);
  }
  lastPort = port;
  return {
    port,
    users: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}

/**
 * Gives this process the worker's command-line arguments for the Settlement service
 * (`--host 127.0.0.1 --port N --functions-grpc-max-message-length M`), replacing earlier values
 * of those options (the host's own `--port` was parsed before the app loaded).
 */
export function setWorkerArguments(argv: string[], port: number): void {
  const names = new Set(['--host', '--port', '--functions-grpc-max-message-length']);
  const kept: string[] = [];
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    if (names.has(eq === -1 ? a : a.slice(0, eq))) {
      if (eq === -1) i++;
      continue;
    }
    kept.push(a);
  }
  argv.splice(2, argv.length - 2, ...kept, '--host', '127.0.0.1', '--port', String(port), '--functions-grpc-max-message-length', String(GRPC_MAX_MESSAGE_LENGTH));
}
