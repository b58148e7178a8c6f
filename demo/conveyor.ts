/**
 * Conveyor for the demo: the real app (this repository) on the local host (Azurite + SQLite +
 * the process target), configured with the demo's webhook secret and approver token, and a
 * small client for its public HTTP API.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startHost, type RunningHost } from '../local/host/host.js';
import { ProcessTarget } from '../shared/targets/index.js';
import { probeBubblewrap } from '../shared/steps/index.js';
import { DEMO_APP, DEMO_APPROVER, DEMO_BRANCH } from './demo-repo.js';
import { REPO_ROOT, type DemoPaths, type DemoSecrets } from './demo-state.js';

/** Name of the setting that holds the demo's webhook secret. */
export const WEBHOOK_SECRET_SETTING = 'CONVEYOR_DEMO_WEBHOOK_SECRET';

/** An HTTP answer: status and parsed body (JSON when it is JSON, else text). */
export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  text: string;
}

/** Which credentials a request carries. */
export interface ApiAuth {
  /** Host key: function (default), admin (master) or none. */
  key?: 'function' | 'admin' | 'none';
  /** Send the demo approver's bearer token. */
  identity?: boolean;
}

/** Client of Conveyor's HTTP API. */
export class ConveyorClient {
  constructor(
    readonly origin: string,
    readonly keys: { master: string; function: string },
    readonly approverToken: string,
  ) {}

  async request<T = Record<string, unknown>>(method: string, path: string, options: ApiAuth & { json?: unknown } = {}): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = {};
    const key = options.key ?? 'function';
    if (key !== 'none') headers['x-functions-key'] = key === 'admin' ? this.keys.master : this.keys.function;
    if (options.identity) headers.authorization = `Bearer ${this.approverToken}`;
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.origin}${path}`, {
      method,
      headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let body: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json')) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: res.status, body: body as T, text };
  }
}

/** A started Conveyor. */
export interface DemoConveyor {
  host: RunningHost;
  client: ConveyorClient;
  /** Stops Conveyor; with `environments`, also every environment process the demo deployed. */
  stop(options?: { environments?: boolean }): Promise<void>;
}

/** The approver token mapping, merged into any CONVEYOR_API_TOKENS already configured. */
function apiTokens(secrets: DemoSecrets): string {
  let existing: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(process.env.CONVEYOR_API_TOKENS ?? '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) existing = parsed as Record<string, unknown>;
  } catch {
    // A malformed inherited value is replaced: the demo's own token must work.
  }
  return JSON.stringify({ ...existing, [secrets.approverToken]: { id: DEMO_APPROVER.id, name: DEMO_APPROVER.name, groups: ['release-managers'] } });
}

/** Stops every environment process recorded under the demo's process-target root. */
export async function stopEnvironments(paths: DemoPaths): Promise<string[]> {
  const target = new ProcessTarget({ root: paths.processTargets, stopGraceMs: 2000 });
  const stopped: string[] = [];
  for (const { app, environment } of await target.listEnvironments()) {
    const result = await target.stop(app, environment);
    if (result.ok && result.wasRunning) stopped.push(`${app}/${environment}`);
  }
  return stopped;
}

/**
 * Starts the host on `port` with the demo's settings. `log` receives every host log line
 * (they are also appended to `<root>/conveyor.log`).
 */
export async function startDemoConveyor(options: {
  paths: DemoPaths;
  secrets: DemoSecrets;
  port: number;
  log?: (line: string, level: string) => void;
}): Promise<DemoConveyor> {
  const { paths, secrets } = options;
  mkdirSync(dirname(paths.log), { recursive: true });
  appendFileSync(paths.log, `--- ${new Date().toISOString()} demo host starting on port ${options.port}\n`);
  // The demo runs where bubblewrap may be missing (a laptop without it): steps then run
  // unsandboxed, which is said loudly here. Conveyor itself refuses unless allowed.
  const sandbox = await probeBubblewrap();
  if (!sandbox.ok) {
    console.warn(`WARNING: ${sandbox.reason}. The demo runs build/test steps and services WITHOUT a sandbox; install bubblewrap to isolate them (see README, "Sandbox").`);
  }
  const host = await startHost({
    appDir: REPO_ROOT,
    port: options.port,
    stateDir: paths.hostState,
    graceMs: 3000,
    env: {
      CONVEYOR_DATA_DIR: paths.data,
      CONVEYOR_ALLOW_UNSANDBOXED_STEPS: process.env.CONVEYOR_ALLOW_UNSANDBOXED_STEPS ?? 'true',
      CONVEYOR_API_TOKENS: apiTokens(secrets),
      [WEBHOOK_SECRET_SETTING]: secrets.webhookSecret,
      // Conveyor's Service Bus entities plus the subscription `npm start` prints events from.
      CONVEYOR_SERVICEBUS_TOPOLOGY: join(REPO_ROOT, 'demo', 'servicebus-emulator.json'),
    },
    logWrite: (line, level) => {
      appendFileSync(paths.log, line.endsWith('\n') ? line : `${line}\n`);
      options.log?.(line, level);
    },
  });
  const client = new ConveyorClient(host.origin, host.keys, secrets.approverToken);
  let stopped = false;
  return {
    host,
    client,
    async stop(stopOptions = {}) {
      if (stopped) return;
      stopped = true;
      await host.stop();
      if (stopOptions.environments) await stopEnvironments(paths);
    },
  };
}

/** Registers (201) or updates (200) the demo app; idempotent. */
export async function registerDemoApp(client: ConveyorClient, repoUrl: string): Promise<'created' | 'updated'> {
  const res = await client.request('PUT', `/api/apps/${DEMO_APP}`, {
    key: 'admin',
    json: { repoUrl, provider: 'github', branches: [DEMO_BRANCH], webhookSecretSetting: WEBHOOK_SECRET_SETTING },
  });
  if (res.status === 201) return 'created';
  if (res.status === 200) return 'updated';
  throw new Error(`PUT /api/apps/${DEMO_APP} answered ${res.status}: ${res.text.slice(0, 500)}`);
}
