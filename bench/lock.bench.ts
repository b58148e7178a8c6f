// Environment lock bench, on the local durable backend through Conveyor's real lock
// entity, wake-up activity and orchestrator helpers (test/support/lock-app.fixture.ts):
// - hand-over: a queue of parties; the holder is told to release (an external event) and the
//   time until the next party runs holding the lock is taken from its own orchestration clock
//   (its episode start), so polling granularity does not count. Goal p99 <= 1 s (the polling
//   lock it replaced asked again every second).
// - history of a party waiting behind the lock holder, and of a promotion waiting for its
//   approval (the real gate of orchestrations/approval.ts, holding the turn), after a short wait
//   (10 s) and after a long one (24 h of the durable test clock, moved in 5-minute steps so each
//   timer due on the way fires): the ratio shows whether a waiting party's history is bounded
//   (the polling lock added ~4 events per second of waiting). Goal: ratio ~1, 0 events a minute.
//   A lock waiter waits through a sub-orchestration that continues as new at each safety look
//   (after a day, then 2 and 4 days later), so the figure counts the party's history plus the
//   current waiter generation's (what a replay on a real backend reads); after a week too.
// BENCH_LOCK_HANDOVERS (default 60) and BENCH_LOCK_WAIT_HOURS (default 24) tune them.
import { fmt, percentile, type BenchRow } from './harness.js';
import { party, startLockHost } from '../test/support/lock-app.js';

const HANDOVERS = Number(process.env.BENCH_LOCK_HANDOVERS ?? 60);
/** The long simulated wait (BENCH_LOCK_WAIT_HOURS, default 24) and the short one it is compared with. */
const LONG_MS = Number(process.env.BENCH_LOCK_WAIT_HOURS ?? 24) * 3_600_000;
const SHORT_MS = 10_000;
/** A week, for the lock's last-resort safety looks (a day, then 2, then 4 days). */
const WEEK_MS = 7 * 24 * 3_600_000;
/** Step of simulated time: shorter than any durable timer the waits use, so each fires in turn. */
const STEP_MS = 30 * 60_000;

export async function run(): Promise<BenchRow[]> {
  const group = 'lock';
  const rows: BenchRow[] = [];
  const h = await startLockHost({ testClock: false });
  try {
    const holding = (s: any) => s.customStatus?.state === 'holding';
    const waiting = (s: any) => s.customStatus?.state === 'waiting';
    const ids = Array.from({ length: HANDOVERS + 1 }, (_, i) => `p${i}`);
    await h.start(ids[0]!, party(0), 'turn', 'bench');
    await h.waitFor(ids[0]!, holding);
    const latencies: number[] = [];
    for (let i = 1; i <= HANDOVERS; i++) {
      // Keep one waiter queued behind the holder.
      await h.start(ids[i]!, { ...party(i % 60), runId: `shop.${String(i).padStart(7, '0')}` }, 'turn', 'bench');
      await h.waitFor(ids[i]!, waiting);
      const released = Date.now();
      await h.raise(ids[i - 1]!, 'Release');
      const { status } = await h.waitFor(ids[i]!, holding);
      latencies.push(Date.parse(status.customStatus.at) - released);
    }
    await h.raise(ids[HANDOVERS]!, 'Release');
    const p99 = percentile(latencies, 99);
    rows.push({ group, metric: `hand-over release -> next holder running, p50 (${HANDOVERS} hand-overs)`, value: `${fmt(percentile(latencies, 50), 0)} ms` });
    rows.push({ group, metric: 'hand-over p99', value: `${fmt(p99, 0)} ms`, baseline: 'polling lock: up to 1,000 ms + episode', goal: '<= 1,000 ms', met: p99 <= 1000 ? 'yes' : 'no' });
  } finally {
    await h.stop();
  }

  const c = await startLockHost({ testClock: true });
  try {
    // What a real backend's replay of the waiting party pays: the party's own history plus that
    // of the current generation of its lock waiter sub-orchestration (if it waits through one;
    // earlier generations were continued-as-new and are never replayed again).
    const own = async (id: string) => ((await c.status(id, true)).history ?? []).length as number;
    // The waiter's instance id is `<party>:lock-...` (orchestrations/environment-lock.ts); the
    // status format lists a pending sub-orchestration only once it completes, so find it by prefix.
    const waiters = async (id: string) => {
      const url = `${c.host.origin}/runtime/webhooks/durabletask/instances?instanceIdPrefix=${encodeURIComponent(`${id}:lock-`)}&code=${c.host.keys.master}`;
      const list = (await (await fetch(url)).json()) as { instanceId: string; runtimeStatus: string }[];
      return list.filter((s) => s.runtimeStatus === 'Running' || s.runtimeStatus === 'Pending').map((s) => s.instanceId);
    };
    const length = async (id: string) => {
      let total = await own(id);
      for (const w of await waiters(id)) total += await own(w);
      return total;
    };
    // Simulated time passes in steps, each followed by the backend going idle, so every durable
    // timer due on the way fires when it would (one big jump would fire only the first).
    const pass = async (ms: number) => {
      for (let t = 0; t < ms; t += STEP_MS) {
        await c.advance(Math.min(STEP_MS, ms - t));
        await c.idle();
      }
    };
    let n = 0;
    /** History of a party waiting `ms` behind a holder (lock) or for its approval, then served. */
    const wait = async (kind: 'lock' | 'approval', ms: number) => {
      const env = `${kind}-${++n}`;
      const id = `${kind}-${n}`;
      if (kind === 'lock') {
        await c.start(`${id}-holder`, party(1), 'turn', env);
        await c.waitFor(`${id}-holder`, (s: any) => s.customStatus?.state === 'holding');
        await c.start(id, party(2), 'turn', env);
        await c.waitFor(id, (s: any) => s.customStatus?.state === 'waiting');
      } else {
        await c.start(id, party(2), 'turn', env, { approvers: ['ann@example.com'], timeoutMs: 48 * 3_600_000 });
        await c.waitFor(id, (s: any) => s.customStatus?.state === 'approval');
      }
      await c.idle();
      const waiting = await length(id);
      await pass(ms);
      const waited = await length(id);
      if (kind === 'lock') await c.raise(`${id}-holder`, 'Release');
      else await c.raise(id, 'ApprovalDecided', { decision: 'approve', by: 'ann@example.com' });
      await c.waitFor(id, (s: any) => s.customStatus?.state === 'holding');
      await c.idle();
      const served = await length(id);
      await c.raise(id, 'Release');
      await c.waitFor(id, (s: any) => s.runtimeStatus === 'Completed');
      return { waiting, waited, served };
    };
    for (const kind of ['lock', 'approval'] as const) {
      const short = await wait(kind, SHORT_MS);
      const long = await wait(kind, LONG_MS);
      const what = kind === 'lock' ? 'waiting behind the lock holder' : 'waiting for its approval (holding the turn)';
      const ratio = long.waited / short.waited;
      const perMinute = (long.waited - long.waiting) / (LONG_MS / 60_000);
      rows.push({ group, metric: `history events of a party ${what}: after ${SHORT_MS / 1000} s / after ${LONG_MS / 3_600_000} h (test clock)`, value: `${short.waited} / ${long.waited}`, ratio: `${fmt(ratio, 2)}x`, goal: 'ratio ~1 (bounded)', met: ratio <= 1.1 ? 'yes' : 'no' });
      rows.push({ group, metric: `  ${kind}: history events added per minute of waiting (over ${LONG_MS / 3_600_000} h)`, value: fmt(perMinute, 3), baseline: kind === 'lock' ? 'polling lock: ~240' : '', goal: '0', met: perMinute === 0 ? 'yes' : 'no' });
      rows.push({ group, metric: `  ${kind}: whole history once served, short / long wait`, value: `${short.served} / ${long.served}` });
    }
    // The lock's own safety looks (the last resort when no reconcile sweep repairs the lock) over a week.
    const week = await wait('lock', WEEK_MS);
    rows.push({ group, metric: '  lock: history events after a week of waiting (party + current waiter generation; safety looks after 1, 3 and 7 days)', value: String(week.waited), baseline: 'polling lock: ~2.4 million' });
  } finally {
    await c.stop();
  }
  return rows;
}
