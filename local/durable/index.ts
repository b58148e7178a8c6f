/**
 * Durable Functions backend for the local host: drives orchestrationTrigger, activityTrigger
 * and entityTrigger functions, supplies the durableClient input binding, and serves the
 * durable HTTP API (public under /runtime/webhooks/durabletask with the system key, and as the
 * client's RPC base on its own loopback listener). See docs/durable.md.
 *
 * The RPC listener is on the machine's loopback, which code the app runs (a build step with
 * network, a deployed service) shares; so it answers only paths that start with a random
 * secret made at each start (`/durabletask/<secret>/…`). Only the durable client binding
 * handed to the app's functions in this process carries it; the log line names the port only.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BindingDefinition, ExtensionFactoryOptions, HostExtension, HostServices } from '../host/extension.js';
import { DurableClock } from './clock.js';
import { DurableEngine, defaultSettings, type EngineSettings } from './engine.js';
import { DurableHttpApi } from './http-api.js';
import { DurableStore } from './store.js';

export { DurableEngine } from './engine.js';
export { DurableStore } from './store.js';
export { DurableClock } from './clock.js';

const PUBLIC_PREFIX = '/runtime/webhooks/durabletask';
const RPC_PREFIX = '/durabletask';
const DURABLE_TRIGGERS = ['orchestrationTrigger', 'activityTrigger', 'entityTrigger'];
const CLIENT_TYPES = ['durableClient', 'orchestrationClient'];

/** True when `pathname` is under `/durabletask/<secret>` (constant-time comparison of the secret). */
export function rpcPathAllowed(pathname: string, secret: string): boolean {
  if (!pathname.startsWith(RPC_PREFIX + '/')) return false;
  const given = Buffer.from(pathname.slice(RPC_PREFIX.length + 1).split('/')[0] ?? '');
  const want = Buffer.from(secret);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Engines of running hosts, by database path (benches and tests reach the engine in-process). */
export const runningEngines = new Map<string, DurableEngine>();

/** Replaces `%Name%` with the app setting (as the Functions host resolves binding settings). */
function resolveSetting(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => env[name] ?? '');
}

/** Task hub name from host.json (extensions.durableTask.hubName), default TestHubName. */
export function taskHubName(hostJson: Record<string, any>, env: NodeJS.ProcessEnv): string {
  const raw = hostJson?.extensions?.durableTask?.hubName;
  const name = typeof raw === 'string' ? resolveSetting(raw, env).trim() : '';
  return name || 'TestHubName';
}

/** Engine limits from host.json extensions.durableTask (same setting names as Azure). */
export function engineSettings(hostJson: Record<string, any>): EngineSettings {
  const dt = hostJson?.extensions?.durableTask ?? {};
  const s = defaultSettings();
  const pos = (v: unknown, d: number) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : d);
  return {
    ...s,
    maxConcurrentActivities: pos(dt.maxConcurrentActivityFunctions, s.maxConcurrentActivities),
    maxConcurrentOrchestrations: pos(dt.maxConcurrentOrchestratorFunctions, s.maxConcurrentOrchestrations),
    maxConcurrentEntities: pos(dt.maxConcurrentEntityFunctions, s.maxConcurrentEntities),
  };
}

export function createDurableExtension(options: ExtensionFactoryOptions): HostExtension {
  let host: HostServices | undefined;
  let store: DurableStore | undefined;
  let engine: DurableEngine | undefined;
  let api: DurableHttpApi | undefined;
  let rpc: Server | undefined;
  let rpcBaseUrl = '';
  let hub = 'TestHubName';

  const systemKey = () => host!.systemKey('durabletask_extension');

  return {
    name: 'durable',
    triggerTypes: DURABLE_TRIGGERS,
    inputBindingTypes: CLIENT_TYPES,
    httpRoutes: [{ prefix: PUBLIC_PREFIX, systemKeyName: 'durabletask_extension' }],

    async init(h: HostServices) {
      host = h;
      const used = h.functions.some(
        (f) => DURABLE_TRIGGERS.includes(f.trigger.type) || f.bindings.some((b) => CLIENT_TYPES.includes(b.type)),
      );
      // An app without durable functions keeps this extension idle (no database, no port).
      if (!used) return;
      hub = taskHubName(h.hostJson, h.env);
      const file = join(h.stateDir, 'durable', `${hub.replace(/[^A-Za-z0-9_-]/g, '_')}.sqlite`);
      store = new DurableStore(file);
      const st = store;
      const clock = new DurableClock(options.testClock, {
        load: () => Number(st.getMeta('testClockOffsetMs') ?? 0) || 0,
        save: (ms) => st.setMeta('testClockOffsetMs', String(ms)),
      });
      engine = new DurableEngine(store, h, clock, engineSettings(h.hostJson));
      api = new DurableHttpApi(engine, {
        taskHub: hub,
        publicBase: () => `${h.origin()}${PUBLIC_PREFIX}`,
        requiredQuery: () => `code=${encodeURIComponent(systemKey())}`,
        testClock: options.testClock,
      });
      const a = api;
      const secret = randomBytes(32).toString('base64url');
      const base = `${RPC_PREFIX}/${secret}`;
      rpc = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (!rpcPathAllowed(url.pathname, secret)) {
          // Same answer for a wrong secret and a wrong path: nothing to probe.
          res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'unauthorized' }));
          return;
        }
        void a.handle(req, res, url, base);
      });
      rpc.keepAliveTimeout = 30_000;
      try {
        await new Promise<void>((resolve, reject) => {
          rpc!.once('error', reject);
          rpc!.listen(0, '127.0.0.1', () => resolve());
        });
      } catch (err) {
        // A failed start leaves nothing open (the next start may use the same state folder).
        store.close();
        store = undefined;
        engine = undefined;
        api = undefined;
        throw err;
      }
      const rpcPort = (rpc.address() as AddressInfo).port;
      rpcBaseUrl = `http://127.0.0.1:${rpcPort}${base}/`;
      runningEngines.set(file, engine);
      h.logger.info(`durable: task hub '${hub}' in ${file}, RPC on 127.0.0.1:${rpcPort} (secret path)`);
    },

    resolveInputBinding(_binding: BindingDefinition) {
      if (!api || !host) return undefined;
      const base = `${host.origin()}${PUBLIC_PREFIX}`;
      const rq = `code=${encodeURIComponent(systemKey())}`;
      const mgmt = api.checkStatusPayload('INSTANCEID');
      return {
        taskHubName: hub,
        connectionName: 'Storage',
        creationUrls: {
          createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?${rq}`,
          createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${rq}`,
        },
        managementUrls: { ...mgmt, id: 'INSTANCEID' },
        baseUrl: base,
        requiredQueryStringParameters: rq,
        rpcBaseUrl,
      };
    },

    async handleHttp(req, res, url) {
      if (!api) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'this app has no durable functions' }));
        return;
      }
      await api.handle(req, res, url, PUBLIC_PREFIX);
    },

    async start() {
      if (!engine || !host) return;
      // getClient() rewrites management URLs to localhost:7071 unless WEBSITE_HOSTNAME is set
      // (as it is on Azure); point it at this host instead.
      if (!process.env.WEBSITE_HOSTNAME || process.env.WEBSITE_HOSTNAME.includes('0.0.0.0')) {
        process.env.WEBSITE_HOSTNAME = new URL(host.origin()).host;
      }
      engine.start();
    },

    async stop(graceMs: number) {
      if (!engine) return;
      await engine.stop(graceMs);
      await new Promise<void>((r) => {
        if (!rpc) return r();
        rpc.close(() => r());
        rpc.closeAllConnections();
      });
      for (const [k, v] of runningEngines) if (v === engine) runningEngines.delete(k);
      store?.close();
    },
  };
}
