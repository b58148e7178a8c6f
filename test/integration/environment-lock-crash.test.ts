// Crash safety of the event-driven environment lock: the host (a child process running the
// real lock entity, wake-up activity and orchestrator helpers) is killed with SIGKILL right
// after parties ask for the lock, and right after a holder is told to release (so around the
// release, the hand-over and the wake-up), at varying moments. After each restart on the same
// state: no waiter is lost (every party gets the turn, in arrival order) and the lock is never
// granted twice (never two parties holding at once). A second test kills at exact code points
// (the test-only CONVEYOR_TEST_KILL_AT setting: the host kills itself with SIGKILL there).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { party, writeLockAppDir } from '../support/lock-app.js';

const appDir = writeLockAppDir();
const stateDir = mkdtempSync(join(tmpdir(), 'conveyor-lock-crash-'));
const exactDir = mkdtempSync(join(tmpdir(), 'conveyor-lock-kill-at-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(exactDir, { recursive: true, force: true });
  rmSync(appDir, { recursive: true, force: true });
});

/** A child host on `dir`; `killAt` arms a test-only kill point (the host then runs with its test flag). */
function startCli(dir = stateDir, killAt?: string): Promise<{ child: ChildProcess; origin: string; stderr: () => string }> {
  const args = [resolve('dist/local/host/cli.js'), '--app-dir', appDir, '--port', '0', '--no-storage', '--state-dir', dir, '--log-level', 'error'];
  const child = spawn(process.execPath, killAt === undefined ? args : [...args, '--test-clock'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONVEYOR_TEST_KILL_AT: killAt ?? '' },
  });
  children.add(child);
  let errText = '';
  child.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
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
        res({ child, origin: m[1]!, stderr: () => errText });
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

test('kill -9 at exact points (grant committed / event not raised; raised / not recorded; approval decided / slot not asked; release and request not applied): one holder, nobody stuck, history bounded', async () => {
  let host = await startCli(exactDir, 'lock.wake.before-raise');
  const api = (path: string, init?: RequestInit) => fetch(`${host.origin}/api/${path}`, init);
  const status = async (id: string, history = false): Promise<any> => {
    const res = await api(`parties/${id}${history ? '?history=true' : ''}`);
    return res.status === 200 ? res.json() : undefined;
  };
  const lock = async (): Promise<any> => (await api('locks/shop/exact')).json();
  const start = async (id: string, n: number, what: 'turn' | 'slot', extra: Record<string, unknown> = {}) => {
    const p = what === 'slot' ? { ...party(n, 'rollback'), instanceId: id } : { ...party(n), instanceId: id };
    assert.equal((await api(`parties/${id}`, { method: 'POST', body: JSON.stringify({ app: 'shop', env: 'exact', what, party: p, ...extra }) })).status, 202);
  };
  const ids = ['a0', 'a1', 'a2', 'r1'];
  const until = async (what: string, cond: () => Promise<boolean>) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      const s = await Promise.all(ids.map((id) => status(id)));
      const holding = ids.filter((_, i) => s[i]?.customStatus?.state === 'holding' && s[i]?.runtimeStatus === 'Running');
      assert.ok(holding.length <= 1, `granted twice: ${holding.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const state = async (id: string) => (await status(id))?.customStatus?.state;
  /** Waits for the host to kill itself at `point`, then starts the next one (armed at `next`). */
  const killedAt = async (point: string, next?: string) => {
    const child = host.child;
    const code =
      child.exitCode !== null || child.signalCode !== null
        ? child.signalCode
        : await new Promise((r, rej) => {
            const t = setTimeout(() => rej(new Error(`the host did not kill itself at ${point}: ${host.stderr()}`)), 30_000);
            child.once('exit', (_c, sig) => (clearTimeout(t), r(sig)));
          });
    assert.equal(code, 'SIGKILL');
    assert.match(host.stderr(), new RegExp(`fault injection: SIGKILL at ${point.replace('.', '\\.')}`));
    host = await startCli(exactDir, next);
  };

  await start('a0', 0, 'turn');
  await until('a0 holds', async () => (await state('a0')) === 'holding');
  await start('a1', 1, 'turn', { approval: true });
  await until('a1 waits', async () => (await state('a1')) === 'waiting');
  await start('a2', 2, 'turn');
  await until('a2 waits', async () => (await state('a2')) === 'waiting');
  const waitingHistory = (await status('a2', true)).historyLength as number;

  // a0 releases: the entity hands the turn to a1 and commits; the host dies before a1's event is raised.
  await api('parties/a0/release', { method: 'POST' });
  await killedAt('lock.wake.before-raise', 'lock.wake.after-raise');
  // The wake-up is retried: the event is raised, and the host dies before that is recorded.
  await killedAt('lock.wake.after-raise', 'lock.acquire#2');
  // Retried again (a duplicate event): a1 confirms with the entity and holds the turn, once.
  await until('a1 has the turn and waits for its approval', async () => (await state('a1')) === 'approval');
  await until('a0 finished', async () => (await status('a0'))?.runtimeStatus === 'Completed');
  assert.equal((await lock()).holder.instanceId, 'a1');

  // A rollback takes the deploy slot (first acquire); a1 is approved and dies between the decision and its slot request (second).
  await start('r1', 3, 'slot');
  await until('r1 holds the slot', async () => (await state('r1')) === 'holding');
  await api('parties/a1/events/Approve', { method: 'POST' });
  await killedAt('lock.acquire');
  await until('a1 waits for the slot behind r1', async () => (await status('a1'))?.customStatus?.slot === true);
  const l = await lock();
  assert.deepEqual([l.holder.instanceId, l.slot.instanceId, l.slotWaiters.map((w: any) => w.instanceId)], ['a1', 'r1', ['a1']], 'one turn holder, one slot holder');
  await api('parties/r1/release', { method: 'POST' });
  await until('a1 holds the slot', async () => (await state('a1')) === 'holding');

  // Nobody is stuck, and the party that waited through four kills has the history it had at the start.
  assert.equal((await status('a2', true)).historyLength, waitingHistory, 'a waiting party\'s history did not grow');
  assert.equal(await state('a2'), 'waiting');

  // a1 releases and the host dies before the release applies; on restart it applies, a2 is woken
  // and the host dies as a2 asks the entity to confirm; on the next restart a2 holds.
  await kill(host.child);
  host = await startCli(exactDir, 'lock.release');
  await api('parties/a1/release', { method: 'POST' });
  await killedAt('lock.release', 'lock.request');
  await killedAt('lock.request');
  await until('a2 holds', async () => (await state('a2')) === 'holding');
  assert.equal((await lock()).holder.instanceId, 'a2');
  await api('parties/a2/release', { method: 'POST' });
  await until('everyone finished', async () => (await Promise.all(ids.map((id) => status(id)))).every((s) => s?.runtimeStatus === 'Completed'));
  const end = await lock();
  assert.deepEqual([end.holder, end.slot, end.waiters, end.slotWaiters], [undefined, undefined, [], []]);
  await kill(host.child);
});
