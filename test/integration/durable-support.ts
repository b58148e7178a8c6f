// Helpers for the durable end-to-end tests: a host running test/fixtures/durable-app, and
// small HTTP wrappers around its starter, client facade and the public durable API.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHost } from '../../local/host/host.js';

export const FIXTURE_APP = resolve('test/fixtures/durable-app');

export interface CheckStatus {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  purgeHistoryDeleteUri: string;
  suspendPostUri: string;
  resumePostUri: string;
}

export interface Status {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  output: any;
  customStatus: any;
  createdTime: string;
  lastUpdatedTime: string;
  history?: any[];
}

export const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

export class DurableTestHost {
  private constructor(
    readonly origin: string,
    readonly masterKey: string,
    readonly stateDir: string,
    private readonly stopHost: () => Promise<void>,
  ) {}

  static async start(): Promise<DurableTestHost> {
    const stateDir = mkdtempSync(join(tmpdir(), 'conveyor-durable-'));
    const h = await startHost({ appDir: FIXTURE_APP, port: 0, stateDir, testClock: true, startStorage: false, logLevel: 'error' });
    return new DurableTestHost(h.origin, h.keys.master, stateDir, () => h.stop());
  }

  async stop(): Promise<void> {
    await this.stopHost();
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  /** POST /api/orchestrators/{name}: the app's HTTP starter (client.startNew + createCheckStatusResponse). */
  async start(name: string, input?: unknown, id?: string): Promise<CheckStatus> {
    const url = `${this.origin}/api/orchestrators/${name}${id ? `?id=${encodeURIComponent(id)}` : ''}`;
    const res = await fetch(url, { method: 'POST', body: input === undefined ? '' : JSON.stringify(input) });
    const body = (await res.json()) as CheckStatus & { error?: string };
    if (res.status !== 202) throw Object.assign(new Error(`start ${name}: ${res.status} ${body.error}`), { status: res.status });
    return body;
  }

  /** POST /api/client/{op}: the app's facade over DurableClient (RPC calls). */
  async client(op: string, body: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.origin}/api/client/${op}`, { method: 'POST', body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** GET on the public status URL (system key in the URL). */
  async status(cs: CheckStatus | string): Promise<Status> {
    const url = typeof cs === 'string' ? `${this.origin}/runtime/webhooks/durabletask/instances/${cs}?code=${this.masterKey}` : cs.statusQueryGetUri;
    const res = await fetch(url);
    if (res.status === 404) throw Object.assign(new Error('not found'), { status: 404 });
    return (await res.json()) as Status;
  }

  async waitFor(cs: CheckStatus | string, pred: (s: Status) => boolean, what = 'condition', timeoutMs = 30_000): Promise<Status> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(cs);
      if (pred(s)) return s;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last status ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  waitDone(cs: CheckStatus | string, timeoutMs = 30_000): Promise<Status> {
    return this.waitFor(cs, (s) => TERMINAL.has(s.runtimeStatus), 'completion', timeoutMs);
  }

  /** Moves the durable test clock forward. */
  async advance(ms: number): Promise<void> {
    const res = await fetch(`${this.origin}/runtime/webhooks/durabletask/test-clock/advance?ms=${ms}&code=${this.masterKey}`, { method: 'POST' });
    if (res.status !== 200) throw new Error(`advance: ${res.status} ${await res.text()}`);
  }

  /** Waits until the durable backend has nothing running or ready (before checking that something did not happen). */
  async settle(): Promise<void> {
    const res = await fetch(`${this.origin}/runtime/webhooks/durabletask/test-clock/idle?code=${this.masterKey}`);
    if (res.status !== 200) throw new Error(`settle: ${res.status} ${await res.text()}`);
  }

  /** Any request on the public durable API, with the master key. */
  api(path: string, init: RequestInit = {}): Promise<Response> {
    const sep = path.includes('?') ? '&' : '?';
    return fetch(`${this.origin}/runtime/webhooks/durabletask/${path}${sep}code=${this.masterKey}`, init);
  }
}
