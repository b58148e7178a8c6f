// Test helper: one real Azurite per test file, in a temp folder, stopped at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type RunningAzurite } from '../../local/storage/azurite.js';

export async function withAzurite(): Promise<RunningAzurite & { dispose(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-azurite-'));
  const az = await startAzurite({ location: dir });
  return Object.assign(az, {
    async dispose() {
      await az.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
