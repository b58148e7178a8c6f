// Heap snapshot helpers for the soak bench: a child started with
// `--heapsnapshot-signal=SIGUSR2` writes `Heap.*.heapsnapshot` into its working folder on
// SIGUSR2; `summarise` reads one (the V8 JSON format) and totals self sizes per constructor.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Asks the process for a snapshot and resolves the new file once it is completely written. */
export async function takeSnapshot(pid: number, dir: string, timeoutMs = 300_000): Promise<string> {
  const before = new Set(readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file) {
      const size = statSync(join(dir, file)).size;
      // Written in one go by V8; a size that stops changing and parses is complete.
      if (size > 0 && size === last) {
        try {
          JSON.parse(readFileSync(join(dir, file), 'utf8').slice(-2) === ']}' ? '{}' : 'x');
          return join(dir, file);
        } catch {
          // Not finished yet.
        }
      }
      last = size;
    }
    if (Date.now() > deadline) throw new Error('heap snapshot not written in time');
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Total self size and per-constructor totals of a snapshot. */
export interface HeapSummary {
  totalBytes: number;
  nodes: number;
  byName: Map<string, { count: number; bytes: number }>;
}

export function summarise(file: string): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeIx = fields.indexOf('type');
  const nameIx = fields.indexOf('name');
  const sizeIx = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const byName = new Map<string, { count: number; bytes: number }>();
  let totalBytes = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeIx]!]!;
    const size = snap.nodes[i + sizeIx]!;
    totalBytes += size;
    const name = type === 'object' || type === 'closure' ? `${type}:${snap.strings[snap.nodes[i + nameIx]!]}` : `(${type})`;
    const entry = byName.get(name) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += size;
    byName.set(name, entry);
  }
  return { totalBytes, nodes: snap.nodes.length / width, byName };
}

/** The constructors that grew most between two snapshots, by bytes. */
export function growth(a: HeapSummary, b: HeapSummary, top = 8): { name: string; count: number; bytes: number }[] {
  const out: { name: string; count: number; bytes: number }[] = [];
  for (const [name, e] of b.byName) {
    const before = a.byName.get(name) ?? { count: 0, bytes: 0 };
    out.push({ name, count: e.count - before.count, bytes: e.bytes - before.bytes });
  }
  return out.sort((x, y) => y.bytes - x.bytes).slice(0, top);
}
