// local/ is a generic Functions runtime (docs/architecture.md): nothing under it may import the
// app's code in functions/, orchestrations/ or shared/.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const localDir = join(root, 'local');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier in static imports/exports, dynamic import() and require(). */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]!);
  return out;
}

const forbiddenRoots = ['functions', 'orchestrations', 'shared'].map((d) => join(root, d) + sep);

/** Names of the app's own settings (its `CONVEYOR_` prefix) mentioned anywhere in its sources. */
function appSettingNames(): Set<string> {
  const names = new Set<string>();
  for (const dir of ['functions', 'orchestrations', 'shared']) {
    for (const file of tsFiles(join(root, dir))) for (const m of readFileSync(file, 'utf8').matchAll(/\bCONVEYOR_[A-Z0-9_]+/g)) names.add(m[0]);
  }
  return names;
}

describe('local/ boundary', () => {
  it('finds the local runtime sources', () => {
    assert.ok(tsFiles(localDir).length >= 5);
  });

  it('the import scanner sees every import form', () => {
    const src = "import a from '../shared/x.js';\nimport type { B } from \"../functions/y.js\";\nexport * from '../orchestrations/z.js';\nconst c = await import('../shared/w.js');\nconst d = require('../shared/v.js');\nimport '../shared/side.js';";
    assert.deepEqual(specifiers(src).sort(), ['../functions/y.js', '../orchestrations/z.js', '../shared/side.js', '../shared/v.js', '../shared/w.js', '../shared/x.js']);
  });

  it('finds the app setting names it guards against', () => {
    assert.ok(appSettingNames().size >= 3, [...appSettingNames()].join(', '));
  });

  // The host hands the emulator's connection string to whatever settings the app asks
  // (UseDevelopmentStorage=true): it never writes, reads or names one of the app's settings.
  it('no file under local/ names one of the app\'s settings', () => {
    const app = appSettingNames();
    const named = tsFiles(localDir).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/\bCONVEYOR_[A-Z0-9_]+/g)].filter((m) => app.has(m[0])).map((m) => `${relative(root, file)}: ${m[0]}`),
    );
    assert.deepEqual(named, []);
  });

  for (const file of tsFiles(localDir)) {
    it(`${relative(root, file)} imports nothing from functions/, orchestrations/ or shared/`, () => {
      const bad = specifiers(readFileSync(file, 'utf8'))
        .filter((s) => s.startsWith('.'))
        .filter((s) => forbiddenRoots.some((r) => resolve(dirname(file), s).startsWith(r) || resolve(dirname(file), s) + sep === r));
      assert.deepEqual(bad, []);
    });
  }
});
