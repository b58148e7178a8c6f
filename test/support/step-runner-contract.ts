/**
 * The behaviour every local `StepRunner` must show, as tests: one call registers them for one
 * runner. Processes are found by a unique marker in their command line (scanning the host's
 * /proc), not by pids the step reports, since a sandboxed step sees its own pid namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogSink } from '../../shared/executor/index.js';
import type { StepRequest, StepRunner } from '../../shared/steps/index.js';

/** Host pids whose argv[0] is `marker` (zombies excluded). */
export function processesWithArgument(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.split('\0')[0] !== marker) continue;
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${entry}/status`, 'utf8'))) continue;
      found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Polls `cond` every 25 ms until it holds or `ms` pass; returns its last value. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

/** A unique marker usable as a process's argv[0] (`exec -a <marker> sleep 300`). */
export function marker(label: string): string {
  return `conveyor-test-${label}-${randomBytes(6).toString('hex')}`;
}

/** Registers the step-runner contract tests for `makeRunner()`. */
export function stepRunnerContract(label: string, makeRunner: () => StepRunner, options: { skip?: string; skipSetsidDaemon?: string } = {}): void {
  const vars = { app: 'shop', commit: 'a'.repeat(40), branch: 'main', runId: 'shop.aaaa', step: 'build' };
  const request = (dir: string, over: Partial<StepRequest>): StepRequest => ({
    name: 'build',
    command: 'true',
    workspace: { dir },
    env: {},
    conveyorVars: vars,
    timeoutMs: 20_000,
    log: new MemoryLogSink(),
    ...over,
  });
  const withDir = async (fn: (dir: string) => Promise<void>) => {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-steps-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const t = (name: string, fn: () => Promise<void>) => test(`${label}: ${name}`, { skip: options.skip }, fn);
  const tEscape = (name: string, fn: () => Promise<void>) =>
    test(`${label}: ${name}${options.skipSetsidDaemon ? ` (skipped: ${options.skipSetsidDaemon})` : ''}`, { skip: options.skip ?? options.skipSetsidDaemon }, fn);

  t('runs in the workspace with only the pipeline variables, secret variables and CONVEYOR_*', () =>
    withDir(async (dir) => {
      const log = new MemoryLogSink();
      const outcome = await makeRunner().run(request(dir, { command: 'pwd; env | sort; echo made > out.txt', env: { NODE_ENV: 'production' }, secretEnv: { NPM_TOKEN: 'npm_s3cr3t_value' }, log }));
      assert.equal(outcome.exitCode, 0, log.text);
      assert.equal(outcome.timedOut, false);
      const lines = log.text.split('\n');
      assert.equal(lines[0], dir);
      assert.ok(lines.includes('NODE_ENV=production'));
      assert.ok(lines.includes('CONVEYOR_APP=shop'));
      assert.ok(lines.includes('CONVEYOR_RUN_ID=shop.aaaa'));
      assert.ok(lines.includes('NPM_TOKEN=***'), 'secret variables are present and masked');
      assert.ok(!log.text.includes('npm_s3cr3t_value'));
      const names = lines.filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l)).map((l) => l.slice(0, l.indexOf('=')));
      const allowed = new Set(['PATH', 'HOME', 'LANG', 'TMPDIR', 'PWD', 'SHLVL', '_', 'OLDPWD', 'NODE_ENV', 'NPM_TOKEN']);
      for (const name of names) assert.ok(allowed.has(name) || name.startsWith('CONVEYOR_'), `unexpected variable ${name}`);
      assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), 'made\n', 'the workspace is writable');
      assert.equal(outcome.isolation.runner, makeRunner().kind);
    }));

  t('reports a failing command as an exit code with the output tail', () =>
    withDir(async (dir) => {
      const outcome = await makeRunner().run(request(dir, { command: 'for i in $(seq 1 80); do echo line $i; done; echo oops >&2; exit 3' }));
      assert.equal(outcome.exitCode, 3);
      assert.equal(outcome.timedOut, false);
      assert.match(outcome.outputTail, /oops/);
      assert.ok(!outcome.outputTail.includes('line 1\n'), 'only the tail is kept');
    }));

  t('a timeout kills every process of the step, one ignoring SIGTERM included', () =>
    withDir(async (dir) => {
      const m = marker('timeout');
      const log = new MemoryLogSink();
      const started = Date.now();
      const running = makeRunner().run(request(dir, { command: `bash -c 'trap "" TERM; exec -a ${m} sleep 300' & echo started; wait`, timeoutMs: 3000, log }));
      assert.ok(await waitFor(() => processesWithArgument(m).length === 1, 10_000), 'the grandchild started');
      const outcome = await running;
      assert.equal(outcome.timedOut, true);
      assert.equal(outcome.exitCode, null);
      assert.match(outcome.outputTail, /started/);
      assert.match(outcome.outputTail, /timed out/);
      assert.ok(Date.now() - started < 15_000);
      assert.ok(await waitFor(() => processesWithArgument(m).length === 0, 5000), 'the grandchild survived the timeout');
    }));

  t('a process left in the background ends with the step', () =>
    withDir(async (dir) => {
      const m = marker('daemon');
      // The step waits for `go`, which the test creates once it has seen the daemon running.
      const running = makeRunner().run(request(dir, { command: `(bash -c 'exec -a ${m} sleep 300' </dev/null >/dev/null 2>&1 &) ; until [ -e go ]; do sleep 0.02; done; echo done` }));
      assert.ok(await waitFor(() => processesWithArgument(m).length === 1, 10_000), 'the daemon started');
      writeFileSync(join(dir, 'go'), '');
      const outcome = await running;
      assert.equal(outcome.exitCode, 0);
      assert.ok(await waitFor(() => processesWithArgument(m).length === 0, 5000), 'the daemon survived the step');
    }));

  tEscape('a daemon that left the process group with setsid ends with the step', () =>
    withDir(async (dir) => {
      const m = marker('daemon');
      // The step waits for `go`, which the test creates once it has seen the daemon running.
      const running = makeRunner().run(request(dir, { command: `(setsid bash -c 'exec -a ${m} sleep 300' </dev/null >/dev/null 2>&1 &) ; until [ -e go ]; do sleep 0.02; done; echo done` }));
      assert.ok(await waitFor(() => processesWithArgument(m).length === 1, 10_000), 'the daemon started');
      writeFileSync(join(dir, 'go'), '');
      const outcome = await running;
      assert.equal(outcome.exitCode, 0);
      assert.ok(await waitFor(() => processesWithArgument(m).length === 0, 5000), 'the daemon survived the step');
    }));

  t('aborting kills the step without marking it timed out', () =>
    withDir(async (dir) => {
      const ac = new AbortController();
      const log = new MemoryLogSink();
      const running = makeRunner().run(request(dir, { command: 'echo up; sleep 30', timeoutMs: 60_000, log, signal: ac.signal }));
      assert.ok(await waitFor(() => log.text.includes('up'), 10_000));
      ac.abort();
      const outcome = await running;
      assert.equal(outcome.timedOut, false);
      assert.notEqual(outcome.exitCode, 0);
    }));

  t('registered values are masked even when printed in pieces', () =>
    withDir(async (dir) => {
      const log = new MemoryLogSink();
      writeFileSync(join(dir, 'piece.sh'), `printf 'auth: tok_9f8e'; sleep 0.2; printf '7d6c'; sleep 0.2; printf '5b4a done\\n'\n`);
      const outcome = await makeRunner().run(request(dir, { command: 'bash piece.sh', redact: ['tok_9f8e7d6c5b4a'], log }));
      assert.equal(outcome.exitCode, 0);
      assert.ok(!log.text.includes('tok_9f8e'));
      assert.match(log.text, /auth: \*\*\* done/);
    }));

  t('a missing workspace is an error, not an outcome', () =>
    withDir(async (dir) => {
      await assert.rejects(makeRunner().run(request(join(dir, 'nope'), {})), /workspace folder .* does not exist/);
    }));
}
