// Crash safety of the event-driven environment lock: the host (a child process running the
// real lock entity, wake-up activity and orchestrator helpers) is killed with SIGKILL right
// after parties ask for the lock, and right after a holder is told to release (so around the
// release, the hand-over and the wake-up), at varying moments. After each restart on the same
// state: no waiter is lost (every party gets the turn, in arrival order) and the lock is never
// granted twice (never two parties holding at once).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { party, writeLockAppDir } from '../support/lock-app.js';

const appDir = writeLockAppDir();
const stateDir = mkdtempSync(join(tmpdir(), 'conveyor-lock-crash-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(appDir, { recursive: true, force: true });
});

function startCli(): Promise<{ child: ChildProcess; origin: string }> {
  const child = spawn(process.execPath, [resolve('dist/local/host/cli.js'), '--app-dir', appDir, '--port', '0', '--no-storage', '--state-dir', stateDir, '--log-level', 'error'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => rej(new Error(`host did not start: ${out}${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Host ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res({ child, origin: m[1]! });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`host exited early (${code}): ${out}${err}`));
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

test('kill -9 around request, release and wake-up: no waiter lost, never granted twice', async () => {
  let host = await startCli();
  const api = (path: string, init?: RequestInit) => fetch(`${host.origin}/api/${path}`, init);
  const status = async (id: string): Promise<any> => {
    const res = await api(`parties/${id}`);
    return res.status === 200 ? res.json() : undefined;
  };
  const ids = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];
  const holdingNow = async () => {
    const all = await Promise.all(ids.map(async (id) => ({ id, s: await status(id) })));
    return all.filter(({ s }) => s && s.customStatus?.state === 'holding' && !['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus)).map(({ id }) => id);
  };
  const waitUntil = async (what: string, cond: () => Promise<boolean>) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      // Never two holders, whenever we look.
      const h = await holdingNow();
      assert.ok(h.length <= 1, `granted twice: ${h.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const restart = async () => {
    await kill(host.child);
    host = await startCli();
  };

  // Requests: each party is started and the host killed shortly after (0-40 ms), at a different moment each time.
  for (let i = 0; i < ids.length; i++) {
    const res = await api(`parties/${ids[i]}`, { method: 'POST', body: JSON.stringify({ app: 'shop', env: 'crash', what: 'turn', party: { ...party(i), instanceId: ids[i] } }) });
    assert.equal(res.status, 202);
    await new Promise((r) => setTimeout(r, i * 8));
    await restart();
  }
  await waitUntil('c0 holds and the others wait', async () => {
    const s = await Promise.all(ids.map(status));
    return s[0]?.customStatus?.state === 'holding' && s.slice(1).every((x) => x?.customStatus?.state === 'waiting');
  });

  // Releases and hand-overs: tell the holder to release, kill at a varying moment, restart; the next in line must get it.
  const order: string[] = ['c0'];
  for (let i = 0; i < ids.length - 1; i++) {
    assert.equal((await api(`parties/${ids[i]}/release`, { method: 'POST' })).status, 202);
    await new Promise((r) => setTimeout(r, (i * 13) % 50));
    await restart();
    await waitUntil(`${ids[i + 1]} holds after ${ids[i]} released`, async () => (await status(ids[i + 1]!))?.customStatus?.state === 'holding');
    order.push(ids[i + 1]!);
    assert.equal((await status(ids[i]!))?.runtimeStatus, 'Completed');
  }
  assert.deepEqual(order, ids, 'every party got the turn, in arrival order');
  await api(`parties/${ids.at(-1)}/release`, { method: 'POST' });
  await waitUntil('the last party finishes', async () => (await status(ids.at(-1)!))?.runtimeStatus === 'Completed');
  await kill(host.child);
});
