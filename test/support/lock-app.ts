// The lock fixture app (lock-app.fixture.ts) on a local host with the test clock.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHost, type RunningHost } from '../../local/host/host.js';
import type { LockParty } from '../../shared/domain/environment-lock.js';

/** A host running the lock fixture, with helpers. */
export interface LockHost {
  host: RunningHost;
  /** Starts a party that asks for the turn or the slot. */
  start(id: string, party: Omit<LockParty, 'instanceId'>, what?: 'turn' | 'slot', env?: string, extra?: Record<string, unknown>): Promise<void>;
  status(id: string, history?: boolean): Promise<any>;
  /** Polls the status every few ms until `pred` holds; resolves the status and when it was seen. */
  waitFor(id: string, pred: (s: any) => boolean, timeoutMs?: number): Promise<{ status: any; seenAt: number }>;
  raise(id: string, event: string, body?: unknown): Promise<void>;
  terminate(id: string): Promise<void>;
  advance(ms: number): Promise<void>;
  /** Runs the reconcile sweep's lock repair on one environment's lock (shared/use-cases/repair-lock.use-case.ts). */
  repair(env: string, staleMs?: number): Promise<{ released: string[]; woken: string[] }>;
  /** Resolves once the durable backend has nothing running or ready (test clock only). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** Writes the fixture's app folder (package.json + host.json); remove it when done. */
export function writeLockAppDir(): string {
  // Inside the build folder, so the app resolves @azure/functions from the repository's node_modules.
  const main = fileURLToPath(new URL('./lock-app.fixture.js', import.meta.url));
  const dir = mkdtempSync(join(dirname(main), '.lock-app-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'lock-fixture', private: true, type: 'module', main }));
  writeFileSync(join(dir, 'host.json'), JSON.stringify({ version: '2.0', extensions: { durableTask: { hubName: 'LockFixture' } } }));
  return dir;
}

export async function startLockHost(options: { testClock?: boolean } = {}): Promise<LockHost> {
  const dir = writeLockAppDir();
  const stateDir = mkdtempSync(join(tmpdir(), 'conveyor-lock-state-'));
  const host = await startHost({ appDir: dir, port: 0, stateDir, testClock: options.testClock ?? true, startStorage: false, logLevel: 'error' });
  const durable = (path: string) => `${host.origin}/runtime/webhooks/durabletask/${path}${path.includes('?') ? '&' : '?'}code=${host.keys.master}`;
  const self: LockHost = {
    host,
    async start(id, party, what = 'turn', env = 'prod', extra = {}) {
      const res = await fetch(`${host.origin}/api/parties/${id}`, { method: 'POST', body: JSON.stringify({ app: 'shop', env, what, party: { ...party, instanceId: id }, ...extra }) });
      if (res.status !== 202) throw new Error(`start ${id}: ${res.status} ${await res.text()}`);
    },
    async status(id, history = false) {
      const res = await fetch(durable(`instances/${id}${history ? '?showHistory=true' : ''}`));
      return res.json();
    },
    async waitFor(id, pred, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const s = await self.status(id).catch(() => undefined);
        if (s && pred(s)) return { status: s, seenAt: performance.now() };
        if (Date.now() > until) throw new Error(`${id}: condition not reached; last ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async raise(id, event, body = {}) {
      const res = await fetch(durable(`instances/${id}/raiseEvent/${event}`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 202) throw new Error(`raise ${event} on ${id}: ${res.status}`);
    },
    async terminate(id) {
      const res = await fetch(durable(`instances/${id}/terminate?reason=test`), { method: 'POST' });
      if (res.status !== 202) throw new Error(`terminate ${id}: ${res.status}`);
    },
    async advance(ms) {
      const res = await fetch(durable(`test-clock/advance?ms=${ms}`), { method: 'POST' });
      if (res.status !== 200) throw new Error(`advance: ${res.status}`);
    },
    async repair(env, staleMs = 30_000) {
      const res = await fetch(`${host.origin}/api/locks/shop/${env}/repair?staleMs=${staleMs}`, { method: 'POST' });
      if (res.status !== 200) throw new Error(`repair: ${res.status} ${await res.text()}`);
      return (await res.json()) as { released: string[]; woken: string[] };
    },
    async idle() {
      for (let i = 0; i < 2000; i++) {
        const res = await fetch(durable('test-clock/idle'));
        if (res.status === 200 && ((await res.json()) as { idle?: boolean }).idle === true) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('the durable backend did not become idle');
    },
    async stop() {
      await host.stop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** A lock party (without instance id) requested at second `n` of a fixed minute. */
export function party(n: number, kind: LockParty['kind'] = 'promotion', policy: LockParty['policy'] = 'queue'): Omit<LockParty, 'instanceId'> {
  return { runId: `shop.${String(n).padStart(7, '0')}`, requestedAt: `2026-10-01T09:00:${String(n).padStart(2, '0')}.000Z`, kind, policy };
}
