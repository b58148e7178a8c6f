// End-to-end: the classic Durable Functions patterns of test/fixtures/durable-app, run by the
// local host's durable backend and checked through real HTTP (the app's starter, the app's
// DurableClient facade, and the public /runtime/webhooks/durabletask URLs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DurableTestHost } from './durable-support.js';

const HOUR = 60 * 60 * 1000;
let host: DurableTestHost;

before(async () => {
  host = await DurableTestHost.start();
});
after(async () => {
  await host?.stop();
});

describe('orchestration patterns', () => {
  test('function chaining runs activities in order', async () => {
    const s = await host.waitDone(await host.start('chain'));
    assert.equal(s.runtimeStatus, 'Completed');
    assert.deepEqual(s.output, ['Hello Tokyo!', 'Hello Seattle!', 'Hello Cairo!']);
  });

  test('fan-out/fan-in over 500 activities', async () => {
    const s = await host.waitDone(await host.start('fanOut', 500));
    assert.equal(s.runtimeStatus, 'Completed');
    assert.deepEqual(s.output, { count: 500, sum: 249500 });
  });

  test('human interaction: the approval event wins the race', async () => {
    const cs = await host.start('approval');
    await host.waitFor(cs, (s) => s.customStatus === 'waiting', 'the wait');
    const res = await fetch(cs.sendEventPostUri.replace('{eventName}', 'ApprovalDecided'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ approved: true }),
    });
    assert.equal(res.status, 202);
    const s = await host.waitDone(cs);
    assert.deepEqual(s.output, { outcome: 'decided', approved: true });
  });

  test('human interaction: the 24 h timeout fires when the test clock passes it', async () => {
    const cs = await host.start('approval');
    await host.waitFor(cs, (s) => s.customStatus === 'waiting', 'the wait');
    await host.advance(23 * HOUR);
    await host.settle();
    assert.equal((await host.status(cs)).runtimeStatus, 'Running', 'not yet due after 23 h');
    await host.advance(HOUR + 1000);
    const s = await host.waitDone(cs);
    assert.deepEqual(s.output, { outcome: 'timeout' });
  });

  test('monitor: timer loop with continueAsNew', async () => {
    const cs = await host.start('monitor', { round: 0, rounds: 3, seen: [] });
    const until = Date.now() + 20_000;
    let s = await host.status(cs);
    while (s.runtimeStatus !== 'Completed' && Date.now() < until) {
      await host.advance(HOUR);
      await new Promise((r) => setTimeout(r, 40));
      s = await host.status(cs);
    }
    assert.equal(s.runtimeStatus, 'Completed');
    assert.deepEqual(s.output, ['Hello round 0!', 'Hello round 1!', 'Hello round 2!']);
    assert.deepEqual(s.input, { round: 2, rounds: 3, seen: ['Hello round 0!', 'Hello round 1!'] });
  });

  test('sub-orchestrations two deep, with and without instance ids', async () => {
    const cs = await host.start('parent');
    const s = await host.waitDone(cs);
    assert.equal(s.runtimeStatus, 'Completed');
    const [a, b] = s.output;
    assert.equal(a.input, 'A');
    assert.match(a.g, /^Hello grandchild of .+!$/);
    assert.deepEqual(b, { input: 'B', g: `Hello grandchild of ${cs.id}-childB!` });
    const child = await host.status(`${cs.id}-childB`);
    assert.equal(child.runtimeStatus, 'Completed');
    const grandchild = await host.status(`${cs.id}-childB-g`);
    assert.equal(grandchild.output, `Hello grandchild of ${cs.id}-childB!`);
  });

  test('a failing sub-orchestration fails the parent task', async () => {
    const s = await host.waitDone(await host.start('failingChildParent'));
    assert.equal(s.runtimeStatus, 'Completed');
    assert.match(s.output, /^child failed: Orchestrator function 'uncaught' failed: Activity function 'boom' failed: boom: uncaught/);
  });

  test('retry: an activity failing twice then succeeding', async () => {
    const cs = await host.start('retry');
    const s = await host.waitDone(cs);
    assert.equal(s.runtimeStatus, 'Completed');
    assert.equal(s.output, 'ok after 3 attempts');
    const { body } = await host.client('status', { id: cs.id, showHistory: true, showHistoryOutput: true });
    const types = (body.history as { EventType: string }[]).map((e) => e.EventType);
    assert.equal(types.filter((t) => t === 'TaskFailed').length, 2);
    assert.equal(types.filter((t) => t === 'TimerFired').length, 2);
    assert.equal(types.filter((t) => t === 'TaskCompleted').length, 1);
  });

  test('retry gives up after maxNumberOfAttempts', async () => {
    const s = await host.waitDone(await host.start('retryExhausted'));
    assert.equal(s.output, "gave up: Activity function 'boom' failed: boom: always ");
  });

  test('a caught activity failure is an ordinary exception in the orchestrator', async () => {
    const s = await host.waitDone(await host.start('caught'));
    assert.equal(s.runtimeStatus, 'Completed');
    assert.equal(s.output, "caught: Activity function 'boom' failed: boom: caught");
  });

  test('an uncaught activity failure fails the orchestration with the message', async () => {
    const s = await host.waitDone(await host.start('uncaught'));
    assert.equal(s.runtimeStatus, 'Failed');
    assert.match(s.output, /^Orchestrator function 'uncaught' failed: Activity function 'boom' failed: boom: uncaught/);
  });

  test('an orchestrator that throws ends Failed', async () => {
    const s = await host.waitDone(await host.start('throws'));
    assert.equal(s.runtimeStatus, 'Failed');
    assert.equal(s.output, "Orchestrator function 'throws' failed: orchestrator exploded");
  });

  test('an event raised before the orchestrator waits for it is kept', async () => {
    const cs = await host.start('eventEarly');
    const r = await host.client('raise', { id: cs.id, name: 'Go', data: { early: true } });
    assert.equal(r.status, 202);
    const s = await host.waitDone(cs);
    assert.deepEqual(s.output, { first: 'Hello before the wait!', ev: { early: true } });
  });

  test('newGuid and currentUtcDateTime are replay-stable', async () => {
    const s = await host.waitDone(await host.start('guids'));
    assert.match(s.output.g1, /^[0-9a-f-]{36}$/);
    assert.notEqual(s.output.g1, s.output.g2);
    assert.ok(!Number.isNaN(Date.parse(s.output.t)));
  });

  test('waitForCompletionOrCreateCheckStatusResponse returns the output', async () => {
    const cs = await host.start('chain');
    const r = await host.client('wait', { id: cs.id, timeoutMs: 10_000 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, ['Hello Tokyo!', 'Hello Seattle!', 'Hello Cairo!']);
  });
});

/** Polls an entity's state until it equals `want` (or 10 s pass); returns the last state. */
async function entityBecomes(name: string, key: string, want: unknown): Promise<unknown> {
  const until = Date.now() + 10_000;
  let state: unknown;
  while (Date.now() < until) {
    state = (await host.client('readEntity', { name, key })).body.entityState;
    if (state === want) break;
    await new Promise((r) => setTimeout(r, 15));
  }
  return state;
}

describe('entities', () => {
  test('entity counter: call, signal and read state from an orchestration and the client', async () => {
    const s = await host.waitDone(await host.start('counterOrch', 'c1'));
    assert.equal(s.runtimeStatus, 'Completed');
    assert.equal(s.output, 16);
    const read = await host.client('readEntity', { name: 'counter', key: 'c1' });
    assert.deepEqual(read.body, { entityExists: true, entityState: 16 });
    await host.client('signal', { name: 'counter', key: 'c1', op: 'add', input: 4 });
    const until = Date.now() + 10_000;
    let state = 0;
    while (Date.now() < until) {
      state = (await host.client('readEntity', { name: 'counter', key: 'c1' })).body.entityState;
      if (state === 20) break;
      await new Promise((r) => setTimeout(r, 15));
    }
    assert.equal(state, 20);
    const missing = await host.client('readEntity', { name: 'counter', key: 'nobody' });
    assert.deepEqual(missing.body, { entityExists: false });
  });

  test('entity mutex: one deployment per environment', async () => {
    const first = await host.start('mutexOrch', 'prod');
    assert.equal(await entityBecomes('mutex', 'prod', first.id), first.id);
    const second = await host.waitDone(await host.start('mutexOrch', 'prod'));
    assert.equal(second.output, 'busy');
    const other = await host.start('mutexOrch', 'staging');
    assert.equal(await entityBecomes('mutex', 'staging', other.id), other.id, 'a different environment is not blocked');
    await host.client('raise', { id: first.id, name: 'Done' });
    assert.equal((await host.waitDone(first)).output, 'deployed');
    const third = await host.start('mutexOrch', 'prod');
    assert.equal(await entityBecomes('mutex', 'prod', third.id), third.id, 'free again after release');
  });

  test('context.df.lock() serialises critical sections over two entities', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => host.start('lockOrch', 'pair')));
    const outs = await Promise.all(runs.map((r) => host.waitDone(r)));
    assert.ok(outs.every((s) => s.runtimeStatus === 'Completed'), JSON.stringify(outs));
    // Each critical section saw the previous one's write: 0, -1, -2 in some order.
    assert.deepEqual(outs.map((s) => s.output).sort(), [-1, -2, 0].sort());
    const a = await host.client('readEntity', { name: 'counter', key: 'pair-a' });
    const b = await host.client('readEntity', { name: 'counter', key: 'pair-b' });
    assert.equal(a.body.entityState, -3);
    assert.equal(b.body.entityState, 3);
  });
});
