/**
 * Which ARM api-versions an `@azure/arm-*` SDK package declares for creating each resource
 * type, read from the package's own compiled JavaScript (no network, no guessing). Two code
 * generators are in use across the packages:
 * - AutoRest (older packages): operation specs `{ path: "...", httpMethod: "PUT", queryParameters:
 *   [apiVersionN] }` with `apiVersionN = { parameterPath: "apiVersion", mapper: { defaultValue } }`;
 * - TypeSpec (newer packages): `expandUrlTemplate("...{?api%2Dversion}", { "api%2Dversion":
 *   context.apiVersion ?? "<version>" })` followed by `.put(`.
 * Both are reduced to: resource type (e.g. `Microsoft.Web/sites/config`) -> api-versions its PUT uses.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const skipDirs = new Set(['node_modules', 'browser', 'react-native', 'esm', 'dist-esm', 'types', 'review', 'src']);

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return skipDirs.has(name) ? [] : jsFiles(p);
    return p.endsWith('.js') && !p.endsWith('.min.js') ? [p] : [];
  });
}

/** `Microsoft.Web/sites/{name}/config/authsettingsV2` -> `Microsoft.Web/sites/config`. */
export function resourceTypeOfPath(path: string): string | undefined {
  const after = path.split('/providers/').pop();
  if (!after || after === path) return undefined;
  const segments = after.split('{?')[0]!.split('/').filter((s) => s.length > 0);
  if (segments.length < 2) return undefined;
  return [segments[0], ...segments.slice(1).filter((_, i) => i % 2 === 0)].join('/');
}

function add(map: Map<string, Set<string>>, type: string | undefined, version: string | undefined): void {
  if (!type || !version) return;
  const key = type.toLowerCase();
  if (!map.has(key)) map.set(key, new Set());
  map.get(key)!.add(version);
}

/** Root folder of an installed package (resolved the way Node does, from this project). */
export function packageRoot(pkg: string): string {
  const req = createRequire(join(process.cwd(), 'package.json'));
  return dirname(req.resolve(`${pkg}/package.json`));
}

/**
 * Resource type (lower case) -> the api-versions the package's PUT (create or update) operation
 * for that type sends.
 */
export function declaredPutVersions(pkg: string): Map<string, Set<string>> {
  const root = packageRoot(pkg);
  const dist = existsSync(join(root, 'dist', 'commonjs')) ? join(root, 'dist', 'commonjs') : join(root, 'dist');
  const texts = jsFiles(dist).map((f) => readFileSync(f, 'utf8'));
  const params = new Map<string, string>();
  for (const text of texts) {
    for (const m of text.matchAll(/(apiVersion\d*)\s*=\s*\{\s*parameterPath:\s*["']apiVersion["'],\s*mapper:\s*\{[^}]*?defaultValue:\s*["']([^"']+)["']/g)) params.set(m[1]!, m[2]!);
  }
  // A TypeSpec client's default version, used where an operation sends `context.apiVersion` as is.
  let clientDefault: string | undefined;
  for (const text of texts) clientDefault ??= /apiVersion\s*(?:\?\?|\|\|)\s*["'](\d{4}-\d{2}-\d{2}(?:-preview)?)["']/.exec(text)?.[1];
  const out = new Map<string, Set<string>>();
  for (const text of texts) {
    // AutoRest: each spec object holds its path, method and query parameters.
    for (const m of text.matchAll(/httpMethod:\s*["']PUT["']/g)) {
      const start = text.lastIndexOf('= {', m.index);
      const end = text.indexOf('};', m.index);
      if (start < 0 || end < 0) continue;
      const spec = text.slice(start, end);
      const path = /path:\s*["']([^"']+)["']/.exec(spec)?.[1];
      const query = /queryParameters:\s*\[([^\]]*)\]/.exec(spec)?.[1] ?? '';
      for (const ref of query.matchAll(/apiVersion\d*/g)) add(out, path && resourceTypeOfPath(path), params.get(ref[0]));
    }
    // TypeSpec: a *Send function expands the URL template, then sends with .put(.
    for (const m of text.matchAll(/expandUrlTemplate\)?\(\s*["']([^"']+)["']/g)) {
      const next = text.indexOf('\nfunction ', m.index);
      const window = text.slice(m.index, next < 0 ? undefined : next);
      if (!/\.put\(/.test(window)) continue;
      const sent = /api%2Dversion["']?\s*:\s*context\.apiVersion(?:\s*\?\?\s*["']([^"']+)["'])?/.exec(window);
      const version = sent ? (sent[1] ?? clientDefault) : undefined;
      add(out, resourceTypeOfPath(m[1]!), version);
    }
  }
  return out;
}

const textCache = new Map<string, string>();

/** All compiled JavaScript of an SDK package as one string (for name look-ups). */
export function packageText(pkg: string): string {
  let text = textCache.get(pkg);
  if (text === undefined) {
    const root = packageRoot(pkg);
    const dist = existsSync(join(root, 'dist', 'commonjs')) ? join(root, 'dist', 'commonjs') : join(root, 'dist');
    text = jsFiles(dist).map((f) => readFileSync(f, 'utf8')).join('\n');
    textCache.set(pkg, text);
  }
  return text;
}

/**
 * True when the SDK package knows `name` as a REST property name: a serializer key
 * (`name: item[...]`, `"name":`) or an AutoRest `serializedName` (`"properties.name"`, `"name"`).
 */
export function knowsProperty(pkg: string, name: string): boolean {
  const text = packageText(pkg);
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`["'.]${escaped}["']|[\\s{,]${escaped}:`).test(text);
}
