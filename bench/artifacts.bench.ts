// Artifact bench: deterministic packaging (tar.gz) and upload throughput to Azurite, plus the
// cost of re-publishing an existing digest (no upload) and a verified download.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactStore, packArtifact } from '../shared/artifacts/index.js';
import { containerClient, CONTAINERS, ensureContainer } from '../shared/storage/blob-store.js';
import { startAzurite } from '../local/storage/azurite.js';
import { fmt, type BenchRow, rng } from './harness.js';

const TOTAL_MB = Number(process.env.BENCH_ARTIFACT_MB ?? 96);
const FILES = 1500;


/**
 * A build output of realistic compressibility: two thirds JavaScript-like text (compresses
 * ~4-6x), one third random bytes (images, wasm: incompressible).
 */
function makeWorkspace(dir: string): number {
  const rand = rng(7);
  const words = 'function return const module exports require this value length index object string number undefined prototype call apply'.split(' ');
  const perFile = Math.floor((TOTAL_MB * 1024 * 1024) / FILES);
  let total = 0;
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, 'dist', `chunk${i % 30}`);
    mkdirSync(sub, { recursive: true });
    let body: Buffer;
    if (i % 3 === 2) {
      body = Buffer.alloc(perFile);
      for (let j = 0; j < perFile; j += 4) body.writeUInt32LE(Math.floor(rand() * 2 ** 32) >>> 0, Math.min(j, perFile - 4));
    } else {
      const parts: string[] = [];
      let len = 0;
      while (len < perFile) {
        const w = `${words[Math.floor(rand() * words.length)]}${Math.floor(rand() * 1000)} `;
        parts.push(w);
        len += w.length;
      }
      body = Buffer.from(parts.join('').slice(0, perFile));
    }
    writeFileSync(join(sub, `file${i}.${i % 3 === 2 ? 'bin' : 'js'}`), body);
    total += body.length;
  }
  writeFileSync(join(dir, 'package.json'), '{"name":"bench"}\n');
  return total;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  execFileSync('sync');
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

export async function run(): Promise<BenchRow[]> {
  const root = mkdtempSync(join(tmpdir(), 'conveyor-bench-artifacts-'));
  const azurite = await startAzurite({ location: join(root, 'azurite') });
  try {
    const ws = join(root, 'ws');
    const contentBytes = makeWorkspace(ws);
    const mb = contentBytes / (1024 * 1024);
    const container = containerClient(azurite.connectionString, CONTAINERS.artifacts);
    await ensureContainer(container);
    const store = new ArtifactStore(container);
    const origin = { app: 'bench', commit: 'b'.repeat(40), paths: ['dist', 'package.json'] };

    const [packMs, packed] = await timed(() => packArtifact(ws, origin.paths, join(root, 'a.tar.gz')));
    const gzMb = packed.size / (1024 * 1024);
    const [uploadMs, stored] = await timed(() => store.upload(packed.file, packed.digest, origin));
    if (!stored.uploaded) throw new Error('first upload should upload');
    // The activity's real path: pack + upload of a digest already stored (nothing sent).
    const [republishMs, again] = await timed(() => store.publish(ws, origin));
    if (again.uploaded || again.digest !== packed.digest) throw new Error('re-publish must find the same digest and skip the upload');
    const [downloadMs] = await timed(() => store.download(packed.digest, join(root, 'dl.tar.gz')));

    const group = 'artifacts';
    return [
      { group, metric: `workspace: ${FILES} files, ${fmt(mb, 1)} MiB -> ${fmt(gzMb, 1)} MiB tar.gz`, value: `${fmt(mb / gzMb, 2)}x compression` },
      { group, metric: 'pack (deterministic tar.gz + sha256), MiB/s of content', value: fmt(mb / (packMs / 1000), 1), baseline: `${fmt(packMs, 0)} ms` },
      { group, metric: 'upload to Azurite (new digest), MiB/s of archive', value: fmt(gzMb / (uploadMs / 1000), 1), baseline: `${fmt(uploadMs, 0)} ms` },
      { group, metric: 'pack + upload end to end, MiB/s of content', value: fmt(mb / ((packMs + uploadMs) / 1000), 1), baseline: `${fmt(packMs + uploadMs, 0)} ms` },
      { group, metric: 're-publish same tree (pack, digest exists: no upload)', value: `${fmt(republishMs, 0)} ms` },
      { group, metric: 'verified download, MiB/s of archive', value: fmt(gzMb / (downloadMs / 1000), 1), baseline: `${fmt(downloadMs, 0)} ms` },
    ];
  } finally {
    await azurite.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
