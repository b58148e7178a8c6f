/**
 * The contract between the generic local Functions host and the trigger extensions it loads
 * (today: the Durable backend in local/durable). Mirrors how the real Functions host hosts
 * binding extensions: the host owns app loading, HTTP, keys, logging and the invocation
 * pipeline; an extension owns the trigger types and input bindings it declares.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ModelBindingValue } from './app-loader.js';

export type { ModelBindingValue } from './app-loader.js';

/** One binding as registered by the app (the `bindings` values of registerFunction metadata). */
export interface BindingDefinition {
  name: string;
  type: string;
  direction: 'in' | 'out' | 'inout' | string;
  [option: string]: unknown;
}

/** A function the app registered through @azure/functions-core. */
export interface FunctionRegistration {
  /** Function name as registered (case preserved; look-ups are case-insensitive). */
  readonly name: string;
  /** The binding whose type ends in `Trigger`. */
  readonly trigger: BindingDefinition;
  /** Every binding, trigger included. */
  readonly bindings: readonly BindingDefinition[];
  /** Retry options the app registered, if any. */
  readonly retryOptions?: unknown;
}

export interface InvokeOptions {
  /** Defaults to a fresh UUID. */
  invocationId?: string;
  /** Becomes `context.triggerMetadata`. */
  triggerMetadata?: Record<string, unknown>;
}

/** Structured logger shared by the host and its extensions. */
export interface HostLogger {
  trace(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What the host offers an extension. */
export interface HostServices {
  /** All functions the app registered. */
  readonly functions: readonly FunctionRegistration[];
  /** Case-insensitive look-up by function name. */
  findFunction(name: string): FunctionRegistration | undefined;
  /**
   * Runs a function's registered callback with the given trigger value, inside a full
   * InvocationContext (logging, trigger metadata, extra inputs resolved through the extensions).
   * Resolves to whatever the callback returns; rejects with what it throws.
   */
  invoke(fn: FunctionRegistration, triggerValue: unknown, options?: InvokeOptions): Promise<unknown>;
  /**
   * The argument the app's worker library makes of `ModelBindingData` (an SDK-type binding,
   * `supportsDeferredBinding`), through the resource factory the app registered for its source.
   */
  fromModelBindingData(data: ModelBindingValue | ModelBindingValue[]): unknown;
  /** The app's folder. */
  readonly appDir: string;
  /** The host's local state folder (an extension keeps its files in a sub-folder). */
  readonly stateDir: string;
  /** Public origin of the host's HTTP listener, e.g. `http://127.0.0.1:7071` (valid from `start`). */
  origin(): string;
  /** Value of a host-level system key (created and persisted on first use). */
  systemKey(name: string): string;
  /** Parsed host.json of the app (`{}` when absent). */
  readonly hostJson: Record<string, any>;
  /** The process environment after local.settings.json was applied. */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: HostLogger;
  /** True when the host was started with its test-only options enabled (e.g. `--test-clock`). */
  readonly testMode: boolean;
}

/** What an extension sees before the app loads (see `HostExtension.prepare`). */
export interface PrepareContext {
  /** The process environment after local.settings.json was applied; the app has not read it yet. */
  readonly env: NodeJS.ProcessEnv;
  readonly stateDir: string;
  readonly appDir: string;
  readonly logger: HostLogger;
}

/** A trigger/binding extension the host loads before the app's functions are served. */
export interface HostExtension {
  readonly name: string;
  /**
   * Optional, called before the app is loaded: an extension that provides a local emulator
   * starts it here and hands its connection string to the settings asking for it, so app
   * code that reads its settings at import time sees them.
   */
  prepare?(context: PrepareContext): Promise<void>;
  /** Trigger binding types this extension drives, e.g. `activityTrigger`. */
  readonly triggerTypes: readonly string[];
  /** Input binding types this extension supplies, e.g. `durableClient`. */
  readonly inputBindingTypes: readonly string[];
  /**
   * Called once after the app is loaded and before the HTTP listener opens.
   * Open stores, validate registrations; do not start dispatching work yet.
   */
  init(host: HostServices): Promise<void>;
  /** Value for one input binding of one invocation (goes into `context.extraInputs`). */
  resolveInputBinding(binding: BindingDefinition, fn: FunctionRegistration): unknown;
  /**
   * URL path prefixes (e.g. `/runtime/webhooks/durabletask`) whose requests the host hands to
   * `handleHttp` after checking the system key named by `systemKeyName`.
   */
  readonly httpRoutes?: readonly { prefix: string; systemKeyName: string }[];
  handleHttp?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /** Called once the HTTP listener is open: resume and start dispatching work. */
  start(): Promise<void>;
  /** Stop taking new work and let in-flight work finish within `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/** Options the host passes to every extension factory. */
export interface ExtensionFactoryOptions {
  /** Test-only: a controllable clock is enabled (see the durable extension). */
  testClock: boolean;
  /** The Service Bus extension may start the local emulator (default true). */
  serviceBus?: boolean;
}
