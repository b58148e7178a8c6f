// `npm run bench`: runs every bench/*.bench.js (or the ones named on the command line), one
// after the other, each in a process of its own (a bench may start an in-process host, whose
// function registrations and process-wide extensions cannot be loaded twice), and prints one
// table. Never part of `npm test`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { printTable, type BenchModule, type BenchRow } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const self = fileURLToPath(import.meta.url);

/** Child mode: run one bench module and write its rows as JSON to the file named. */
async function runOne(file: string, rowsFile: string): Promise<void> {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as BenchModule;
  let rows: BenchRow[];
  try {
    rows = await mod.run();
  } catch (err) {
    rows = [{ group: file.replace('.bench.js', ''), metric: 'ERROR', value: String((err as Error).message ?? err) }];
  }
  writeFileSync(rowsFile, JSON.stringify(rows));
}

/** Runs one bench module in a child process and returns its rows (an ERROR row if it died). */
async function inChild(file: string, dir: string): Promise<BenchRow[]> {
  const rowsFile = join(dir, `${file}.json`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, self, '--one', file, rowsFile], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : null)));
  });
  try {
    return JSON.parse(readFileSync(rowsFile, 'utf8')) as BenchRow[];
  } catch {
    return [{ group: file.replace('.bench.js', ''), metric: 'ERROR', value: `the bench process exited with ${code} before reporting` }];
  }
}

if (process.argv[2] === '--one') {
  await runOne(process.argv[3]!, process.argv[4]!);
  // A bench's leftovers (timers, sockets) must not keep the child alive once its rows are written.
  process.exit(0);
}

const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-'));
const rows: BenchRow[] = [];
try {
  for (const f of files) {
    const started = Date.now();
    console.error(`running ${f} ...`);
    rows.push(...(await inChild(f, dir)));
    console.error(`  ${f} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
printTable(rows);
