/**
 * Resource limits of a step, and the record of how a step was isolated.
 *
 * A step asks for `resources: { cpu, memory, disk }` in the pipeline file; the operator's
 * settings (`CONVEYOR_STEP_CPU`, `CONVEYOR_STEP_MEMORY`, `CONVEYOR_STEP_DISK`) are both the
 * default and the ceiling, so a push can lower its limits but never raise them past the
 * installation's. What each limit means depends on the runner (docs/security.md, "Limits"):
 *
 * - bubblewrap: `cpu` pins the step to that many CPUs (`taskset`); `memory` caps the private
 *   writable memory each process of the step may map (`RLIMIT_DATA` through `prlimit`: an
 *   allocation past it fails); `disk` caps each file the step writes (`RLIMIT_FSIZE`: a write
 *   past it fails with SIGXFSZ), the private `/tmp` and `HOME` (tmpfs of that size each), and
 *   the workspace's growth, measured when the step ends (past it, the step fails);
 * - Kubernetes Jobs: requests and limits of the step's container (`cpu`, `memory`,
 *   `ephemeral-storage`), enforced by the kubelet for the container as a whole.
 */
import type { StepResources } from '../domain/pipeline.js';

/** Limits a runner applies to one step (always all three: defaults fill what the step left out). */
export interface StepLimits {
  /** CPUs the step may use (whole CPUs on the local runner). */
  cpu: number;
  /** Bytes of memory. */
  memoryBytes: number;
  /** Bytes of disk. */
  diskBytes: number;
}

/** The installation's defaults (and ceilings) when no setting says otherwise. */
export const DEFAULT_STEP_LIMITS: StepLimits = { cpu: 2, memoryBytes: 4 * 1024 ** 3, diskBytes: 10 * 1024 ** 3 };

/** The limits a step gets: what it asked for, each at most the installation's; notes say what was lowered. */
export function effectiveLimits(asked: StepResources | undefined, ceiling: StepLimits): { limits: StepLimits; notes: string[] } {
  const notes: string[] = [];
  const pick = (name: 'cpu' | 'memory' | 'disk', want: number | undefined, max: number, show: (n: number) => string): number => {
    if (want === undefined) return max;
    if (want > max) {
      notes.push(`${name} ${show(want)} asked, ${show(max)} allowed by the installation`);
      return max;
    }
    return want;
  };
  return {
    limits: {
      cpu: pick('cpu', asked?.cpu, ceiling.cpu, String),
      memoryBytes: pick('memory', asked?.memoryBytes, ceiling.memoryBytes, formatBytes),
      diskBytes: pick('disk', asked?.diskBytes, ceiling.diskBytes, formatBytes),
    },
    notes,
  };
}

/** `1.5Gi`, `512Mi`, `64Ki` or bytes, as Kubernetes quantities read. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (bytes >= size) {
      const n = bytes / size;
      return `${Number.isInteger(n) ? n : n.toFixed(1)}${unit}`;
    }
  }
  return String(bytes);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|K|M|G|T)?$/;
const UNIT: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** Bytes of a size such as `512Mi`, `2Gi`, `1G` or `1048576`; undefined when it is not one. */
export function parseBytes(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return undefined;
  const bytes = Math.floor(Number(m[1]) * UNIT[m[2] ?? '']!);
  return Number.isFinite(bytes) && bytes > 0 ? bytes : undefined;
}

/** How a step (or service) was actually isolated: recorded in the run (GET /api/runs/{id}). */
export type { StepIsolation } from '../domain/run.js';

/** The limit a failed step ran into, when its end shows one. */
export type LimitHit = { limit: 'memory' | 'disk'; why: string };

const OUT_OF_MEMORY = /out of memory|Cannot allocate memory|allocation failed|std::bad_alloc|MemoryError|OutOfMemory|ENOMEM/i;
const FILE_TOO_LARGE = /File size limit exceeded|EFBIG|File too large/i;

/** Which limit a step that failed ran into, from how it ended and what it printed last. */
export function limitHit(result: { exitCode: number | null; signal: string | null; outputTail: string }, limits: StepLimits): LimitHit | undefined {
  if (result.exitCode === 0) return undefined;
  // 153 = 128 + SIGXFSZ: bash reports a child killed by it that way.
  if (result.signal === 'SIGXFSZ' || result.exitCode === 153 || FILE_TOO_LARGE.test(result.outputTail)) {
    return { limit: 'disk', why: `a file reached the disk limit of ${formatBytes(limits.diskBytes)}` };
  }
  if (OUT_OF_MEMORY.test(result.outputTail)) return { limit: 'memory', why: `it ran out of memory (limit ${formatBytes(limits.memoryBytes)} per process)` };
  return undefined;
}
