// `npm run package` (scripts/package.mjs): the deployable container context holds the compiled
// app, host.json, a runtime-only package.json and the runtime dependency closure, nothing else;
// .funcignore says the same; and the packaged app, loaded on its own (outside this repository,
// so nothing resolves from the repository's node_modules), registers every function and the
// host accepts them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostProblems, hostView, indexApp } from '../support/host-indexer.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
let work = '';
let out = '';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

/** The subset of gitignore syntax .funcignore uses: `/anchored`, `dir/`, `*.ext`, `prefix*`, exact names, `!negation`. */
function ignoredBy(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const unanchored = negate ? raw.slice(1) : raw;
    const anchored = unanchored.startsWith('/');
    const p = anchored ? unanchored.slice(1) : unanchored;
    let match: boolean;
    if (p.endsWith('/')) match = path.startsWith(p) || (!anchored && path.includes(`/${p}`));
    else if (p.startsWith('*')) match = path.endsWith(p.slice(1));
    else if (p.endsWith('*')) match = path.split('/').some((seg) => seg.startsWith(p.slice(0, -1)));
    else match = path === p || path.startsWith(`${p}/`) || (!anchored && path.endsWith(`/${p}`));
    if (match) ignored = !negate;
  }
  return ignored;
}
const funcignore = readFileSync(join(root, '.funcignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

before(() => {
  work = mkdtempSync(join(tmpdir(), 'conveyor-package-'));
  out = join(work, 'conveyor');
  execFileSync(process.execPath, [join(root, 'scripts', 'package.mjs'), out], { cwd: root, stdio: 'pipe' });
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('npm run package', () => {
  it('holds the app, host.json, a runtime package.json and a Dockerfile that adds git', () => {
    assert.ok(existsSync(join(out, rootPkg.main)));
    assert.deepEqual(readFileSync(join(out, 'host.json'), 'utf8'), readFileSync(join(root, 'host.json'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(pkg.dependencies, rootPkg.dependencies);
    assert.equal(pkg.main, rootPkg.main);
    assert.equal(pkg.devDependencies, undefined);
    assert.equal(pkg.scripts, undefined);
    const docker = readFileSync(join(out, 'Dockerfile'), 'utf8');
    assert.match(docker, /^FROM mcr\.microsoft\.com\/azure-functions\/node:4-node22$/m);
    assert.match(docker, /apt-get install[^\n]*\bgit\b/);
    assert.match(docker, /COPY \. \/home\/site\/wwwroot/);
    // The dashboard function serves the built assets from dist/dashboard.
    assert.ok(existsSync(join(out, 'dist', 'dashboard', 'index.html')), 'the dashboard assets are missing');
  });

  it('has no tests, benchmarks, demo, local host, TypeScript sources, state or settings', () => {
    const own = files(out).map((f) => relative(out, f).split(sep).join('/')).filter((f) => !f.startsWith('node_modules/'));
    assert.ok(own.length > 20);
    for (const f of own) {
      assert.doesNotMatch(f, /^(test|bench|demo|local|docs|infra|scripts|\.conveyor)\//, f);
      assert.doesNotMatch(f, /^dist\/(test|bench|demo|local|cli|package)\//, f);
      assert.doesNotMatch(f, /\.test\.js$|(?<!\.d)\.ts$|local\.settings|\.tsbuildinfo$/, f);
      assert.ok(/^(Dockerfile|\.dockerignore|host\.json|package\.json|dist\/(functions|orchestrations|shared|dashboard)\/.+)$/.test(f), `unexpected file ${f}`);
    }
  });

  it('carries runtime dependencies only: no local-only packages, no dev tools', () => {
    const present = (name: string) => existsSync(join(out, 'node_modules', name, 'package.json'));
    for (const name of ['azurite', 'better-sqlite3', 'find-my-way', 'croner', 'typescript', 'eslint', 'playwright-core', 'esbuild', '@azure/arm-appservice', 'fast-check', 'autocannon']) {
      assert.ok(!present(name), `${name} must not be in the package`);
    }
    for (const name of Object.keys(rootPkg.dependencies)) assert.ok(present(name), `runtime dependency ${name} is missing`);
    // Whatever else is there is needed by something that is there.
    const packaged = files(join(out, 'node_modules')).filter((f) => f.endsWith(`${sep}package.json`) && /node_modules[\\/](@[^\\/]+[\\/])?[^\\/@]+[\\/]package\.json$/.test(f));
    const declared = new Set(Object.keys(rootPkg.dependencies));
    for (const f of packaged) {
      const meta = JSON.parse(readFileSync(f, 'utf8')) as Record<string, Record<string, string> | undefined>;
      for (const key of ['dependencies', 'optionalDependencies', 'peerDependencies']) for (const d of Object.keys(meta[key] ?? {})) declared.add(d);
    }
    for (const dev of Object.keys(rootPkg.devDependencies)) if (present(dev)) assert.ok(declared.has(dev), `${dev} is a devDependency nothing in the package needs`);
    assert.deepEqual(files(join(out, 'node_modules')).filter((f) => f.endsWith('.node')), [], 'native modules would tie the package to this machine');
  });

  it('.funcignore agrees: it keeps every packaged file and drops what the package leaves out', () => {
    for (const f of files(out).map((x) => relative(out, x).split(sep).join('/')).filter((x) => !x.startsWith('node_modules/') && !/^(Dockerfile|\.dockerignore)$/.test(x))) {
      assert.ok(!ignoredBy(funcignore, f), `.funcignore drops ${f}, which the package needs`);
    }
    for (const f of ['test/unit/x.test.ts', 'dist/test/unit/x.test.js', 'bench/index.ts', 'dist/bench/index.js', 'demo/start.ts', 'dist/local/host/cli.js', 'local.settings.json', '.conveyor/data/x', 'functions/index.ts', 'dist/.tsbuildinfo', 'dashboard/app.ts', 'dist/cli/conveyor.js']) {
      assert.ok(ignoredBy(funcignore, f), `.funcignore keeps ${f}`);
    }
  });

  it('the packaged app, loaded on its own the way the worker loads it, registers every function and the host accepts them', () => {
    const packaged = indexApp(out);
    assert.deepEqual(packaged.errors, []);
    const source = hostView(indexApp(root));
    const shipped = hostView(packaged);
    assert.deepEqual(shipped.map((f) => f.name).sort(), source.map((f) => f.name).sort());
    assert.ok(shipped.length >= 20);
    assert.deepEqual(hostProblems(shipped), []);
  });
});
