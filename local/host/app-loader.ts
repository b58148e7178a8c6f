/**
 * Loading a Functions v4 Node app the way `func start` and the Node worker do: settings from
 * `local.settings.json` (never overriding what the environment already has), `host.json`,
 * then every file matched by `package.json` `main` (a path or a glob; ESM or CommonJS).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { glob, isDynamicPattern } from 'tinyglobby';

export interface LocalSettings {
  values: Record<string, string>;
  hostPort?: number;
}

/** Reads `local.settings.json` (absent file = empty). Values are stringified like the host does. */
export function readLocalSettings(appDir: string): LocalSettings {
  const file = join(appDir, 'local.settings.json');
  if (!existsSync(file)) return { values: {} };
  const raw = JSON.parse(stripBom(readFileSync(file, 'utf8'))) as {
    IsEncrypted?: boolean;
    Values?: Record<string, unknown>;
    Host?: { LocalHttpPort?: number | string };
  };
  if (raw.IsEncrypted) throw new Error(`${file}: encrypted settings are not supported by the local host (set IsEncrypted to false)`);
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.Values ?? {})) {
    if (v === null || v === undefined) continue;
    values[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const port = raw.Host?.LocalHttpPort === undefined ? undefined : Number(raw.Host.LocalHttpPort);
  return { values, hostPort: Number.isInteger(port) ? port : undefined };
}

/** Applies settings to `env` without overriding variables that are already set. Returns the keys applied. */
export function applySettings(env: NodeJS.ProcessEnv, values: Record<string, string>): string[] {
  const applied: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (env[k] === undefined) {
      env[k] = v;
      applied.push(k);
    }
  }
  return applied;
}

/** Parsed `host.json` (`{}` when absent). */
export function readHostJson(appDir: string): Record<string, any> {
  const file = join(appDir, 'host.json');
  if (!existsSync(file)) return {};
  return JSON.parse(stripBom(readFileSync(file, 'utf8'))) as Record<string, any>;
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

/** Replaces `%Name%` with the setting's value; unknown settings are reported through `missing`. */
export function resolveSettingRefs(value: string, env: NodeJS.ProcessEnv, missing?: (name: string) => void): string {
  return value.replace(/%([^%\s]+)%/g, (whole, name: string) => {
    const v = env[name];
    if (v === undefined) {
      missing?.(name);
      return whole;
    }
    return v;
  });
}

export interface AppPackage {
  dir: string;
  type: 'module' | 'commonjs';
  main: string;
}

export function readAppPackage(appDir: string): AppPackage {
  const file = join(appDir, 'package.json');
  if (!existsSync(file)) throw new Error(`no package.json in ${appDir}`);
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { main?: string; type?: string };
  return { dir: appDir, type: pkg.type === 'module' ? 'module' : 'commonjs', main: pkg.main || 'index.js' };
}

/** Files matched by `main`, absolute and sorted (a glob may match several). */
export async function entryFiles(app: AppPackage): Promise<string[]> {
  const main = app.main.replace(/\\/g, '/');
  if (isDynamicPattern(main)) {
    const files = await glob(main, { cwd: app.dir, absolute: true, onlyFiles: true });
    if (files.length === 0) throw new Error(`package.json main '${app.main}' matched no files in ${app.dir}`);
    return files.map((f) => resolve(f)).sort();
  }
  const file = isAbsolute(main) ? main : resolve(app.dir, main);
  if (!existsSync(file)) throw new Error(`package.json main '${app.main}' not found (${file}); did the app build run?`);
  return [file];
}

/** Loads one entry file: ESM through `import()`, CommonJS through the app's own `require`. */
export async function loadEntry(app: AppPackage, file: string): Promise<void> {
  const ext = extname(file);
  const isEsm = ext === '.mjs' || (ext !== '.cjs' && app.type === 'module');
  if (isEsm) await import(pathToFileURL(file).href);
  else createRequire(join(app.dir, 'package.json'))(file);
}

/** The parts of the app's own `@azure/functions` the host constructs objects with. */
export interface FunctionsLibrary {
  InvocationContext: new (init: Record<string, unknown>) => any;
  HttpRequest: new (init: Record<string, unknown>) => any;
  HttpResponse: new (init?: Record<string, unknown>) => any;
  version?: string;
}

/** Resolves `@azure/functions` from the app's package (so `instanceof` checks in the app hold). */
export function resolveFunctionsLibrary(appDir: string): FunctionsLibrary {
  const req = createRequire(join(appDir, 'package.json'));
  let lib: FunctionsLibrary;
  try {
    lib = req('@azure/functions') as FunctionsLibrary;
  } catch (err) {
    throw new Error(`the app in ${appDir} cannot resolve @azure/functions (is it installed?)`, { cause: err });
  }
  if (typeof lib.InvocationContext !== 'function' || typeof lib.HttpRequest !== 'function') {
    throw new Error('@azure/functions resolved by the app is not the v4 programming model');
  }
  return lib;
}

/** One `ModelBindingData` value of the worker protocol (an SDK-type binding's input). */
export interface ModelBindingValue {
  version: string;
  source: string;
  contentType: string;
  content: Buffer;
}

/**
 * How the app's own `@azure/functions` turns `ModelBindingData` into a function argument (its
 * `fromRpcTypedData`): the resource factory registered for the value's `source` in the
 * `@azure/functions-extensions-base` that library resolves (an extension package such as
 * `@azure/functions-extensions-servicebus` registers it when the app imports it).
 */
export function modelBindingConverter(appDir: string): (data: ModelBindingValue | ModelBindingValue[]) => unknown {
  return (data) => {
    const first = Array.isArray(data) ? data[0] : data;
    if (!first) throw new Error('no model binding data to convert');
    let resolver: { createClient(source: string, data: unknown): unknown };
    try {
      const functionsReq = createRequire(createRequire(join(appDir, 'package.json')).resolve('@azure/functions'));
      const base = functionsReq('@azure/functions-extensions-base') as { ResourceFactoryResolver: { getInstance(): typeof resolver } };
      resolver = base.ResourceFactoryResolver.getInstance();
    } catch (err) {
      throw new Error(`the app's @azure/functions cannot resolve @azure/functions-extensions-base (needed for SDK-type bindings): ${(err as Error).message}`, { cause: err });
    }
    try {
      return resolver.createClient(first.source, data);
    } catch (err) {
      // The worker's own wording, so the fix it names is the same.
      throw new Error(`Unable to create client. Please register the extensions library with your function app. Error: ${(err as Error).message}`, { cause: err });
    }
  };
}
