#!/usr/bin/env node
// npm run package: the deployable artifact of Conveyor, as a container build context in
// dist/package (docs/azure.md, "Build the image"):
//   Dockerfile            the Azure Functions Node 22 image plus git (the git cache shells out to it)
//   host.json             as in the repository
//   package.json          name, version, type, main, engines and the runtime dependencies only
//   dist/{functions,orchestrations,shared,dashboard}/**   the compiled app and the built dashboard (no tests, bench, demo, local host)
//   node_modules/**       the runtime dependency closure, copied from this install
// What is left out is exactly what .funcignore lists (the same artifact can be zip-deployed
// with Core Tools): tests, benchmarks, the demo, the local host, TypeScript sources, state,
// dev tools, and the local-only packages (azurite, better-sqlite3, ...) which are devDependencies.
// Runs after `npm run build`; needs no network.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = process.cwd();
const out = resolve(root, process.argv[2] ?? join('dist', 'package'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** The folders of dist/ that make up the app (package.json main lives in dist/functions). */
const APP_DIST = ['functions', 'orchestrations', 'shared', 'dashboard'];

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

if (!existsSync(join(root, pkg.main))) fail(`${pkg.main} is missing: run npm run build first`);

/**
 * Resolves the folder of package `name` as required from `fromDir` (Node's lookup: the nearest
 * node_modules up the tree), or undefined when it is not installed.
 */
function packageDir(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Every installed package the runtime dependencies need, by real folder (deduplicated). */
function runtimeClosure() {
  const found = new Map();
  const queue = Object.keys(pkg.dependencies ?? {}).map((name) => ({ name, from: root, required: true }));
  while (queue.length > 0) {
    const { name, from, required } = queue.shift();
    const dir = packageDir(name, from);
    if (!dir) {
      if (required) fail(`runtime dependency ${name} (needed from ${relative(root, from) || 'the app'}) is not installed`);
      continue;
    }
    if (found.has(dir)) continue;
    found.set(dir, name);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const dep of Object.keys(meta.dependencies ?? {})) queue.push({ name: dep, from: dir, required: true });
    // Optional and peer dependencies come along when they are installed (they may be used).
    for (const dep of [...Object.keys(meta.optionalDependencies ?? {}), ...Object.keys(meta.peerDependencies ?? {})]) queue.push({ name: dep, from: dir, required: false });
  }
  return [...found.keys()];
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// The compiled app, without source maps of tests (there are none in these folders) or CLIs.
for (const folder of APP_DIST) {
  if (!existsSync(join(root, 'dist', folder))) fail(`dist/${folder} is missing: run npm run build first`);
  cpSync(join(root, 'dist', folder), join(out, 'dist', folder), { recursive: true, filter: (src) => !src.endsWith('.tsbuildinfo') });
}
cpSync(join(root, 'host.json'), join(out, 'host.json'));

const runtimePackage = {
  name: pkg.name,
  version: pkg.version,
  description: pkg.description,
  type: pkg.type,
  main: pkg.main,
  engines: pkg.engines,
  private: true,
  license: pkg.license,
  dependencies: pkg.dependencies,
};
writeFileSync(join(out, 'package.json'), JSON.stringify(runtimePackage, null, 2) + '\n');

// node_modules: each package of the closure at the same relative place as in this install, so
// Node resolves exactly the versions the tests ran against. Nested node_modules of a package
// are copied only when they are themselves in the closure.
const closure = runtimeClosure();
const nodeModules = join(root, 'node_modules');
for (const dir of closure) {
  const rel = relative(nodeModules, dir);
  cpSync(dir, join(out, 'node_modules', rel), {
    recursive: true,
    dereference: true,
    filter: (src) => {
      const inner = relative(dir, src);
      if (inner === 'node_modules' || inner.startsWith(`node_modules${sep}`)) return false;
      // Type declarations and source maps are for editors and debuggers, not the runtime.
      return !/\.(d\.[cm]?ts|map)$/.test(src);
    },
  });
}

writeFileSync(
  join(out, 'Dockerfile'),
  [
    '# Conveyor on Azure Functions (Elastic Premium, Linux, custom container). Built by `npm run package`;',
    '# build it where you like, e.g. `az acr build --registry <acr> --image conveyor:<tag> dist/package`.',
    'FROM mcr.microsoft.com/azure-functions/node:4-node22',
    '# The git cache shells out to git (mirrors, fetches, checkouts); the public Functions images lack it.',
    'RUN apt-get update \\',
    ' && apt-get install -y --no-install-recommends git ca-certificates \\',
    ' && rm -rf /var/lib/apt/lists/*',
    'ENV AzureWebJobsScriptRoot=/home/site/wwwroot \\',
    '    AzureFunctionsJobHost__Logging__Console__IsEnabled=true',
    'COPY . /home/site/wwwroot',
    '',
  ].join('\n'),
);
writeFileSync(join(out, '.dockerignore'), 'Dockerfile\n.dockerignore\n');

function size(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    total += s.isDirectory() ? size(p) : s.size;
  }
  return total;
}
console.log(`package: ${relative(root, out)} (${closure.length} runtime packages, ${(size(out) / 1024 / 1024).toFixed(1)} MiB)`);
