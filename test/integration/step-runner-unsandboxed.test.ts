import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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
