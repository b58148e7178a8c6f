// Loaded into the soak bench's host process with `--import` (never by the product): every
// CONVEYOR_SOAK_PROBE_MS it forces a full GC and appends one JSON line to
// CONVEYOR_SOAK_PROBE_FILE with the heap after that GC, RSS, open file descriptors by kind and
// the event loop's active resources by type. RSS alone cannot tell a leak from allocator
// slack (a heap snapshot alone adds ~250 MiB of RSS that glibc keeps), the heap after a
// full GC can.
import { appendFileSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const file = process.env.CONVEYOR_SOAK_PROBE_FILE;
const everyMs = Number(process.env.CONVEYOR_SOAK_PROBE_MS ?? 5_000);
// Children the host starts with its environment (Azurite) load this module too: only the
// host samples.
delete process.env.CONVEYOR_SOAK_PROBE_FILE;

/** One probe line. */
export interface ProbeSample {
  pid: number;
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** V8 code space in use (compiled code; grows while the JIT warms up). */
  codeSpace: number;
  /** Resident size of glibc's main-thread heap (`[heap]` in smaps): native allocations, SQLite's page cache among them. */
  mallocHeap: number;
  fds: Record<string, number>;
  /** Size in bytes of each open regular file (the SQLite databases and their WALs). */
  files: Record<string, number>;
  resources: Record<string, number>;
}

function fdKinds(): { fds: Record<string, number>; files: Record<string, number> } {
  const out: Record<string, number> = {};
  const files: Record<string, number> = {};
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (the readdir's own fd)
    }
    const kind = /^(socket|pipe|anon_inode):/.exec(target)?.[1] ?? (target.startsWith('/') ? `file:${basename(target)}` : target);
    out[kind] = (out[kind] ?? 0) + 1;
    if (target.startsWith('/') && !target.startsWith('/dev/')) {
      try {
        files[basename(target)] = statSync(target).size;
      } catch {
        // gone meanwhile
      }
    }
  }
  return { fds: out, files };
}

/** Resident bytes of the `[heap]` mapping (the brk heap glibc's main arena grows). */
function mallocHeapRss(): number {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf('[heap]\n');
  if (at < 0) return 0;
  return Number(/Rss:\s+(\d+) kB/.exec(smaps.slice(at))?.[1] ?? 0) * 1024;
}

if (file) {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const sample = () => {
    gc();
    const m = process.memoryUsage();
    const resources: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    const codeSpace = getHeapSpaceStatistics().find((sp) => sp.space_name === 'code_space')?.space_used_size ?? 0;
    const line: ProbeSample = {
      pid: process.pid,
      t: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      codeSpace,
      mallocHeap: mallocHeapRss(),
      ...fdKinds(),
      resources,
    };
    appendFileSync(file, JSON.stringify(line) + '\n');
  };
  setInterval(sample, everyMs).unref();
  sample();
}
