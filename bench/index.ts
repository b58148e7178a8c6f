// `npm run bench`: runs every bench/*.bench.js (or the ones named on the command line) in one
// process, one after the other, and prints one table. Never part of `npm test`.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { printTable, type BenchModule, type BenchRow } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

const rows: BenchRow[] = [];
for (const f of files) {
  const started = Date.now();
  console.error(`running ${f} ...`);
  const mod = (await import(pathToFileURL(join(here, f)).href)) as BenchModule;
  try {
    rows.push(...(await mod.run()));
  } catch (err) {
    rows.push({ group: f.replace('.bench.js', ''), metric: 'ERROR', value: String((err as Error).message ?? err) });
  }
  console.error(`  ${f} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
printTable(rows);
