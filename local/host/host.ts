/**
 * The generic local Azure Functions v4 host: loads any Node v4 app (ESM or CommonJS) through
 * the `@azure/functions-core` contract and serves its triggers — HTTP, timers, and whatever
 * trigger types the bundled extensions declare (Durable). It knows nothing about the app it
 * runs. One host per process (the core module and the app's module cache are per process).
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { bundledExtensions } from '../extensions.js';
import { startAzurite, type RunningAzurite } from '../storage/azurite.js';
import { handOffDevStorage, isRealStorageConnection } from '../storage/dev-storage.js';
import {
  applySettings,
  entryFiles,
  loadEntry,
  readAppPackage,
  readHostJson,
  readLocalSettings,
  modelBindingConverter,
  resolveFunctionsLibrary,
  resolveSettingRefs,
} from './app-loader.js';
import type { BindingDefinition, HostExtension, HostServices } from './extension.js';
import { CoreState, installFunctionsCore } from './functions-core.js';
import { createHttpDispatcher, DEFAULT_MAX_BODY_BYTES, type HttpTarget } from './http-trigger.js';
import { functionLogLevel, Invoker, type FunctionEntry } from './invoker.js';
import { KeyStore } from './keys.js';
import { ConsoleLogger, fromFunctionsLevel, levelFor, parseLogLevel, type LogLevel, type LogRecord } from './logger.js';
import { parseRouteTemplate, RouteTable } from './routes.js';
import { TimerScheduler } from './timers.js';

export interface StartHostOptions {
  /** Folder with the app's package.json (and host.json, local.settings.json). */
  appDir: string;
  /** Port on 127.0.0.1; 0 picks a free one. Default: local.settings.json Host.LocalHttpPort, else 7071. */
  port?: number;
  /** Local state folder (keys, timer status, Azurite data, extension stores). Default: CONVEYOR_STATE_DIR or ./.conveyor */
  stateDir?: string;
  /** Test-only options of the extensions (e.g. the durable controllable clock). */
  testClock?: boolean;
  /** How long shutdown waits for in-flight invocations, ms (default 10 000). */
  graceMs?: number;
  /** Start Azurite unless a real storage connection is configured (default true). */
  startStorage?: boolean;
  /** Let the Service Bus extension start the local emulator when a trigger or setting needs it (default true). */
  startServiceBus?: boolean;
  /** Variables set in the process environment before anything else (they override existing ones). */
  env?: Record<string, string>;
  /** Replaces the bundled extensions (tests use their own). */
  extensions?: HostExtension[];
  /** Request body limit in bytes (default FUNCTIONS_REQUEST_BODY_SIZE_LIMIT or 100 MB). */
  maxBodyBytes?: number;
  /** Minimum log level (default CONVEYOR_LOG_LEVEL, host.json logging.logLevel.default, info). */
  logLevel?: LogLevel;
  /** Observer of every log record written (tests). */
  onLog?: (record: LogRecord) => void;
  /** Replaces the console as the destination of log lines (tests keep their output clean). */
  logWrite?: (line: string, level: Exclude<LogLevel, 'none'>) => void;
  /** Ports for Azurite (default: free ones, or CONVEYOR_AZURITE_{BLOB,QUEUE,TABLE}_PORT). */
  azurite?: { blobPort?: number; queuePort?: number; tablePort?: number };
}

/** A function as listed at start-up. */
export interface HostedFunction {
  name: string;
  triggerType: string;
  /** HTTP: full URL template; timer: schedule; extension triggers: the extension name. */
  detail: string;
  methods?: string[];
  authLevel?: string;
  /** Why the host will not run it, when it will not. */
  unsupported?: string;
}

export interface RunningHost {
  origin: string;
  port: number;
  keys: { master: string; function: string };
  stateDir: string;
  functions: HostedFunction[];
  /** The Azurite the host started (absent when storage was configured or disabled). */
  storage?: { pid: number; blobPort: number; queuePort: number; tablePort: number; connectionString: string };
  /** Stop accepting, let in-flight work finish within the grace period, stop everything. */
  stop(): Promise<void>;
}

export { isRealStorageConnection } from '../storage/dev-storage.js';

function bindingsOf(metadata: { bindings: Record<string, Record<string, unknown>> }, env: NodeJS.ProcessEnv, onMissing: (name: string) => void): BindingDefinition[] {
  return Object.entries(metadata.bindings).map(([name, b]) => {
    const out: BindingDefinition = { ...(b as BindingDefinition), name };
    // Binding options may reference settings (`schedule: '%MY_SCHEDULE%'`), like on Azure.
    for (const [k, v] of Object.entries(out)) {
      if (typeof v === 'string' && k !== 'name' && k !== 'type' && k !== 'direction' && v.includes('%')) {
        out[k] = resolveSettingRefs(v, env, onMissing);
      }
    }
    return out;
  });
}

const isTriggerType = (t: string) => /trigger$/i.test(t);

/** Starts the host; resolves once the HTTP listener is open and the extensions started. */
export async function startHost(options: StartHostOptions): Promise<RunningHost> {
  const appDir = resolve(options.appDir);
  const env = process.env;
  if (options.env) Object.assign(env, options.env);
  const stateDir = resolve(options.stateDir ?? env.CONVEYOR_STATE_DIR ?? join(process.cwd(), '.conveyor'));
  mkdirSync(stateDir, { recursive: true });

  const settings = readLocalSettings(appDir);
  applySettings(env, settings.values);
  // Tells the app its host runs with the test-only options (an app may then allow test-only
  // settings, e.g. fault injection); the real Functions host never sets it.
  if (options.testClock === true) env.FUNCTIONS_LOCAL_HOST_TEST_MODE = 'true';
  else delete env.FUNCTIONS_LOCAL_HOST_TEST_MODE;
  const hostJson = readHostJson(appDir);

  const logLevels = hostJson?.logging?.logLevel as Record<string, unknown> | undefined;
  const forced = options.logLevel ?? parseLogLevel(env.CONVEYOR_LOG_LEVEL);
  const baseLevel: LogLevel = forced ?? levelFor(logLevels, 'default', 'info');
  const logger = new ConsoleLogger({ level: baseLevel, format: env.CONVEYOR_LOG_FORMAT === 'json' ? 'json' : 'text', onRecord: options.onLog, write: options.logWrite });
  const hostLogger = logger.child({ category: 'host' });

  let azurite: RunningAzurite | undefined;
  let server: Server | undefined;
  const initialized: HostExtension[] = [];
  // Undo a half-done start: nothing may keep running (or listening) after startHost rejects.
  const cleanup = async () => {
    server?.close();
    server?.closeAllConnections();
    for (const ext of initialized.reverse()) await ext.stop(0).catch(() => {});
    await azurite?.stop();
  };

  try {
    if (options.startStorage !== false && !isRealStorageConnection(env.AzureWebJobsStorage)) {
      const portEnv = (n: string) => (env[n] ? Number(env[n]) : undefined);
      azurite = await startAzurite({
        location: join(stateDir, 'azurite'),
        blobPort: options.azurite?.blobPort ?? portEnv('CONVEYOR_AZURITE_BLOB_PORT'),
        queuePort: options.azurite?.queuePort ?? portEnv('CONVEYOR_AZURITE_QUEUE_PORT'),
        tablePort: options.azurite?.tablePort ?? portEnv('CONVEYOR_AZURITE_TABLE_PORT'),
      });
      // The host's own storage setting, and every app setting whose value asks for the emulator.
      env.AzureWebJobsStorage = azurite.connectionString;
      const handedTo = handOffDevStorage(env, azurite.connectionString);
      hostLogger.info(`Azurite started (pid ${azurite.pid}, blob port ${azurite.blobPort})`, { location: join(stateDir, 'azurite'), settings: ['AzureWebJobsStorage', ...handedTo].join(', ') });
    }

    const keys = new KeyStore(join(stateDir, 'host-keys.json'), env);

    // Extensions that provide an emulator start it before the app reads its settings.
    const extensions = options.extensions ?? bundledExtensions({ testClock: options.testClock === true, serviceBus: options.startServiceBus !== false });
    for (const ext of extensions) {
      if (!ext.prepare) continue;
      initialized.push(ext);
      await ext.prepare({ env, stateDir, appDir, logger: hostLogger });
    }

    // The core API must exist before the app's first app.* call.
    const core = installFunctionsCore(new CoreState());
    core.logSink = (level, category, message) => logger.log(fromFunctionsLevel(level), message, { category: `worker.${category}` });
    const app = readAppPackage(appDir);
    const files = await entryFiles(app);
    const lib = resolveFunctionsLibrary(appDir);
    for (const file of files) {
      hostLogger.debug(`loading ${file}`);
      await loadEntry(app, file);
    }
    core.locked = true;

    const triggerOwner = new Map<string, HostExtension>();
    const inputOwner = new Map<string, HostExtension>();
    for (const ext of extensions) {
      for (const t of ext.triggerTypes) triggerOwner.set(t.toLowerCase(), ext);
      for (const t of ext.inputBindingTypes) inputOwner.set(t.toLowerCase(), ext);
    }

    const missing = new Set<string>();
    const entries: FunctionEntry[] = [];
    for (const reg of core.registrations) {
      const bindings = bindingsOf(reg.metadata, env, (n) => missing.add(`${n} (function ${reg.metadata.name})`));
      const trigger = bindings.find((b) => isTriggerType(b.type));
      if (!trigger) {
        hostLogger.warn(`function '${reg.metadata.name}' has no trigger binding; skipped`);
        continue;
      }
      const returnBinding = bindings.find((b) => b.name === '$return');
      const extraInputs = bindings.filter((b) => b !== trigger && b.direction === 'in');
      const extraOutputs = bindings.filter((b) => b !== returnBinding && b.direction === 'out');
      const suppliedInputs = extraInputs.flatMap((b) => {
        const ext = inputOwner.get(b.type.toLowerCase());
        return ext ? [{ binding: b, ext }] : [];
      });
      const fnLevel = forced ?? functionLogLevel(hostJson, reg.metadata.name, baseLevel);
      entries.push({
        name: reg.metadata.name,
        trigger,
        bindings,
        retryOptions: reg.metadata.retryOptions,
        callback: reg.callback,
        effectiveOptions: { trigger, return: returnBinding, extraInputs, extraOutputs },
        suppliedInputs,
        logger: logger.child({ functionName: reg.metadata.name }, fnLevel),
      });
    }
    for (const m of missing) hostLogger.warn(`setting %${m.split(' ')[0]}% is not defined; the reference is left as is ${m.slice(m.indexOf(' ') + 1)}`);

    const byName = new Map(entries.map((e) => [e.name.toLowerCase(), e]));
    const appHookData: Record<string, unknown> = {};
    const invoker = new Invoker(lib, core, appHookData);

    let origin = '';
    const services: HostServices = {
      functions: entries,
      findFunction: (name) => byName.get(name.toLowerCase()),
      invoke: async (fn, triggerValue, invokeOptions) => {
        const entry = byName.get(fn.name.toLowerCase());
        if (!entry) throw new Error(`unknown function '${fn.name}'`);
        return (await invoker.invoke(entry, triggerValue, invokeOptions)).result;
      },
      fromModelBindingData: modelBindingConverter(appDir),
      appDir,
      stateDir,
      origin: () => origin,
      systemKey: (name) => keys.systemKey(name),
      hostJson,
      env,
      logger: hostLogger,
      testMode: options.testClock === true,
    };

    // Routing and the start-up listing.
    const routePrefix = String(hostJson?.extensions?.http?.routePrefix ?? 'api');
    const routes = new RouteTable<HttpTarget>();
    const timers = new TimerScheduler(stateDir, invoker, hostLogger);
    const listed: HostedFunction[] = [];
    for (const fn of entries) {
      const type = fn.trigger.type;
      const lower = type.toLowerCase();
      try {
        for (const b of fn.effectiveOptions.extraInputs) {
          if (!inputOwner.has(b.type.toLowerCase())) hostLogger.warn(`function '${fn.name}': input binding type '${b.type}' is not supported by the local host; its value will be undefined`);
        }
        for (const b of fn.effectiveOptions.extraOutputs) {
          if (b.type.toLowerCase() !== 'http') hostLogger.warn(`function '${fn.name}': output binding type '${b.type}' is not supported by the local host; values set on it are dropped`);
        }
        if (lower === 'httptrigger') {
          const template = typeof fn.trigger.route === 'string' && fn.trigger.route !== '' ? fn.trigger.route : fn.name;
          const methods = Array.isArray(fn.trigger.methods) ? (fn.trigger.methods as string[]).map((m) => m.toUpperCase()) : [];
          const authLevel = String(fn.trigger.authLevel ?? 'function').toLowerCase();
          if (authLevel !== 'anonymous' && authLevel !== 'function' && authLevel !== 'admin') throw new Error(`unknown authLevel '${authLevel}'`);
          routes.add(routePrefix, parseRouteTemplate(template), methods, { fn, authLevel });
          listed.push({ name: fn.name, triggerType: type, detail: `/${[routePrefix, template].filter(Boolean).join('/').replace(/\/+/g, '/').replace(/^\//, '')}`, methods, authLevel });
        } else if (lower === 'timertrigger') {
          const schedule = timers.add(fn);
          listed.push({ name: fn.name, triggerType: type, detail: schedule.describe() });
        } else if (triggerOwner.has(lower)) {
          listed.push({ name: fn.name, triggerType: type, detail: triggerOwner.get(lower)!.name });
        } else {
          const why = `trigger type '${type}' is not supported by the local host`;
          hostLogger.warn(`function '${fn.name}' will not run: ${why}`);
          listed.push({ name: fn.name, triggerType: type, detail: '', unsupported: why });
        }
      } catch (err) {
        const why = (err as Error).message;
        hostLogger.error(`function '${fn.name}' cannot be served: ${why}`);
        listed.push({ name: fn.name, triggerType: type, detail: '', unsupported: why });
      }
    }

    for (const ext of extensions) {
      if (!initialized.includes(ext)) initialized.push(ext);
      await ext.init(services);
    }

    // App start hooks run once the app is loaded, before the first invocation (worker order).
    for (const h of core.hooksFor('appStart')) await h({ hookData: appHookData, appHookData, functionAppDirectory: appDir });

    const limitEnv = Number(env.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT);
    const maxBodyBytes = options.maxBodyBytes ?? (Number.isFinite(limitEnv) && limitEnv > 0 ? limitEnv : DEFAULT_MAX_BODY_BYTES);
    const extensionRoutes = extensions.flatMap((ext) => (ext.httpRoutes ?? []).map((r) => ({ ...r, ext })));
    let state = 'Running';
    const dispatcher = createHttpDispatcher({ routes, keys, invoker, lib, logger: hostLogger, maxBodyBytes, extensionRoutes, origin: () => origin, status: () => state });

    server = createServer({ keepAliveTimeout: 5_000 }, dispatcher);
    const srv = server;
    const wantedPort = options.port ?? settings.hostPort ?? 7071;
    await new Promise<void>((res, rej) => {
      srv.once('error', rej);
      srv.listen(wantedPort, '127.0.0.1', () => {
        srv.off('error', rej);
        res();
      });
    });
    const port = (srv.address() as AddressInfo).port;
    origin = `http://127.0.0.1:${port}`;
    // durable-functions rewrites its management URLs from this.
    if (!env.WEBSITE_HOSTNAME) env.WEBSITE_HOSTNAME = `127.0.0.1:${port}`;

    for (const ext of extensions) await ext.start();
    timers.start();

    for (const f of listed) if (f.triggerType.toLowerCase() === 'httptrigger') f.detail = `${origin}${f.detail}`;

    let stopping: Promise<void> | undefined;
    const graceMs = options.graceMs ?? 10_000;
    const stop = () =>
      (stopping ??= (async () => {
        const deadline = Date.now() + graceMs;
        state = 'Stopping';
        hostLogger.info('host stopping');
        timers.stop();
        srv.close();
        srv.closeIdleConnections();
        const idle = invoker.idle();
        const timedOut = await Promise.race([idle.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
        if (timedOut) hostLogger.warn(`${invoker.inFlight} invocation(s) still running after the ${graceMs} ms grace period`);
        for (const ext of [...extensions].reverse()) {
          try {
            await ext.stop(Math.max(0, deadline - Date.now()));
          } catch (err) {
            hostLogger.error(`extension '${ext.name}' failed to stop`, { error: err });
          }
        }
        for (const h of core.hooksFor('appTerminate')) {
          try {
            await h({ hookData: appHookData, appHookData });
          } catch (err) {
            hostLogger.error('appTerminate hook failed', { error: err });
          }
        }
        srv.closeAllConnections();
        await azurite?.stop();
        hostLogger.info('host stopped');
      })());

    return {
      origin,
      port,
      keys: { master: keys.masterKey, function: keys.functionKey },
      stateDir,
      functions: listed,
      storage: azurite
        ? { pid: azurite.pid, blobPort: azurite.blobPort, queuePort: azurite.queuePort, tablePort: azurite.tablePort, connectionString: azurite.connectionString }
        : undefined,
      stop,
    };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}
