/**
 * The invocation pipeline shared by every trigger (HTTP, timer, extension-driven): build the
 * app's own `InvocationContext`, fill input bindings supplied by extensions, run the
 * pre-invocation hooks, call the registered callback, run the post-invocation hooks.
 */
import { randomUUID } from 'node:crypto';
import type { BindingDefinition, FunctionRegistration, HostExtension, InvokeOptions } from './extension.js';
import type { CoreState, FunctionCallback, HookCallback } from './functions-core.js';
import type { FunctionsLibrary } from './app-loader.js';
import { ConsoleLogger, formatArgs, fromFunctionsLevel, levelFor, type LogLevel } from './logger.js';

/** A registered function as the host keeps it. */
export interface FunctionEntry extends FunctionRegistration {
  readonly callback: FunctionCallback;
  /** `context.options` as @azure/functions' `fromRpcBindings` builds it. */
  readonly effectiveOptions: {
    trigger: BindingDefinition;
    return?: BindingDefinition;
    extraInputs: BindingDefinition[];
    extraOutputs: BindingDefinition[];
  };
  /** Input bindings an extension supplies, with that extension. */
  readonly suppliedInputs: readonly { binding: BindingDefinition; ext: HostExtension }[];
  /** Logger bound to the function name, at the level host.json gives its category. */
  readonly logger: ConsoleLogger;
}

export interface InvocationOutcome {
  result: unknown;
  context: any;
  invocationId: string;
}

export class Invoker {
  readonly #lib: FunctionsLibrary;
  readonly #core: CoreState;
  readonly #appHookData: Record<string, unknown>;
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];

  constructor(lib: FunctionsLibrary, core: CoreState, appHookData: Record<string, unknown>) {
    this.#lib = lib;
    this.#core = core;
    this.#appHookData = appHookData;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves when no invocation is running (immediately if none is). */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /**
   * Counts `work` as in flight until it settles (shutdown waits for it). The HTTP dispatcher
   * wraps whole requests, so a response still streaming after the function returned counts.
   */
  async track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await work;
    } finally {
      if (--this.#inFlight === 0 && this.#idleWaiters.length > 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  /** Runs `fn` with `triggerValue`; rejects with what the function (or a hook) threw. */
  invoke(fn: FunctionEntry, triggerValue: unknown, options: InvokeOptions = {}): Promise<InvocationOutcome> {
    return this.track(this.invokeUntracked(fn, triggerValue, options));
  }

  /** `invoke` for callers that already count the surrounding work as in flight. */
  async invokeUntracked(fn: FunctionEntry, triggerValue: unknown, options: InvokeOptions = {}): Promise<InvocationOutcome> {
    const invocationId = options.invocationId ?? randomUUID();
    const context = this.createContext(fn, invocationId, options.triggerMetadata);
    return { result: await this.#run(fn, context, triggerValue), context, invocationId };
  }

  createContext(fn: FunctionEntry, invocationId: string, triggerMetadata?: Record<string, unknown>): any {
    const logger = fn.logger;
    const logHooks = this.#core.hooksFor('log');
    // The library keeps the log handler in a WeakMap keyed by the context. Were the handler to
    // hold the context strongly, that ephemeron cycle would survive every young-generation GC
    // (V8 only breaks it in a full GC): under load, scavenges grew several times slower. Log
    // hooks reach the context through a WeakRef instead.
    let contextRef: WeakRef<object> | undefined;
    const logHandler = (level: string, ...args: unknown[]) => {
      let lvl: LogLevel = fromFunctionsLevel(level);
      let message: string | undefined;
      if (logHooks.length > 0) {
        // Log hooks may rewrite level and message (worker semantics); they see user logs.
        message = formatArgs(args);
        const hookCtx = { hookData: {}, appHookData: this.#appHookData, level, message, category: 'user', invocationContext: contextRef?.deref() };
        for (const h of logHooks) void h(hookCtx);
        lvl = fromFunctionsLevel(hookCtx.level);
        message = hookCtx.message;
      }
      if (!logger.enabled(lvl)) return;
      logger.log(lvl, message ?? formatArgs(args), { invocationId });
    };
    const context: any = new this.#lib.InvocationContext({
      invocationId,
      functionName: fn.name,
      logHandler,
      triggerMetadata,
      options: fn.effectiveOptions,
    });
    if (logHooks.length > 0) contextRef = new WeakRef(context);
    for (const { binding, ext } of fn.suppliedInputs) {
      context.extraInputs.set(binding.name, ext.resolveInputBinding(binding, fn));
    }
    return context;
  }

  /** Without hooks the callback's own value (or promise) is returned: no extra promise layer. */
  #run(fn: FunctionEntry, context: any, triggerValue: unknown): unknown {
    const pre = this.#core.hooksFor('preInvocation');
    const post = this.#core.hooksFor('postInvocation');
    if (pre.length === 0 && post.length === 0) return fn.callback(triggerValue, context);
    return this.#runWithHooks(fn, context, triggerValue, pre, post);
  }

  async #runWithHooks(fn: FunctionEntry, context: any, triggerValue: unknown, pre: readonly HookCallback[], post: readonly HookCallback[]): Promise<unknown> {

    const hookData: Record<string, unknown> = {};
    const preCtx = { hookData, appHookData: this.#appHookData, invocationContext: context, inputs: [triggerValue], functionCallback: fn.callback };
    for (const h of [...pre]) await h(preCtx);
    let result: unknown;
    let error: unknown;
    try {
      result = await preCtx.functionCallback(...preCtx.inputs, context);
    } catch (err) {
      error = err;
    }
    const postCtx = { hookData, appHookData: this.#appHookData, invocationContext: context, inputs: preCtx.inputs, result, error };
    for (const h of [...post]) await h(postCtx);
    if (postCtx.error !== undefined && postCtx.error !== null) throw postCtx.error;
    return postCtx.result;
  }
}

/** The level for a function's user logs from host.json `logging.logLevel`. */
export function functionLogLevel(hostJson: Record<string, any>, functionName: string, fallback: LogLevel): LogLevel {
  return levelFor(hostJson?.logging?.logLevel, `Function.${functionName}.User`, fallback);
}
