/**
 * The `@azure/functions-core` module that the real Node worker injects and that
 * `@azure/functions` requires lazily (and caches, failure included). The host installs this
 * before the app's first `app.*` call by hooking CommonJS resolution, so every copy of
 * `@azure/functions` in the app's tree finds it. See docs/local-host.md.
 */
import Module, { createRequire } from 'node:module';
import { join } from 'node:path';

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';
export type HookCallback = (context: any) => void | Promise<void>;
export type FunctionCallback = (...args: any[]) => unknown;

/** Raw registration as made by @azure/functions (`toCoreFunctionMetadata`). */
export interface CoreFunctionMetadata {
  name: string;
  functionId?: string;
  bindings: Record<string, Record<string, unknown>>;
  retryOptions?: unknown;
}

export interface CoreRegistration {
  metadata: CoreFunctionMetadata;
  callback: FunctionCallback;
}

/** Same semantics as the worker's Disposable: dispose runs its action once. */
export class Disposable {
  #action: (() => unknown) | undefined;
  static from(...likes: { dispose: () => unknown }[]): Disposable {
    let list: typeof likes | undefined = likes;
    return new Disposable(() => {
      if (list) for (const l of list) l?.dispose?.();
      list = undefined;
    });
  }
  constructor(callOnDispose: () => unknown) {
    this.#action = callOnDispose;
  }
  dispose(): unknown {
    const a = this.#action;
    this.#action = undefined;
    return a?.();
  }
}

/** Everything the app told the host through the core API. One per process. */
export class CoreState {
  readonly registrations: CoreRegistration[] = [];
  readonly hooks = new Map<HookName, HookCallback[]>();
  programmingModel: unknown;
  /** Once true, registerFunction throws, like the worker after app load (functions are fixed). */
  locked = false;
  /** Where `log(level, category, message)` goes (system messages from the library). */
  logSink: (level: string, category: string, message: string) => void = () => {};

  hooksFor(name: HookName): readonly HookCallback[] {
    return this.hooks.get(name) ?? [];
  }
}

/** The Functions host version the local host stands in for (`hostVersion`, admin status). */
export const HOST_VERSION = '4.1037.0';

/** Builds the module object the app sees as `require('@azure/functions-core')`. */
export function createCoreModule(state: CoreState): Record<string, unknown> {
  return {
    version: '3.12.0',
    hostVersion: HOST_VERSION,
    Disposable,
    registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): Disposable {
      if (state.locked) throw new Error('A function can only be registered during app startup.');
      if (!metadata?.name) throw new Error('registerFunction: metadata.name is required');
      const lower = metadata.name.toLowerCase();
      if (state.registrations.some((r) => r.metadata.name.toLowerCase() === lower)) {
        throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
      }
      const reg: CoreRegistration = { metadata, callback };
      state.registrations.push(reg);
      return new Disposable(() => {
        if (state.locked) throw new Error('A function can only be disposed during app startup.');
        const i = state.registrations.indexOf(reg);
        if (i !== -1) state.registrations.splice(i, 1);
      });
    },
    registerHook(name: string, callback: HookCallback): Disposable {
      const known: HookName[] = ['appStart', 'appTerminate', 'preInvocation', 'postInvocation', 'log'];
      if (!known.includes(name as HookName)) {
        // The worker throws a RangeError for unknown hook names; @azure/functions relies on it.
        const err = new RangeError(`Unrecognized hook "${name}"`) as RangeError & { isAzureFunctionsSystemError?: boolean };
        err.isAzureFunctionsSystemError = true;
        throw err;
      }
      const list = state.hooks.get(name as HookName) ?? [];
      list.push(callback);
      state.hooks.set(name as HookName, list);
      return new Disposable(() => {
        const l = state.hooks.get(name as HookName);
        const i = l ? l.indexOf(callback) : -1;
        if (l && i !== -1) l.splice(i, 1);
      });
    },
    setProgrammingModel(model: unknown): void {
      state.programmingModel = model;
    },
    getProgrammingModel(): unknown {
      return state.programmingModel;
    },
    log(level: string, category: string, message: string): void {
      state.logSink(level, category, message);
    },
  };
}

const CORE_REQUEST = '@azure/functions-core';
let installed: { state: CoreState } | undefined;

/**
 * Makes `@azure/functions-core` resolvable from anywhere in this process. Idempotent; the
 * first state wins (one host per process, like one worker per process).
 */
export function installFunctionsCore(state: CoreState): CoreState {
  if (installed) return installed.state;
  const M = Module as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
    _cache: Record<string, unknown>;
    new (id: string): { filename: string; loaded: boolean; exports: unknown; paths: string[] };
  };
  // A virtual absolute file name: Module._load finds it in the cache and never touches disk.
  const id = join(process.cwd(), 'node_modules', '@azure', 'functions-core', '__conveyor_local_host__.js');
  const mod = new M(id);
  mod.filename = id;
  mod.loaded = true;
  mod.exports = createCoreModule(state);
  M._cache[id] = mod;
  const original = M._resolveFilename;
  M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    if (request === CORE_REQUEST) return id;
    return original.call(this, request, ...rest);
  };
  installed = { state };
  // Sanity check: resolution works through the public API too.
  createRequire(import.meta.url)(CORE_REQUEST);
  return state;
}
