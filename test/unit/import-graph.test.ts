// The import graph, read from the TypeScript sources (type-only imports vanish from the compiled
// JavaScript): no module of shared/, functions/, orchestrations/, local/ or cli/ imports itself
// round a loop, type-only imports included (a cycle makes load order matter, and for types it
// is a sign two modules own one concept); and the two clients, cli/ and dashboard/, import
// nothing of the server's code: they speak to it through the HTTP API only (docs/architecture.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = process.cwd();
const LAYERS = ['shared', 'functions', 'orchestrations', 'local', 'cli'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

// `import … from '…'`, `import '…'`, `export … from '…'`, `import('…')`, across lines.
const SPECIFIER = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** Relative imports of one source file, as repository-relative `.ts` paths. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec?.startsWith('.')) continue;
    out.push(relative(ROOT, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
  }
  return out;
}

/** Strongly connected components of more than one module (or a module importing itself). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

test('the cycle finder finds a loop through type-only imports and passes a chain', () => {
  const text = (...specs: string[]) => specs.map((s, i) => (i % 2 ? `import type { X${i} } from '${s}';` : `export { Y${i} } from\n  "${s}";`)).join('\n');
  const graph = new Map([
    ['shared/a.ts', importsOf(join(ROOT, 'shared/a.ts'), text('./b.js'))],
    ['shared/b.ts', importsOf(join(ROOT, 'shared/b.ts'), text('./c.js', '../shared/a.js'))],
    ['shared/c.ts', importsOf(join(ROOT, 'shared/c.ts'), `const m = await import('./d.js');`)],
    ['shared/d.ts', []],
  ]);
  assert.deepEqual(cycles(graph), [['shared/a.ts', 'shared/b.ts']]);
  graph.set('shared/b.ts', importsOf(join(ROOT, 'shared/b.ts'), text('./c.js')));
  assert.deepEqual(cycles(graph), []);
});

test('no import cycles in shared/, functions/, orchestrations/, local/ or cli/ (type-only imports included)', () => {
  const graph = new Map<string, string[]>();
  for (const layer of LAYERS) {
    for (const file of sources(join(ROOT, layer))) graph.set(relative(ROOT, file), importsOf(file, readFileSync(file, 'utf8')));
  }
  assert.ok(graph.size > 100, `read ${graph.size} modules`);
  const found = cycles(graph);
  assert.deepEqual(found, [], `import cycles:\n${found.map((c) => `  ${c.join(' <-> ')}`).join('\n')}`);
});

test('cli/ and dashboard/ import nothing of the server (only their own modules and their packages)', () => {
  for (const [client, allowed] of [['cli', ['commander']], ['dashboard', ['preact', 'htm']]] as const) {
    for (const file of sources(join(ROOT, client))) {
      const text = readFileSync(file, 'utf8');
      for (const target of importsOf(file, text)) assert.ok(target.startsWith(`${client}/`), `${relative(ROOT, file)} imports ${target}`);
      for (const m of text.matchAll(SPECIFIER)) {
        const spec = m[1] ?? m[2] ?? m[3] ?? '';
        if (spec.startsWith('.') || (client === 'cli' && spec.startsWith('node:'))) continue;
        assert.ok((allowed as readonly string[]).some((p) => spec === p || spec.startsWith(`${p}/`)), `${relative(ROOT, file)} imports the package ${spec}`);
      }
    }
  }
});
