// The `process` deploy target: what the target itself adds to a deployment. Replaces a
// running revision of the sample service N times and compares with the bare minimum a script
// would do for the same job (SIGTERM the old process and wait for it to exit, spawn the new
// one, poll the port until it accepts a connection). The difference is the target's
// bookkeeping: materialize into a release folder, atomic state.json, /proc identity checks,
// process-group stop, release pruning.
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProcessTarget, portAcceptsConnections } from '../shared/targets/process.target.js';
import { createSampleService, findFreePorts, SAMPLE_START_COMMAND } from '../test/support/sample-service.js';
import { fmt, percentile, type BenchRow } from './harness.js';

const ROUNDS = 15;

export async function run(): Promise<BenchRow[]> {
  const svc = await createSampleService();
  const tmp = await mkdtemp(join(tmpdir(), 'conveyor-target-bench-'));
  const build = await svc.buildCommit(svc.initialCommit, join(tmp, 'build'));
  const [targetPort, barePort] = await findFreePorts(2);
  const target = new ProcessTarget({ root: join(tmp, 'targets') });
  const spec = { type: 'process' as const, start: SAMPLE_START_COMMAND, port: targetPort!, env: {}, startTimeoutMs: 10_000 };
  const rows: BenchRow[] = [];
  let bareChild: ChildProcess | undefined;
  try {
    const deploy = async (i: number) => {
      const r = await target.deploy({
        app: 'bench',
        environment: 'dev',
        revision: i,
        commit: svc.initialCommit,
        digest: `sha256:${i}`,
        spec,
        materialize: (dest) => cp(join(build, 'dist'), join(dest, 'dist'), { recursive: true }),
      });
      if (!r.ok) throw new Error(r.reason);
    };
    const bareReplace = async () => {
      if (bareChild && bareChild.exitCode === null) {
        const old = bareChild;
        const gone = new Promise((resolve) => old.once('exit', resolve));
        old.kill('SIGTERM');
        await gone;
      }
      bareChild = spawn('bash', ['-c', SAMPLE_START_COMMAND], { cwd: build, env: { PATH: process.env.PATH, PORT: String(barePort) }, stdio: 'ignore' });
      while (!(await portAcceptsConnections(barePort!, 250))) await new Promise((r) => setTimeout(r, 10));
    };

    // Warm-up, and a running revision to replace.
    await deploy(-1);
    await bareReplace();

    const targetMs: number[] = [];
    const bareMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      let t0 = performance.now();
      await deploy(i);
      targetMs.push(performance.now() - t0);
      t0 = performance.now();
      await bareReplace();
      bareMs.push(performance.now() - t0);
    }
    const statusMs: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await target.status('bench', 'dev');
      statusMs.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await target.stop('bench', 'dev');
    const stopMs = performance.now() - t0;

    const p50 = percentile(targetMs, 50);
    const b50 = percentile(bareMs, 50);
    rows.push({
      group: 'process-target',
      metric: `replace a running revision, p50 of ${ROUNDS} (ms)`,
      value: fmt(p50, 1),
      baseline: fmt(b50, 1),
      ratio: `+${fmt(p50 - b50, 1)} ms over bare`,
    });
    rows.push({ group: 'process-target', metric: `replace, p99 (ms)`, value: fmt(percentile(targetMs, 99), 1), baseline: fmt(percentile(bareMs, 99), 1) });
    rows.push({ group: 'process-target', metric: 'status() incl. TCP probe, p50 (ms)', value: fmt(percentile(statusMs, 50), 2) });
    rows.push({ group: 'process-target', metric: 'stop() SIGTERM to group gone (ms)', value: fmt(stopMs, 1) });
  } finally {
    await target.stop('bench', 'dev').catch(() => undefined);
    if (bareChild && bareChild.exitCode === null) {
      const gone = new Promise((resolve) => bareChild!.once('exit', resolve));
      bareChild.kill('SIGKILL');
      await gone;
    }
    await rm(tmp, { recursive: true, force: true });
    await svc.dispose();
  }
  return rows;
}
