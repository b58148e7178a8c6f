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

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Objects that exist in one snapshot and not in an earlier one of the same process, grouped. */
export interface Survivors {
  /** Per constructor: count and self bytes of the new objects, and one retainer path (from a GC root). */
  groups: { name: string; count: number; bytes: number; path: string }[];
  count: number;
  bytes: number;
}

const nodeName = (snap: RawSnapshot, types: string[], i: number, f: { type: number; name: number }) => {
  const type = types[snap.nodes[i + f.type]!]!;
  return type === 'object' || type === 'closure' ? `${type}:${snap.strings[snap.nodes[i + f.name]!]}` : `(${type})`;
};

/**
 * The objects of `later` whose V8 ids were not in `earlier`: what was allocated between the two
 * snapshots and is still reachable (a snapshot is taken after a full GC). V8 keeps an object's
 * id for its whole life, so these are exactly the survivors. Each group carries the shortest
 * retaining path of one of its objects, which names what keeps them.
 */
export function survivors(earlier: string, later: string, top = 10): Survivors {
  const idsBefore = new Set<number>();
  {
    const a = JSON.parse(readFileSync(earlier, 'utf8')) as RawSnapshot;
    const w = a.snapshot.meta.node_fields.length;
    const idIx = a.snapshot.meta.node_fields.indexOf('id');
    for (let i = 0; i < a.nodes.length; i += w) idsBefore.add(a.nodes[i + idIx]!);
  }
  const b = JSON.parse(readFileSync(later, 'utf8')) as RawSnapshot;
  const nf = b.snapshot.meta.node_fields;
  const w = nf.length;
  const f = { type: nf.indexOf('type'), name: nf.indexOf('name'), id: nf.indexOf('id'), size: nf.indexOf('self_size'), edges: nf.indexOf('edge_count') };
  const ef = b.snapshot.meta.edge_fields;
  const ew = ef.length;
  const e = { type: ef.indexOf('type'), name: ef.indexOf('name_or_index'), to: ef.indexOf('to_node') };
  const types = b.snapshot.meta.node_types[0];
  const edgeTypes = b.snapshot.meta.edge_types[0];
  const count = b.nodes.length / w;
  // Shortest paths from the root (node 0), ignoring weak edges: parent node and edge per node.
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0; n < count; n++) firstEdge[n + 1] = firstEdge[n]! + b.nodes[n * w + f.edges]! * ew;
  const parent = new Int32Array(count).fill(-1);
  const parentEdge = new Int32Array(count).fill(-1);
  parent[0] = 0;
  let queue = [0];
  while (queue.length) {
    const next: number[] = [];
    for (const n of queue) {
      for (let ei = firstEdge[n]!; ei < firstEdge[n + 1]!; ei += ew) {
        if (edgeTypes[b.edges[ei + e.type]!] === 'weak') continue;
        const to = b.edges[ei + e.to]! / w;
        if (parent[to] !== -1) continue;
        parent[to] = n;
        parentEdge[to] = ei;
        next.push(to);
      }
    }
    queue = next;
  }
  const edgeLabel = (ei: number) => {
    const t = edgeTypes[b.edges[ei + e.type]!];
    const v = b.edges[ei + e.name]!;
    return t === 'element' || t === 'hidden' ? `[${v}]` : String(b.strings[v]);
  };
  const pathOf = (n: number) => {
    const parts: string[] = [];
    for (let cur = n; cur !== 0 && parts.length < 14; cur = parent[cur]!) {
      if (parent[cur] === -1) return `(unreachable) ${nodeName(b, types, cur * w, f)}`;
      parts.push(`${nodeName(b, types, parent[cur]! * w, f).slice(0, 40)}.${edgeLabel(parentEdge[cur]!).slice(0, 40)}`);
    }
    return parts.reverse().join(' > ');
  };
  const groups = new Map<string, { count: number; bytes: number; sample: number }>();
  let total = 0;
  let bytes = 0;
  for (let n = 0; n < count; n++) {
    const i = n * w;
    if (idsBefore.has(b.nodes[i + f.id]!)) continue;
    const type = types[b.nodes[i + f.type]!];
    // Compiled code and V8 internals; embedder ("native") nodes get new ids in every snapshot.
    if (type === 'code' || type === 'hidden' || type === 'synthetic' || type === 'native') continue;
    const name = nodeName(b, types, i, f);
    const g = groups.get(name) ?? { count: 0, bytes: 0, sample: n };
    g.count++;
    g.bytes += b.nodes[i + f.size]!;
    groups.set(name, g);
    total++;
    bytes += b.nodes[i + f.size]!;
  }
  return {
    count: total,
    bytes,
    groups: [...groups]
      .sort((x, y) => y[1].bytes - x[1].bytes)
      .slice(0, top)
      .map(([name, g]) => ({ name, count: g.count, bytes: g.bytes, path: pathOf(g.sample) })),
  };
}
