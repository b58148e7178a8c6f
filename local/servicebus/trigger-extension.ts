/**
 * The local host's Service Bus extension: runs `app.serviceBusQueue` / `app.serviceBusTopic`
 * functions (binding type `serviceBusTrigger`) the way the real host's Service Bus extension
 * does, with the `@azure/service-bus` SDK as the client:
 *
 * - the `connection` option names a setting (default `AzureWebJobsServiceBus`) holding a
 *   connection string, or `<connection>__fullyQualifiedNamespace` for an identity-based one;
 * - messages are received in peek-lock mode, the lock is renewed while the function runs
 *   (`maxAutoLockRenewalDuration`), a success completes the message, a failure abandons it,
 *   and the broker dead-letters it once its delivery count passes `maxDeliveryCount`;
 * - the function gets the message body (JSON parsed, text as a string) and the trigger
 *   metadata the real host binds (messageId, deliveryCount, enqueuedTimeUtc,
 *   applicationProperties, ...); `cardinality: 'many'` gets arrays.
 *
 * When a trigger's connection is not configured — or a setting holds the placeholder
 * `UseDevelopmentEmulator=true` — the extension starts the local emulator (local/servicebus)
 * in the host's process, hands its connection string to those settings, and creates the queues,
 * topics and subscriptions the triggers name (a topology file may define them with their
 * properties: `servicebus-emulator.json` in the app folder, or the file
 * `CONVEYOR_SERVICEBUS_TOPOLOGY` names).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import type { BindingDefinition, FunctionRegistration, HostExtension, HostLogger, HostServices, PrepareContext } from '../host/extension.js';
import { startEmulator, type RunningEmulator } from './emulator.js';
import { serviceBusModelBindingData } from './model-binding.js';
import { acquireSettlementServer, registerLockedMessage, setWorkerArguments, type LockedMessage } from './settlement.js';
import { parseDuration, parseTopology, readTopologyFile, type TopologyFile } from './topology.js';

/** A setting value that asks for the local emulator (the counterpart of `UseDevelopmentStorage=true`). */
export const DEV_SERVICE_BUS = 'UseDevelopmentEmulator=true';

/** True when the value is the emulator placeholder (surrounding spaces ignored). */
export function asksForEmulator(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === DEV_SERVICE_BUS.toLowerCase();
}

/** The connection setting a Service Bus binding names (the real host's default when it names none). */
export function connectionSettingName(binding: BindingDefinition): string {
  return typeof binding.connection === 'string' && binding.connection.trim() !== '' ? binding.connection.trim() : 'AzureWebJobsServiceBus';
}

/** How a connection setting resolves, as the real host reads it. */
export type ResolvedConnection = { kind: 'connectionString'; value: string } | { kind: 'identity'; namespace: string } | { kind: 'unset' };

export function resolveConnection(env: NodeJS.ProcessEnv, name: string): ResolvedConnection {
  const value = env[name];
  if (value !== undefined && value.trim() !== '' && !asksForEmulator(value)) return { kind: 'connectionString', value };
  const ns = env[`${name}__fullyQualifiedNamespace`] ?? env[`${name}:fullyQualifiedNamespace`];
  if (ns && ns.trim() !== '') return { kind: 'identity', namespace: ns.trim() };
  return { kind: 'unset' };
}

/** The entity a trigger reads: `queue` or `topic/Subscriptions/subscription`. */
function entityOf(trigger: BindingDefinition): { queue?: string; topic?: string; subscription?: string } {
  if (typeof trigger.queueName === 'string' && trigger.queueName !== '') return { queue: trigger.queueName };
  if (typeof trigger.topicName === 'string' && typeof trigger.subscriptionName === 'string') return { topic: trigger.topicName, subscription: trigger.subscriptionName };
  throw new Error('a serviceBusTrigger needs queueName, or topicName and subscriptionName');
}

/** True when the trigger is bound to the SDK type (`sdkBinding: true`, sent to the host as `supportsDeferredBinding`). */
export function isSdkBound(trigger: BindingDefinition): boolean {
  const props = trigger.properties as Record<string, unknown> | undefined;
  return trigger.sdkBinding === true || String(props?.supportsDeferredBinding ?? '').toLowerCase() === 'true';
}

/** The message body as the Node worker hands it to a function: parsed JSON, text, or bytes. */
export function triggerValue(m: ServiceBusReceivedMessage): unknown {
  const body = m.body;
  if (Buffer.isBuffer(body)) {
    const text = body.toString('utf8');
    return Buffer.from(text, 'utf8').equals(body) ? text : body;
  }
  return body;
}

/** Trigger metadata with the names the real host binds, camel-cased as @azure/functions presents them. */
export function triggerMetadata(m: ServiceBusReceivedMessage): Record<string, unknown> {
  const iso = (d: Date | undefined) => (d ? d.toISOString() : undefined);
  const props = m.applicationProperties ?? {};
  const meta: Record<string, unknown> = {
    messageId: m.messageId === undefined ? undefined : String(m.messageId),
    // The .NET client the real host uses counts the current delivery (first delivery: 1).
    deliveryCount: (m.deliveryCount ?? 0) + 1,
    enqueuedTimeUtc: iso(m.enqueuedTimeUtc),
    expiresAtUtc: iso(m.expiresAtUtc),
    lockedUntilUtc: iso(m.lockedUntilUtc),
    sequenceNumber: m.sequenceNumber?.toNumber(),
    lockToken: m.lockToken,
    contentType: m.contentType,
    correlationId: m.correlationId === undefined ? undefined : String(m.correlationId),
    subject: m.subject,
    label: m.subject,
    to: m.to,
    replyTo: m.replyTo,
    sessionId: m.sessionId,
    deadLetterSource: m.deadLetterSource,
    applicationProperties: props,
    userProperties: props,
  };
  for (const k of Object.keys(meta)) if (meta[k] === undefined) delete meta[k];
  return meta;
}

interface TriggerRun {
  fn: FunctionRegistration;
  connection: string;
  entity: { queue?: string; topic?: string; subscription?: string };
  many: boolean;
  autoComplete: boolean;
  /** Bound to the SDK type: the function gets ModelBindingData's client and may settle through the Settlement service. */
  sdk: boolean;
  receiver?: ServiceBusReceiver;
  subscription?: { close(): Promise<void> };
  stopBatchLoop?: () => void;
  batchLoop?: Promise<void>;
}

export interface ServiceBusExtensionOptions {
  /** May start the local emulator (default true; the CLI's --no-servicebus turns it off). */
  startEmulator?: boolean;
}

function hostSetting(hostJson: Record<string, any>, name: string): unknown {
  const sb = hostJson?.extensions?.serviceBus;
  if (!sb || typeof sb !== 'object') return undefined;
  return sb[name] ?? sb.messageHandlerOptions?.[name] ?? sb.batchOptions?.[name];
}

/** Creates the extension (bundled with the host). */
export function createServiceBusExtension(options: ServiceBusExtensionOptions = {}): HostExtension & { readonly emulator?: RunningEmulator } {
  let host: HostServices | undefined;
  let logger: HostLogger | undefined;
  let emulator: RunningEmulator | undefined;
  let stateDir = '';
  let appDir = '';
  const setByUs = new Map<string, string | undefined>();
  const clients = new Map<string, ServiceBusClient>();
  const runs: TriggerRun[] = [];
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  let stopping = false;

  const topologyFile = (env: NodeJS.ProcessEnv): string | undefined => {
    const named = env.CONVEYOR_SERVICEBUS_TOPOLOGY;
    if (named && named.trim() !== '') return resolve(appDir, named.trim());
    const dflt = join(appDir, 'servicebus-emulator.json');
    return existsSync(dflt) ? dflt : undefined;
  };

  // In the host's process: it lives and dies with the host (a kill -9 of the host is one of the
  // emulator, whose SQLite store keeps what it acknowledged), and leaves no process behind.
  const ensureEmulator = async (env: NodeJS.ProcessEnv): Promise<RunningEmulator> => {
    if (emulator) return emulator;
    if (options.startEmulator === false) throw new Error('the local Service Bus emulator is disabled (--no-servicebus)');
    const configFile = topologyFile(env);
    emulator = await startEmulator({
      dataDir: join(stateDir, 'servicebus'),
      topology: configFile ? readTopologyFile(configFile) : undefined,
      log: (level, message) => {
        if (level === 'warn') logger?.warn(`Service Bus emulator: ${message}`);
      },
    });
    // The port only: the connection string holds the emulator's private key.
    logger?.info(`Service Bus emulator started (port ${emulator.port})`, {
      location: join(stateDir, 'servicebus'),
      ...(configFile ? { topology: configFile } : {}),
    });
    return emulator;
  };

  const handTo = (env: NodeJS.ProcessEnv, name: string, value: string) => {
    if (!setByUs.has(name)) setByUs.set(name, env[name]);
    env[name] = value;
  };

  // The SDKs load only when an app has Service Bus triggers (host start-up stays quick otherwise).
  const clientFor = async (env: NodeJS.ProcessEnv, name: string): Promise<ServiceBusClient> => {
    let c = clients.get(name);
    if (c) return c;
    const { ServiceBusClient: Client } = await import('@azure/service-bus');
    const resolved = resolveConnection(env, name);
    if (resolved.kind === 'connectionString') c = new Client(resolved.value);
    else if (resolved.kind === 'identity') {
      const { DefaultAzureCredential } = await import('@azure/identity');
      c = new Client(resolved.namespace, new DefaultAzureCredential());
    } else throw new Error(`setting '${name}' is not defined`);
    clients.set(name, c);
    return c;
  };

  const track = async (work: () => Promise<void>) => {
    inFlight++;
    try {
      await work();
    } finally {
      if (--inFlight === 0 && idleWaiters.length > 0) {
        const w = idleWaiters;
        idleWaiters = [];
        for (const f of w) f();
      }
    }
  };

  // SDK-bound triggers: the Settlement service, and the worker arguments that point at it.
  let settlement: { port: number; release(): Promise<void> } | undefined;
  const ensureSettlement = async (services: HostServices): Promise<boolean> => {
    if (settlement) return true;
    let proto: string;
    try {
      const pkg = createRequire(join(services.appDir, 'package.json')).resolve('@azure/functions-extensions-servicebus/package.json');
      proto = join(dirname(pkg), 'dist', 'proto', 'settlement.proto');
      if (!existsSync(proto)) throw new Error(`${proto} is missing`);
    } catch (err) {
      logger!.warn(`SDK-bound Service Bus triggers will not run: the app has no usable @azure/functions-extensions-servicebus (${(err as Error).message})`);
      return false;
    }
    settlement = await acquireSettlementServer(proto);
    setWorkerArguments(process.argv, settlement.port);
    logger!.info(`Service Bus Settlement service on 127.0.0.1:${settlement.port} (worker arguments --host/--port set)`);
    return true;
  };

  const describe = (run: TriggerRun) => (run.entity.queue ? `queue '${run.entity.queue}'` : `topic '${run.entity.topic}' subscription '${run.entity.subscription}'`);

  // An SDK-bound function may settle its messages itself (through the Settlement service) while
  // it runs; what it left unsettled is completed on success when autoCompleteMessages is on, and
  // abandoned on failure, as the real host's extension does.
  const runMessages = async (run: TriggerRun, receiver: ServiceBusReceiver, batch: ServiceBusReceivedMessage[]) => {
    const entries: LockedMessage[] = batch.map((message) => ({ receiver, message }));
    const unregister = run.sdk ? entries.map(registerLockedMessage) : [];
    const what = run.many ? `a batch of ${batch.length}` : `message ${String(batch[0]!.messageId)} (delivery ${(batch[0]!.deliveryCount ?? 0) + 1})`;
    try {
      let value: unknown;
      let meta: Record<string, unknown>;
      if (run.many) {
        meta = {};
        for (const m of batch) for (const [k, v] of Object.entries(triggerMetadata(m))) ((meta[`${k}Array`] ??= []) as unknown[]).push(v);
        value = run.sdk ? host!.fromModelBindingData(batch.map(serviceBusModelBindingData)) : batch.map(triggerValue);
      } else {
        meta = triggerMetadata(batch[0]!);
        value = run.sdk ? host!.fromModelBindingData(serviceBusModelBindingData(batch[0]!)) : triggerValue(batch[0]!);
      }
      try {
        await host!.invoke(run.fn, value, { triggerMetadata: meta });
      } catch (err) {
        logger!.error(`function '${run.fn.name}' failed on ${what}; abandoning what it did not settle`, { error: err });
        await Promise.all(entries.filter((e) => !e.settled).map((e) => receiver.abandonMessage(e.message).catch((x: unknown) => logger!.warn(`could not abandon message ${String(e.message.messageId)}: ${(x as Error).message}`))));
        return;
      }
    } catch (err) {
      logger!.error(`function '${run.fn.name}': could not bind ${what}; abandoning it`, { error: err });
      await Promise.all(entries.map((e) => receiver.abandonMessage(e.message).catch(() => {})));
      return;
    } finally {
      for (const u of unregister) u();
    }
    if (run.autoComplete) {
      await Promise.all(entries.filter((e) => !e.settled).map((e) => receiver.completeMessage(e.message).catch((x: unknown) => logger!.warn(`could not complete message ${String(e.message.messageId)}: ${(x as Error).message}`))));
    }
  };

  return {
    name: 'serviceBus',
    triggerTypes: ['serviceBusTrigger'],
    inputBindingTypes: [],
    get emulator() {
      return emulator;
    },

    async prepare(ctx: PrepareContext) {
      stateDir = ctx.stateDir;
      appDir = ctx.appDir;
      logger = ctx.logger;
      const asking = Object.entries(ctx.env).filter(([, v]) => asksForEmulator(v)).map(([k]) => k);
      if (asking.length === 0 || options.startEmulator === false) return;
      const e = await ensureEmulator(ctx.env);
      for (const name of asking.sort()) handTo(ctx.env, name, e.connectionString);
      logger.info(`Service Bus emulator handed to: ${asking.sort().join(', ')}`);
    },

    async init(services: HostServices) {
      host = services;
      logger = services.logger;
      stateDir ||= services.stateDir;
      const env = services.env;
      const topology: { Queues: { Name: string }[]; Topics: { Name: string; Subscriptions: { Name: string }[] }[] } = { Queues: [], Topics: [] };
      for (const fn of services.functions) {
        if (fn.trigger.type.toLowerCase() !== 'servicebustrigger') continue;
        if (fn.trigger.isSessionsEnabled === true) {
          logger.warn(`function '${fn.name}' will not run: session-enabled Service Bus triggers are not supported by the local host`);
          continue;
        }
        const entity = entityOf(fn.trigger);
        const connection = connectionSettingName(fn.trigger);
        if (resolveConnection(env, connection).kind === 'unset') {
          if (options.startEmulator === false) {
            logger.warn(`function '${fn.name}' will not run: setting '${connection}' is not defined and the Service Bus emulator is disabled`);
            continue;
          }
          const e = await ensureEmulator(env);
          handTo(env, connection, e.connectionString);
        }
        if (env[connection] !== undefined && emulator && env[connection] === emulator.connectionString) {
          if (entity.queue) topology.Queues.push({ Name: entity.queue });
          else {
            let t = topology.Topics.find((x) => x.Name.toLowerCase() === entity.topic!.toLowerCase());
            if (!t) topology.Topics.push((t = { Name: entity.topic!, Subscriptions: [] }));
            t.Subscriptions.push({ Name: entity.subscription! });
          }
        }
        const autoComplete = fn.trigger.autoCompleteMessages ?? hostSetting(services.hostJson, 'autoCompleteMessages') ?? true;
        const sdk = isSdkBound(fn.trigger);
        if (sdk && !(await ensureSettlement(services))) continue;
        runs.push({ fn, connection, entity, many: String(fn.trigger.cardinality ?? 'one').toLowerCase() === 'many', autoComplete: autoComplete !== false && autoComplete !== 'false', sdk });
      }
      if (emulator && (topology.Queues.length > 0 || topology.Topics.length > 0)) {
        const file: TopologyFile = { UserConfig: { Namespaces: [{ Name: 'local', Queues: topology.Queues, Topics: topology.Topics }] } };
        emulator.ensureEntities(parseTopology(file));
      }
    },

    resolveInputBinding() {
      return undefined;
    },

    async start() {
      if (!host) return;
      const env = host.env;
      const concurrency = Number(hostSetting(host.hostJson, 'maxConcurrentCalls') ?? 16);
      const renewal = hostSetting(host.hostJson, 'maxAutoLockRenewalDuration');
      const renewalMs = typeof renewal === 'string' ? parseDuration(renewal) : 5 * 60_000;
      const batchSize = Number(hostSetting(host.hostJson, 'maxMessageBatchSize') ?? 1000);
      for (const run of runs) {
        const client = await clientFor(env, run.connection);
        const receiverOptions = { receiveMode: 'peekLock' as const, maxAutoLockRenewalDurationInMs: renewalMs };
        const receiver = run.entity.queue ? client.createReceiver(run.entity.queue, receiverOptions) : client.createReceiver(run.entity.topic!, run.entity.subscription!, receiverOptions);
        run.receiver = receiver;
        if (!run.many) {
          run.subscription = receiver.subscribe(
            {
              processMessage: (m) => track(() => runMessages(run, receiver, [m])),
              processError: async (args) => {
                if (!stopping) logger!.warn(`Service Bus trigger '${run.fn.name}' (${describe(run)}): ${args.error.message}`);
              },
            },
            { autoCompleteMessages: false, maxConcurrentCalls: Number.isFinite(concurrency) && concurrency > 0 ? concurrency : 16 },
          );
          continue;
        }
        let active = true;
        run.stopBatchLoop = () => {
          active = false;
        };
        run.batchLoop = (async () => {
          while (active) {
            try {
              const batch = await receiver.receiveMessages(batchSize, { maxWaitTimeInMs: 1000 });
              if (batch.length > 0) await track(() => runMessages(run, receiver, batch));
            } catch (err) {
              if (!active) return;
              logger!.warn(`Service Bus trigger '${run.fn.name}' (${describe(run)}): ${(err as Error).message}`);
              await new Promise((r) => setTimeout(r, 1000));
            }
          }
        })();
      }
      if (runs.length > 0) logger?.info(`Service Bus triggers listening: ${runs.map((r) => `${r.fn.name} (${describe(r)})`).join(', ')}`);
    },

    async stop(graceMs: number) {
      stopping = true;
      for (const run of runs) run.stopBatchLoop?.();
      // Stop taking messages; let the ones being processed finish and settle within the grace.
      await Promise.all(runs.map((run) => run.subscription?.close().catch(() => {})));
      if (inFlight > 0) {
        await Promise.race([new Promise<void>((r) => idleWaiters.push(r)), new Promise<void>((r) => setTimeout(r, graceMs).unref())]);
      }
      await Promise.all(runs.map((r) => r.batchLoop?.catch(() => {})));
      await Promise.all([...clients.values()].map((c) => c.close().catch(() => {})));
      clients.clear();
      runs.length = 0;
      await settlement?.release();
      settlement = undefined;
      await emulator?.stop();
      emulator = undefined;
      for (const [name, previous] of setByUs) {
        const env = host?.env ?? process.env;
        if (previous === undefined) delete env[name];
        else env[name] = previous;
      }
      setByUs.clear();
    },
  };
}
