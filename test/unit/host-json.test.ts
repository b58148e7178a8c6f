// host.json carries what Azure needs (docs/azure.md, "Limits"): a function timeout, durable
// concurrency sized for the Elastic Premium EP1 plan, and activity retries that never repeat an
// attempt the host killed at that timeout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRANSIENT_RETRY } from '../../orchestrations/activity-call.js';
import { ACTIVITY_RETRY_WINDOW_MS, FUNCTION_TIMEOUT_MS } from '../../shared/contracts/host-limits.js';
import { parsePipelineSpec } from '../../shared/pipeline/index.js';

const hostJson = JSON.parse(readFileSync(join(process.cwd(), 'host.json'), 'utf8')) as {
  functionTimeout: string;
  extensionBundle: { id: string; version: string };
  extensions: { durableTask: Record<string, unknown> & { storageProvider?: Record<string, unknown> } };
};

/** `hh:mm:ss` or `d.hh:mm:ss` (a .NET TimeSpan as host.json writes it) in milliseconds. */
function timeSpanMs(value: string): number {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(value);
  assert.ok(m, `not a TimeSpan: ${value}`);
  return (((Number(m[1] ?? 0) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4])) * 1000;
}

describe('host.json for Azure', () => {
  it('functionTimeout is set and is the limit the orchestrators know', () => {
    assert.equal(timeSpanMs(hostJson.functionTimeout), FUNCTION_TIMEOUT_MS);
  });

  it('an activity the host killed at functionTimeout is not retried into the same timeout', () => {
    // Durable schedules a retry only while (first attempt start + window) is not yet past.
    // An attempt that ran into the timeout ended at least FUNCTION_TIMEOUT_MS after it started.
    assert.equal(TRANSIENT_RETRY.retryTimeoutInMilliseconds, ACTIVITY_RETRY_WINDOW_MS);
    assert.ok(ACTIVITY_RETRY_WINDOW_MS < FUNCTION_TIMEOUT_MS);
    // ...while fast transient faults still get every retry inside the window.
    let elapsed = 0;
    let delay = TRANSIENT_RETRY.firstRetryIntervalInMilliseconds;
    for (let attempt = 1; attempt < TRANSIENT_RETRY.maxNumberOfAttempts; attempt++) {
      elapsed += delay;
      delay = Math.min(delay * (TRANSIENT_RETRY.backoffCoefficient ?? 1), TRANSIENT_RETRY.maxRetryIntervalInMilliseconds ?? Infinity);
    }
    assert.ok(elapsed < ACTIVITY_RETRY_WINDOW_MS);
  });

  it('the default step timeout ends a step well before the host would kill its activity', () => {
    const spec = parsePipelineSpec(['version: 1', 'build:', '  command: make', '  artifact: [out]', 'test:', '  command: make test', 'environments:', '  - name: dev', '    target: { type: process, start: ./run, port: 8101 }'].join('\n'));
    // The activity also clones, packs and uploads: leave it at least half the function timeout.
    assert.ok(spec.build.timeoutMs <= FUNCTION_TIMEOUT_MS / 2, `default build timeout ${spec.build.timeoutMs} ms`);
    assert.ok(spec.test!.timeoutMs <= FUNCTION_TIMEOUT_MS / 2, `default test timeout ${spec.test!.timeoutMs} ms`);
  });

  it('durable concurrency is bounded for one EP1 instance (1 vCPU, 3.5 GB)', () => {
    const dt = hostJson.extensions.durableTask;
    for (const key of ['maxConcurrentActivityFunctions', 'maxConcurrentOrchestratorFunctions', 'maxConcurrentEntityFunctions']) {
      assert.ok(Number.isInteger(dt[key]) && (dt[key] as number) > 0 && (dt[key] as number) <= 32, `${key} = ${String(dt[key])}`);
    }
    assert.equal(dt.hubName, '%CONVEYOR_TASK_HUB%');
    assert.equal(timeSpanMs(String(dt.storageProvider?.maxQueuePollingInterval)), 30_000, 'idle polling at the 30 s default keeps idle storage transactions low');
  });

  it('the extension bundle range provides the durable, HTTP and Service Bus bindings', () => {
    assert.equal(hostJson.extensionBundle.id, 'Microsoft.Azure.Functions.ExtensionBundle');
    assert.equal(hostJson.extensionBundle.version, '[4.*, 5.0.0)');
  });
});
