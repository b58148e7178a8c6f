import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogSink } from '../../shared/executor/index.js';
import { UnsandboxedStepRunner } from '../../shared/steps/index.js';
import { stepRunnerContract } from '../support/step-runner-contract.js';

stepRunnerContract('unsandboxed runner', () => new UnsandboxedStepRunner({ killGraceMs: 300 }), {
  skipSetsidDaemon: 'a plain process group cannot hold a process that calls setsid; only the sandbox PID namespace can',
});

test('unsandboxed runner: network none is refused, naming the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-steps-'));
  try {
    await assert.rejects(
      new UnsandboxedStepRunner().run({ name: 'test', command: 'true', workspace: { dir }, env: {}, conveyorVars: { app: 'a', commit: 'c' }, timeoutMs: 1000, network: 'none', log: new MemoryLogSink() }),
      /network: none.*bubblewrap/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unsandboxed runner: a secret file is owner-only while the step runs and removed when it ends; the record says nothing was isolated', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-steps-'));
  try {
    const log = new MemoryLogSink();
    const outcome = await new UnsandboxedStepRunner().run({
      name: 'build', command: 'echo "$TOKEN_FILE"; stat -c %a "$TOKEN_FILE"; cat "$TOKEN_FILE"', workspace: { dir }, env: {}, secretFiles: { TOKEN_FILE: 'file-secret-value' },
      conveyorVars: { app: 'a', commit: 'c' }, timeoutMs: 10_000, log,
    });
    assert.equal(outcome.exitCode, 0, log.text);
    const [path, mode, shown] = log.text.trim().split('\n');
    assert.equal(mode, '400');
    assert.equal(shown, '***');
    assert.equal(existsSync(path!), false, 'removed after the step');
    assert.deepEqual(outcome.isolation, { runner: 'unsandboxed', sandbox: false, network: 'on', enforcement: ['none: no sandbox, no limits (CONVEYOR_ALLOW_UNSANDBOXED_STEPS)'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
