// Sandbox overhead per step: the same no-op step (`true`) run through the bubblewrap
// runner and through the unsandboxed executor, interleaved in one run so both see the same
// machine load. The difference is what the sandbox costs each build or test step: creating the
// user, PID, IPC, UTS, mount and cgroup namespaces, the bind mounts, and bwrap's init.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MemoryLogSink } from '../shared/executor/index.js';
import { BubblewrapStepRunner, UnsandboxedStepRunner, type StepRequest, type StepRunner } from '../shared/steps/index.js';
import { fmt, percentile, type BenchRow } from './harness.js';

const ROUNDS = 60;

export async function run(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-sandbox-bench-'));
  const request = (): StepRequest => ({ name: 'build', command: 'true', workspace: { dir }, env: {}, conveyorVars: { app: 'bench', commit: 'c' }, timeoutMs: 30_000, log: new MemoryLogSink() });
  const sandboxed = new BubblewrapStepRunner();
  const plain = new UnsandboxedStepRunner();
  const once = async (runner: StepRunner) => {
    const t0 = performance.now();
    const outcome = await runner.run(request());
    if (outcome.exitCode !== 0) throw new Error(`${runner.kind} no-op step exited ${outcome.exitCode}: ${outcome.outputTail}`);
    return performance.now() - t0;
  };
  try {
    // Warm-up (and the one-time bubblewrap probe) before measuring.
    for (let i = 0; i < 5; i++) {
      await once(sandboxed);
      await once(plain);
    }
    const boxed: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      boxed.push(await once(sandboxed));
      bare.push(await once(plain));
    }
    const p50 = percentile(boxed, 50);
    const b50 = percentile(bare, 50);
    return [
      {
        group: 'sandbox',
        metric: `no-op step, bubblewrap vs unsandboxed, p50 of ${ROUNDS} (ms)`,
        value: fmt(p50, 1),
        baseline: fmt(b50, 1),
        ratio: `+${fmt(p50 - b50, 1)} ms per step`,
        goal: '<= 25 ms',
        met: p50 - b50 <= 25 ? 'yes' : 'no',
      },
      { group: 'sandbox', metric: 'no-op step, p99 (ms)', value: fmt(percentile(boxed, 99), 1), baseline: fmt(percentile(bare, 99), 1), ratio: `+${fmt(percentile(boxed, 99) - percentile(bare, 99), 1)} ms` },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
