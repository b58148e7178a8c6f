/**
 * Child process: loads a Functions v4 Node app the way the Node.js worker does and prints what
 * the worker would send the host in its FunctionMetadataResponse (one JSON document on stdout).
 *
 * The worker's contract, reproduced here independently of Conveyor's local host:
 * - `@azure/functions-core` is a virtual module; `registerFunction(metadata, callback)` keys the
 *   function by `metadata.functionId || metadata.name` (a second registration with the same id
 *   throws) and turns every binding into `rawBindings`: `JSON.stringify({ ...binding, name: key })`
 *   (the key, e.g. `$return`, becomes the binding name the host validates);
 * - the entry points are the files `package.json` `main` names (a glob may match several),
 *   loaded with `import()` for ESM and `require` for CommonJS; registering after load throws.
 *
 * Usage: node index-app.child.js <appDir>
 */
import Module, { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { glob, isDynamicPattern } from 'tinyglobby';

interface RpcMetadata {
  name: string;
  functionId: string;
  rawBindings: string[];
  scriptFile: string;
  retryOptions?: unknown;
}

const appDir = resolve(process.argv[2] ?? '.');
const functions = new Map<string, RpcMetadata>();
const errors: string[] = [];
let locked = false;
let programmingModel: unknown;
let currentEntry = 'unknown';

class Disposable {
  #action: (() => void) | undefined;
  constructor(action: () => void) {
    this.#action = action;
  }
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    const a = this.#action;
    this.#action = undefined;
    a?.();
  }
}

const core = {
  version: '3.10.1',
  hostVersion: '4.1037.0',
  Disposable,
  registerFunction(metadata: { name?: string; functionId?: string; bindings?: Record<string, Record<string, unknown>>; retryOptions?: unknown }, _callback: unknown): Disposable {
    if (locked) throw new Error('A function can only be registered during app startup.');
    const functionId = metadata.functionId || metadata.name || '';
    if (functions.has(functionId)) throw new Error(`A function with id "${functionId}" has already been registered.`);
    const rpc: RpcMetadata = {
      name: metadata.name ?? functionId,
      functionId,
      rawBindings: Object.entries(metadata.bindings ?? {}).map(([name, binding]) => JSON.stringify({ ...binding, name })),
      scriptFile: currentEntry,
      ...(metadata.retryOptions ? { retryOptions: metadata.retryOptions } : {}),
    };
    functions.set(functionId, rpc);
    return new Disposable(() => {
      if (locked) throw new Error('A function can only be disposed during app startup.');
      functions.delete(functionId);
    });
  },
  registerHook(name: string, _callback: unknown): Disposable {
    if (!['appStart', 'appTerminate', 'preInvocation', 'postInvocation', 'log'].includes(name)) {
      const err = new RangeError(`Unrecognized hook "${name}"`) as RangeError & { isAzureFunctionsSystemError?: boolean };
      err.isAzureFunctionsSystemError = true;
      throw err;
    }
    return new Disposable(() => {});
  },
  setProgrammingModel(model: unknown): void {
    programmingModel = model;
  },
  getProgrammingModel(): unknown {
    return programmingModel;
  },
  log(): void {},
};

// Make `@azure/functions-core` resolvable from every module of the app, as the worker does.
const M = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string; _cache: Record<string, unknown>; new (id: string): { filename: string; loaded: boolean; exports: unknown } };
const virtualId = join(appDir, 'node_modules', '@azure', 'functions-core', '__worker__.js');
const mod = new M(virtualId);
mod.filename = virtualId;
mod.loaded = true;
mod.exports = core;
M._cache[virtualId] = mod;
const original = M._resolveFilename;
M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
  return request === '@azure/functions-core' ? virtualId : original.call(this, request, ...rest);
};

async function main(): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { main?: string; type?: string };
  const main = (pkg.main || 'index.js').replace(/\\/g, '/');
  const entries = isDynamicPattern(main)
    ? (await glob(main, { cwd: appDir, absolute: true, onlyFiles: true })).sort()
    : [isAbsolute(main) ? main : resolve(appDir, main)];
  for (const entry of entries) {
    if (!existsSync(entry)) {
      errors.push(`entry point ${entry} (package.json main) does not exist`);
      continue;
    }
    currentEntry = entry;
    const ext = extname(entry);
    try {
      if (ext === '.mjs' || (ext !== '.cjs' && pkg.type === 'module')) await import(pathToFileURL(entry).href);
      else createRequire(join(appDir, 'package.json'))(entry);
    } catch (err) {
      errors.push(`loading ${entry} failed: ${(err as Error).stack ?? String(err)}`);
    }
  }
  locked = true;
  process.stdout.write(JSON.stringify({ appDir, entries, programmingModel, functions: [...functions.values()], errors }));
}

main().then(
  // The app may hold handles open (clients, timers): the indexing result is complete here.
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(String((err as Error).stack ?? err));
    process.exit(1);
  },
);
