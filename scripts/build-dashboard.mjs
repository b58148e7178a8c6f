#!/usr/bin/env node
// Builds the dashboard (dashboard/ -> dist/dashboard/): type-checks its TypeScript, bundles and
// minifies it with esbuild (preact + htm, no JSX transform needed), minifies the CSS, copies
// index.html. Part of `npm run build`; prints sizes and the time it took.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'dashboard');
const started = performance.now();
if (!process.argv.includes('--no-check')) {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'dashboard', 'tsconfig.json')], { stdio: 'inherit' });
}
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'dashboard', 'src', 'main.ts'), join(root, 'dashboard', 'src', 'app.css')],
  entryNames: 'app',
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(root, 'dashboard', 'index.html'), join(out, 'index.html'));
const sizes = ['index.html', 'app.js', 'app.css'].map((f) => {
  const body = readFileSync(join(out, f));
  return `${f} ${(body.length / 1024).toFixed(1)} KB (${(gzipSync(body, { level: 9 }).length / 1024).toFixed(1)} KB gzipped)`;
});
console.error(`dashboard built in ${Math.round(performance.now() - started)} ms: ${sizes.join(', ')}`);
