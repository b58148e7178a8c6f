// Checkout bench: a large generated repository (thousands of commits and files, written with
// `git fast-import`), then in one run: a cold checkout through the GitCache, warm checkouts of
// new commits (each pushed to the source first), and a plain full `git clone` of the same
// repository. Goal: warm checkout at least 10x faster than a full clone.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitCache } from '../shared/git/index.js';
import { fmt, percentile, type BenchRow, rng } from './harness.js';

const FILES = Number(process.env.BENCH_CHECKOUT_FILES ?? 3000);
const COMMITS = Number(process.env.BENCH_CHECKOUT_COMMITS ?? 5000);
const CHANGES_PER_COMMIT = 10;
const WARM_RUNS = 7;


const WORDS = 'const let return function import export await async value index build deploy verify commit branch artifact digest ledger revision environment target process port health check retry interval timeout approval rollback'.split(' ');

function content(rand: () => number, lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = 4 + Math.floor(rand() * 8);
    const words: string[] = [];
    for (let j = 0; j < n; j++) words.push(WORDS[Math.floor(rand() * WORDS.length)]!);
    out.push(`${words.join(' ')} ${Math.floor(rand() * 1e9).toString(36)};`);
  }
  return `${out.join('\n')}\n`;
}

function filePath(i: number): string {
  return `src/mod${String(i % 40).padStart(2, '0')}/sub${String(Math.floor(i / 40) % 10)}/file${i}.ts`;
}

/** Streams commits into `git fast-import` running in `repo` (bare). */
async function fastImport(repo: string, write: (emit: (chunk: string) => Promise<void>) => Promise<void>): Promise<void> {
  const child = spawn('git', ['fast-import', '--quiet', '--done'], { cwd: repo, stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}`)))));
  const emit = (chunk: string) =>
    new Promise<void>((resolve) => {
      if (child.stdin.write(chunk)) resolve();
      else child.stdin.once('drain', resolve);
    });
  await write(emit);
  await emit('done\n');
  child.stdin.end();
  await done;
}

function data(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

let clock = 1_700_000_000;
function commitHeader(ref: string, message: string, from?: string): string {
  clock += 60;
  return `commit ${ref}\ncommitter Bench <bench@example.com> ${clock} +0000\n${data(message)}${from ? `from ${from}\n` : ''}`;
}

export async function generate(repo: string): Promise<void> {
  const rand = rng(42);
  await fastImport(repo, async (emit) => {
    await emit(commitHeader('refs/heads/main', 'initial tree'));
    for (let i = 0; i < FILES; i++) await emit(`M 100644 inline ${filePath(i)}\n${data(content(rand, 10 + Math.floor(rand() * 30)))}`);
    await emit('\n');
    for (let c = 1; c < COMMITS; c++) {
      await emit(commitHeader('refs/heads/main', `change ${c}`));
      for (let k = 0; k < CHANGES_PER_COMMIT; k++) {
        await emit(`M 100644 inline ${filePath(Math.floor(rand() * FILES))}\n${data(content(rand, 30 + Math.floor(rand() * 40)))}`);
      }
      await emit('\n');
    }
  });
}

let extra = 0;
/** Adds one commit on top of main; returns its id. */
export async function addCommit(repo: string): Promise<string> {
  const rand = rng(1000 + ++extra);
  await fastImport(repo, async (emit) => {
    await emit(commitHeader('refs/heads/main', `new work ${extra}`, 'refs/heads/main^0'));
    for (let k = 0; k < CHANGES_PER_COMMIT; k++) await emit(`M 100644 inline ${filePath(Math.floor(rand() * FILES))}\n${data(content(rand, 30))}`);
    await emit('\n');
  });
  return execFileSync('git', ['rev-parse', 'refs/heads/main'], { cwd: repo, encoding: 'utf8' }).trim();
}

/**
 * Times `fn` after flushing dirty pages: every variant writes thousands of files, and without
 * the flush one measurement pays for the previous one's writeback.
 */
async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  execFileSync('sync');
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

export async function run(): Promise<BenchRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'conveyor-bench-checkout-'));
  try {
    const src = join(root, 'src.git');
    execFileSync('git', ['init', '--bare', '--quiet', '--initial-branch=main', src]);
    const [genMs] = await timed(() => generate(src));
    const head = execFileSync('git', ['rev-parse', 'refs/heads/main'], { cwd: src, encoding: 'utf8' }).trim();
    const sizeKb = Number(/size-pack: (\d+)/.exec(execFileSync('git', ['count-objects', '-v'], { cwd: src, encoding: 'utf8' }))?.[1] ?? 0);
    console.error(`  generated ${COMMITS} commits x ${FILES} files (${(sizeKb / 1024).toFixed(1)} MiB packed) in ${(genMs / 1000).toFixed(1)} s`);
    const url = `file://${src}`;
    const cache = new GitCache({ cacheDir: join(root, 'cache') });
    let n = 0;
    const ws = () => join(root, `ws-${++n}`);

    // Interleaved (clone, cold, clone) so neither side always runs first on a cold page cache.
    const clone = async () => {
      const dest = ws();
      const [ms] = await timed(async () => execFileSync('git', ['clone', '--quiet', url, dest]));
      return ms;
    };
    const clones = [await clone()];
    const [coldMs] = await timed(() => cache.checkout(url, head, ws()));
    clones.push(await clone());
    const cloneMs = percentile(clones, 50);

    // Workspaces are kept until the end: deleting thousands of files between measurements
    // would load the disk during the next one.
    const warm: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const sha = await addCommit(src);
      const dest = ws();
      const [ms, res] = await timed(() => cache.checkout(url, sha, dest));
      if (!res.fetched) throw new Error('warm checkout of a new commit should have fetched');
      warm.push(ms);
      console.error(`  warm checkout ${i + 1}: ${ms.toFixed(0)} ms`);
    }
    const warmMs = percentile(warm, 50);
    const cached: number[] = [];
    for (let i = 0; i < 5; i++) {
      const dest = ws();
      const [ms] = await timed(() => cache.checkout(url, head, dest));
      cached.push(ms);
    }
    const ratio = cloneMs / warmMs;
    const group = 'checkout';
    return [
      { group, metric: `repo: ${COMMITS} commits, ${FILES} files, ${(sizeKb / 1024).toFixed(1)} MiB packed`, value: `${fmt(genMs / 1000, 1)} s to generate`, baseline: `in ${tmpdir()}` },
      { group, metric: 'cold checkout via cache (ms)', value: fmt(coldMs, 0), baseline: `${fmt(cloneMs, 0)} (git clone)`, ratio: `${fmt(cloneMs / coldMs, 2)}x` },
      { group, metric: `warm checkout, new commit (ms, p50 of ${WARM_RUNS})`, value: fmt(warmMs, 0), baseline: `${fmt(cloneMs, 0)} (git clone)`, ratio: `${fmt(ratio, 1)}x faster`, goal: '>= 10x', met: ratio >= 10 ? 'yes' : 'no' },
      { group, metric: 'warm checkout, commit already cached (ms, p50 of 5)', value: fmt(percentile(cached, 50), 0), baseline: `${fmt(cloneMs, 0)} (git clone)`, ratio: `${fmt(cloneMs / percentile(cached, 50), 1)}x faster` },
      { group, metric: 'plain full git clone (ms, p50 of 2)', value: fmt(cloneMs, 0) },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
