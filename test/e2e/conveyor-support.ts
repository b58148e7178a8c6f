// Test support for end-to-end tests: Conveyor's own app on the local host (with its Azurite),
// talked to only through public HTTP; plus helpers to read what the environments serve.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHost, type RunningHost } from '../../local/host/host.js';
import type { SampleService } from '../support/sample-service.js';
import { ProcessTarget } from '../../shared/targets/index.js';

/** The repository root (Conveyor's app folder): dist/test/e2e -> ../../.. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ConveyorUnderTest {
  host: RunningHost;
  origin: string;
  dataDir: string;
  /** fetch against the host with the function key (or `key: 'admin' | 'none'`). */
  api(path: string, init?: RequestInit & { key?: 'function' | 'admin' | 'none'; json?: unknown }): Promise<Response>;
  /** Polls GET /api/runs/{id} until `done` holds. */
  waitForRun(runId: string, done?: (run: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Stops every process the `process` target started, the host, and removes temp folders. */
  dispose(): Promise<void>;
}

export async function startConveyor(options: { env?: Record<string, string>; testClock?: boolean; startServiceBus?: boolean } = {}): Promise<ConveyorUnderTest> {
  const root = mkdtempSync(join(tmpdir(), 'conveyor-e2e-'));
  const dataDir = join(root, 'data');
  const logs: string[] = [];
  const host = await startHost({
    appDir: REPO_ROOT,
    port: 0,
    stateDir: join(root, 'state'),
    testClock: options.testClock ?? false,
    // Without the emulator (the pipeline bench's "without Service Bus" mode) no event is published.
    startServiceBus: options.startServiceBus ?? true,
    graceMs: 2000,
    // The reconcile timer is off unless a test of the loop gives a schedule: it would otherwise
    // start runs for pushed heads on its own and race the webhooks a test sends.
    env: { CONVEYOR_DATA_DIR: dataDir, CONVEYOR_LOG_LEVEL: 'info', CONVEYOR_RECONCILE_SCHEDULE: 'off', ...options.env },
    logWrite: (line) => {
      logs.push(line);
      if (process.env.CONVEYOR_TEST_VERBOSE) process.stderr.write(`${line}\n`);
    },
  });
  const api: ConveyorUnderTest['api'] = (path, init = {}) => {
    const headers = new Headers(init.headers);
    const key = init.key ?? 'function';
    if (key !== 'none') headers.set('x-functions-key', key === 'admin' ? host.keys.master : host.keys.function);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return fetch(`${host.origin}${path}`, { ...init, headers, body });
  };
  const waitForRun: ConveyorUnderTest['waitForRun'] = async (runId, done = (r) => ['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded'].includes(r.status), timeoutMs = 90_000) => {
    const until = Date.now() + timeoutMs;
    let last: any;
    while (Date.now() < until) {
      const res = await api(`/api/runs/${encodeURIComponent(runId)}`);
      if (res.status === 200) {
        last = await res.json();
        if (done(last)) return last;
      } else {
        await res.body?.cancel();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`run ${runId} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}\nhost log tail:\n${logs.slice(-40).join('\n')}`);
  };
  return {
    host,
    origin: host.origin,
    dataDir,
    api,
    waitForRun,
    async dispose() {
      const target = new ProcessTarget({ root: join(dataDir, 'targets', 'process'), stopGraceMs: 2000 });
      await host.stop();
      // A deployment still in flight when the host stopped can start its service afterwards:
      // stop every environment until a pass finds nothing running.
      for (let pass = 0; pass < 10; pass++) {
        let found = false;
        for (const { app, environment } of await target.listEnvironments()) {
          const stopped = await target.stop(app, environment);
          if (!stopped.ok || stopped.wasRunning) found = true;
        }
        if (!found) break;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** GET a JSON document from a deployed environment (or undefined when nothing answers). */
export async function served(port: number, path = '/version'): Promise<any> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return res.headers.get('content-type')?.includes('json') ? await res.json() : { status: res.status, text: await res.text() };
  } catch {
    return undefined;
  }
}

/**
 * One `process` environment of a test pipeline file: the sample service started on its port and
 * verified by its /healthz; `extra` adds indented keys (an approval, soak, drift, ...).
 */
export function processEnvironmentYaml(name: string, port: number | undefined, extra = ''): string {
  return `  - name: ${name}
    target: { type: process, start: node dist/server.js, port: ${port}, startTimeout: 10s }
    verify:
      - http: { path: /healthz, expect: 200, timeout: 2s, retries: 2, interval: 100ms }
${extra}`;
}

/** Sends the signed GitHub push of `commit` and returns the run it started (202 expected). */
export async function pushCommit(conveyor: ConveyorUnderTest, sample: SampleService, secret: string, commit: string): Promise<string> {
  const hook = await sample.pushWebhook({ secret, commit });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const body = (await res.json()) as { runId: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  return body.runId;
}
