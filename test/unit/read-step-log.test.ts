// Reading a step's log (the use-case behind GET /api/runs/{runId}/logs/{step}) with in-memory
// fakes of the run store and the log reader: a run id not of Conveyor's form, a step that keeps
// no log, and a log not started yet are "not found" with the reason; an unknown run propagates
// the store's NotFoundError; a started log is streamed as it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { NotFoundError } from '../../shared/errors.js';
import { readStepLog, type StepLogPorts } from '../../shared/use-cases/read-step-log.use-case.js';
import { logBlobName, runIdFor } from '../../shared/domain/ids.js';
import type { RunRecord } from '../../shared/domain/run.js';

const runId = runIdFor('shop', 'c'.repeat(40));

function ports(logs: Record<string, string>): StepLogPorts & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    runs: {
      get: async (app: string, id: string) => {
        if (app !== 'shop' || id !== runId) throw new NotFoundError(`run ${id} not found`);
        return { value: { app, runId: id } as RunRecord, etag: '1' };
      },
    },
    stepLogs: {
      open: async (name: string) => {
        opened.push(name);
        return name in logs ? Readable.from([logs[name]!]) : undefined;
      },
    },
  };
}

test('a started log is streamed; a step without a log yet, a step that keeps none, or a malformed run id are not found, with the reason', async () => {
  const p = ports({ [logBlobName('shop', runId, 'build')]: 'compiling\nok\n' });
  const found = await readStepLog(p, runId, 'build');
  assert.equal(found.found && (await text(found.log)), 'compiling\nok\n');
  assert.deepEqual(await readStepLog(p, runId, 'test'), { found: false, reason: `run ${runId} has no test log (yet)` });
  const noStep = await readStepLog(p, runId, 'deploy');
  assert.match(!noStep.found ? noStep.reason : '', /^no step "deploy"; steps with logs: build, test/);
  assert.deepEqual(await readStepLog(p, 'not-a-run-id', 'build'), { found: false, reason: 'no run "not-a-run-id"' });
  assert.deepEqual(p.opened, [logBlobName('shop', runId, 'build'), logBlobName('shop', runId, 'test')], 'only known steps of known runs are opened');
});

test('a run the store does not know propagates its NotFoundError (the adapter answers 404)', async () => {
  await assert.rejects(readStepLog(ports({}), runIdFor('shop', 'd'.repeat(40)), 'build'), NotFoundError);
});
