// Durable engine against the real durable-functions replay executor, with an in-memory fake of
// the host port (EngineHost): registrations are built with the library's own wrappers
// (createOrchestrator / createEntityFunction / wrapActivityHandler), the store is a real
// SQLite file in a temp folder.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import df from 'durable-functions';
import { DurableClock } from '../../local/durable/clock.js';
import { DurableEngine, defaultSettings } from '../../local/durable/engine.js';
import { DurableStore } from '../../local/durable/store.js';
import { DurableHttpApi } from '../../local/durable/http-api.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionRegistration, HostLogger } from '../../local/host/extension.js';

const require = createRequire(import.meta.url);
const { InvocationContext } = require('@azure/functions') as typeof import('@azure/functions');
const wrapActivityHandler = (require('durable-functions/lib/src/app.js') as { wrapActivityHandler(h: unknown): (v: unknown, c: unknown) => unknown }).wrapActivityHandler;
const testing = require('durable-functions/lib/src/util/testingUtils.js') as {
  createOrchestrator(fn: unknown): (trigger: unknown, ctx: unknown) => Promise<unknown>;
  createEntityFunction(fn: unknown): (trigger: unknown, ctx: unknown) => Promise<unknown>;
};

const quiet: HostLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Fake host: a mutable function table; invoke calls the wrapped callback like the worker does. */
class FakeHost {
  readonly fns = new Map<string, FunctionRegistration & { callback: (v: unknown, c: unknown) => unknown }>();
  readonly logger = quiet;
  orchestration(name: string, fn: (ctx: any) => Generator<any, any, any>): void {
    this.add(name, 'orchestrationTrigger', testing.createOrchestrator(fn));
  }
  activity(name: string, fn: (input: any) => unknown): void {
    this.add(name, 'activityTrigger', wrapActivityHandler(fn));
  }
  entity(name: string, fn: (ctx: any) => unknown): void {
    this.add(name, 'entityTrigger', testing.createEntityFunction(fn));
  }
  private add(name: string, type: string, callback: (v: unknown, c: unknown) => unknown): void {
    const trigger = { name: 'trigger', type, direction: 'in' };
    this.fns.set(name.toLowerCase(), { name, trigger, bindings: [trigger], callback });
  }
  findFunction(name: string) {
    return this.fns.get(name.toLowerCase());
  }
  async invoke(fn: FunctionRegistration, value: unknown) {
    const entry = this.fns.get(fn.name.toLowerCase())!;
    const ctx = new InvocationContext({ functionName: fn.name, invocationId: 'x', logHandler: () => {} });
    return entry.callback(value, ctx);
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(host = new FakeHost(), dir = mkdtempSync(join(tmpdir(), 'durable-unit-'))) {
  const store = new DurableStore(join(dir, 'hub.sqlite'));
  const clock = new DurableClock(true);
  const engine = new DurableEngine(store, host, clock, { ...defaultSettings(), maxConcurrentActivities: 8 });
  engine.start();
  cleanups.push(async () => {
    await engine.stop(1000);
    store.close();
  });
  cleanups.unshift(() => rmSync(dir, { recursive: true, force: true }));
  return { host, store, clock, engine, dir };
}

async function run(engine: DurableEngine, name: string, input?: unknown, id?: string) {
  const r = await engine.startNew(name, input === undefined ? null : JSON.stringify(input), id);
  assert.ok(r.ok, JSON.stringify(r));
  return r.instanceId;
}

async function until(engine: DurableEngine, id: string, pred: (status: string) => boolean, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const row = engine.getInstance(id)!;
    if (pred(row.status)) return row;
    if (Date.now() > end) throw new Error(`timeout: ${id} is ${row.status}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const done = (engine: DurableEngine, id: string) => until(engine, id, (s) => ['Completed', 'Failed', 'Terminated'].includes(s));

describe('durable engine', () => {
  test('non-determinism fails the instance with a clear message and keeps the stored history', async () => {
    const { host, engine } = setup();
    host.activity('a', () => 'A');
    host.activity('b', () => 'B');
    host.orchestration('changing', function* (ctx) {
      const x = yield ctx.df.callActivity('a');
      const y = yield ctx.df.waitForExternalEvent('go');
      return [x, y];
    });
    const id = await run(engine, 'changing');
    await until(engine, id, (s) => s === 'Running');
    await engine.whenIdle();
    const before = engine.historyOf(id);
    // "Deploy" new code while the instance waits: the first activity is now a different one.
    host.orchestration('changing', function* (ctx) {
      const x = yield ctx.df.callActivity('b');
      return x;
    });
    await engine.raiseEvent(id, 'go', '1');
    const row = await done(engine, id);
    assert.equal(row.status, 'Failed');
    assert.match(JSON.parse(row.output!), /^Orchestrator function 'changing' failed: Non-deterministic workflow detected: action #0 in the history was 0:a/);
    const history = engine.historyOf(id);
    assert.deepEqual(history.slice(0, before.length), before, 'the stored history is untouched');
    assert.equal(history.filter((e) => e.EventType === 4 && e.Name === 'b').length, 0, 'no work scheduled from the mismatching code');
  });

  test('retries interleaved with a sibling fan-out keep ids aligned', async () => {
    const { host, engine } = setup();
    const attempts = new Map<string, number>();
    host.activity('flaky', (key: string) => {
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (n < 3) throw new Error(`attempt ${n}`);
      return `${key}@${n}`;
    });
    host.activity('echo', (x: unknown) => x);
    host.orchestration('mixed', function* (ctx) {
      const retry = new df.RetryOptions(5, 4);
      const tasks = [
        ctx.df.callActivityWithRetry('flaky', retry, 'r1'),
        ctx.df.callActivity('echo', 1),
        ctx.df.callActivityWithRetry('flaky', retry, 'r2'),
        ...Array.from({ length: 20 }, (_, i) => ctx.df.callActivity('echo', i + 10)),
      ];
      const out = yield ctx.df.Task.all(tasks);
      const after = yield ctx.df.callActivity('echo', 'after');
      return [out.slice(0, 3), out.length, after];
    });
    const id = await run(engine, 'mixed');
    const row = await done(engine, id);
    assert.equal(row.status, 'Completed', row.output ?? '');
    assert.deepEqual(JSON.parse(row.output!), [['r1@3', 1, 'r2@3'], 23, 'after']);
  });

  test('retryTimeoutInMilliseconds stops running attempts once the timeout has passed', async () => {
    const { host, engine, clock } = setup();
    let runs = 0;
    host.activity('alwaysFails', () => {
      runs++;
      throw new Error(`run ${runs}`);
    });
    host.orchestration('bounded', function* (ctx) {
      const retry = new df.RetryOptions(1000, 10);
      retry.retryTimeoutInMilliseconds = 2500;
      try {
        yield ctx.df.callActivityWithRetry('alwaysFails', retry);
        return 'no error';
      } catch (e) {
        return (e as Error).message.split('\n')[0]!.trim();
      }
    });
    const id = await run(engine, 'bounded');
    for (let i = 0; i < 2; i++) {
      await engine.whenIdle();
      clock.advance(1000);
      engine.clockMoved();
    }
    const row = await done(engine, id);
    assert.equal(runs, 3, 'attempts at 0 s, 1 s and 2 s; the next one would start after the 2.5 s timeout');
    assert.equal(JSON.parse(row.output!), "Activity function 'alwaysFails' failed: run 3");
  });

  test('a timer re-yielded in several Task.any rounds keeps its id (phone verification loop)', async () => {
    const { host, engine, clock } = setup();
    host.orchestration('verify', function* (ctx) {
      const timeout = ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 90_000));
      for (let i = 0; i < 3; i++) {
        const answer = ctx.df.waitForExternalEvent('code');
        const winner = yield ctx.df.Task.any([answer, timeout]);
        if (winner === timeout) return 'timed out';
        if (answer.result === 42) {
          timeout.cancel();
          return `ok on try ${i + 1}`;
        }
      }
      timeout.cancel();
      return 'too many tries';
    });
    const a = await run(engine, 'verify');
    await until(engine, a, (s) => s === 'Running');
    await engine.raiseEvent(a, 'code', '1');
    await engine.raiseEvent(a, 'code', '42');
    assert.equal(JSON.parse((await done(engine, a)).output!), 'ok on try 2');

    const b = await run(engine, 'verify');
    await until(engine, b, (s) => s === 'Running');
    await engine.raiseEvent(b, 'code', '7');
    await engine.whenIdle();
    clock.advance(91_000);
    engine.clockMoved();
    assert.equal(JSON.parse((await done(engine, b)).output!), 'timed out');
  });

  test('timers days away fire when the clock passes them, not before', async () => {
    const { host, engine, clock } = setup();
    host.orchestration('sleepy', function* (ctx) {
      yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 10 * 86_400_000));
      return ctx.df.currentUtcDateTime.toISOString();
    });
    const id = await run(engine, 'sleepy');
    await until(engine, id, (s) => s === 'Running');
    await engine.whenIdle();
    clock.advance(9 * 86_400_000);
    engine.clockMoved();
    await engine.whenIdle();
    assert.equal(engine.getInstance(id)!.status, 'Running');
    const start = Date.parse(engine.historyOf(id)[0]!.Timestamp);
    clock.advance(86_400_000);
    engine.clockMoved();
    const row = await done(engine, id);
    assert.ok(Date.parse(JSON.parse(row.output!)) >= start + 10 * 86_400_000);
  });

  test('sub-orchestration with retry and a fixed child id', async () => {
    const { host, engine } = setup();
    let tries = 0;
    host.activity('unstable', () => {
      tries++;
      if (tries === 1) throw new Error('first try fails');
      return tries;
    });
    host.orchestration('kid', function* (ctx) {
      return yield ctx.df.callActivity('unstable');
    });
    host.orchestration('mom', function* (ctx) {
      return yield ctx.df.callSubOrchestratorWithRetry('kid', new df.RetryOptions(5, 3), null, 'fixed-kid');
    });
    const id = await run(engine, 'mom');
    const row = await done(engine, id);
    assert.equal(row.status, 'Completed', row.output ?? '');
    assert.equal(JSON.parse(row.output!), 2);
    assert.equal(engine.getInstance('fixed-kid')!.status, 'Completed');
  });

  test('entity batches: signals between entities, and a failing operation rejects callEntity', async () => {
    const { host, engine } = setup();
    host.entity('acc', (ctx: any) => {
      const v = ctx.df.getState(() => 0);
      if (ctx.df.operationName === 'add') {
        ctx.df.setState(v + ctx.df.getInput());
        if (ctx.df.entityKey === 'src') ctx.df.signalEntity(new df.EntityId('acc', 'dst'), 'add', ctx.df.getInput() * 10);
      } else if (ctx.df.operationName === 'get') ctx.df.return(v);
      else throw new Error('nope');
    });
    host.orchestration('useAcc', function* (ctx) {
      const src = new df.EntityId('acc', 'src');
      yield ctx.df.callEntity(src, 'add', 2);
      let failed = '';
      try {
        yield ctx.df.callEntity(src, 'explode');
      } catch {
        failed = 'rejected';
      }
      return [yield ctx.df.callEntity(src, 'get'), failed];
    });
    const id = await run(engine, 'useAcc');
    const row = await done(engine, id);
    assert.deepEqual(JSON.parse(row.output!), [2, 'rejected']);
    await engine.whenIdle();
    assert.equal(engine.readEntity('acc', 'dst')!.state, '20');
    for (let i = 0; i < 50; i++) await engine.signalEntity('Acc', 'many', 'add', '1');
    await engine.whenIdle();
    assert.equal(engine.readEntity('acc', 'many')!.state, '50', 'names are case-insensitive; every signal applied once');
  });

  test('locks held by an orchestration that fails are released; waiting lockers then proceed', async () => {
    const { host, engine } = setup();
    host.entity('box', (ctx: any) => {
      const v = ctx.df.getState(() => 0);
      if (ctx.df.operationName === 'inc') ctx.df.setState(v + 1);
      ctx.df.return(ctx.df.getState(() => 0));
    });
    host.orchestration('crashInside', function* (ctx) {
      yield ctx.df.lock(new df.EntityId('box', 'k'));
      yield ctx.df.callEntity(new df.EntityId('box', 'k'), 'inc');
      throw new Error('died holding the lock');
    });
    host.orchestration('polite', function* (ctx) {
      const lock = yield ctx.df.lock(new df.EntityId('box', 'k'));
      const v = yield ctx.df.callEntity(new df.EntityId('box', 'k'), 'inc');
      lock.release();
      return v;
    });
    const bad = await run(engine, 'crashInside');
    assert.equal((await done(engine, bad)).status, 'Failed');
    const good = await Promise.all([run(engine, 'polite'), run(engine, 'polite')]);
    const outs = await Promise.all(good.map((id) => done(engine, id)));
    assert.deepEqual(outs.map((r) => JSON.parse(r.output!)).sort(), [2, 3]);
    assert.equal(engine.readEntity('box', 'k')!.locked_by, null);
  });

  test('dispatched activity rows are not kept by the queue once the engine is idle (soak retention)', async () => {
    const { host, engine } = setup();
    host.activity('big', (n: number) => n);
    host.orchestration('many', function* (ctx) {
      for (let i = 0; i < 40; i++) yield ctx.df.callActivity('big', i);
      return 'ok';
    });
    const id = await run(engine, 'many');
    assert.equal((await done(engine, id)).status, 'Completed');
    await engine.whenIdle();
    // Before the fix the queue kept every dispatched row (input included) until 1024 had run.
    const queue = (engine as unknown as { dispatcher: { activityQueue: unknown[] } }).dispatcher.activityQueue;
    assert.equal(queue.filter((row) => row !== undefined).length, 0);
  });

  test('a new engine on the same database resumes unfinished instances', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'durable-unit-'));
    const host = new FakeHost();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    host.activity('slow', async (x: number) => {
      await gate;
      return x + 1;
    });
    host.orchestration('two', function* (ctx) {
      const a = yield ctx.df.callActivity('slow', 1);
      const b = yield ctx.df.callActivity('slow', a);
      return b;
    });
    const first = setup(host, dir);
    const id = await run(first.engine, 'two');
    await until(first.engine, id, (s) => s === 'Running');
    // Shut down with the activity still blocked (its result is lost, as in a crash).
    await first.engine.stop(0);
    first.store.close();
    release();
    const second = setup(host, dir);
    const row = await done(second.engine, id);
    assert.equal(row.status, 'Completed');
    assert.equal(JSON.parse(row.output!), 3);
  });
});

describe('durable store', () => {
  test('a second process (connection) cannot open a task hub that is in use', () => {
    const { dir } = setup();
    assert.throws(() => new DurableStore(join(dir, 'hub.sqlite')), /in use by another host process/);
  });

  test('the test clock offset survives a restart; without the test option it is ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'durable-unit-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'clock.sqlite');
    const persistFor = (st: DurableStore) => ({ load: () => Number(st.getMeta('off') ?? 0), save: (ms: number) => st.setMeta('off', String(ms)) });
    const a = new DurableStore(file);
    new DurableClock(true, persistFor(a)).advance(86_400_000);
    a.close();
    const b = new DurableStore(file);
    assert.ok(new DurableClock(true, persistFor(b)).now() - Date.now() >= 86_400_000 - 1000);
    assert.ok(Math.abs(new DurableClock(false, persistFor(b)).now() - Date.now()) < 1000);
    assert.throws(() => new DurableClock(false).advance(1), /only available/);
    b.close();
  });

  test('list filters and keyset paging', async () => {
    const { host, engine, clock } = setup();
    host.orchestration('idle', function* (ctx) {
      return yield ctx.df.waitForExternalEvent('never');
    });
    for (const id of ['b-1', 'a-1', 'a-2', 'a-3']) {
      await run(engine, 'idle', undefined, id);
      clock.advance(1000);
    }
    const prefixed = engine.listInstances({ instanceIdPrefix: 'a-' }, 10);
    assert.deepEqual(prefixed.map((r) => r.instance_id), ['a-1', 'a-2', 'a-3']);
    const first = engine.listInstances({}, 2);
    const second = engine.listInstances({}, 2, { created: first[1]!.created_at, id: first[1]!.instance_id });
    assert.deepEqual([...first, ...second].map((r) => r.instance_id), ['b-1', 'a-1', 'a-2', 'a-3']);
    const from = engine.getInstance('a-2')!.created_at;
    assert.deepEqual(engine.listInstances({ createdTimeFrom: from }, 10).map((r) => r.instance_id), ['a-2', 'a-3']);
    assert.deepEqual(engine.listInstances({ runtimeStatus: ['Completed'] }, 10), []);
  });
});

describe('durable http api', () => {
  async function serve(testClock: boolean) {
    const env = setup();
    const api = new DurableHttpApi(env.engine, { taskHub: 'Hub', publicBase: () => 'http://127.0.0.1:1/runtime/webhooks/durabletask', requiredQuery: () => 'code=k', testClock });
    const server = createServer((req, res) => void api.handle(req, res, new URL(req.url!, 'http://127.0.0.1'), '/durabletask'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/durabletask/`;
    return { ...env, base };
  }

  test('the test clock routes exist only in test mode', async () => {
    const off = await serve(false);
    assert.equal((await fetch(`${off.base}test-clock/advance?ms=5`, { method: 'POST' })).status, 404);
    const on = await serve(true);
    const before = on.clock.now();
    const res = await fetch(`${on.base}test-clock/advance?ms=60000`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.ok(on.clock.now() - before >= 60000);
    assert.equal((await fetch(`${on.base}test-clock/advance?ms=-1`, { method: 'POST' })).status, 400);
    assert.equal((await fetch(`${off.base}test-clock/idle`)).status, 404);
  });

  test('test-clock/idle answers once the backend has nothing running or ready', async () => {
    const { base, host, engine } = await serve(true);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    host.activity('held', () => gate.then(() => 'released'));
    host.orchestration('holder', function* (ctx) {
      return yield ctx.df.callActivity('held');
    });
    const id = await run(engine, 'holder');
    await until(engine, id, (s) => s === 'Running');
    // The activity is still running: not idle within the time asked.
    const busy = await fetch(`${base}test-clock/idle?timeoutMs=100`);
    assert.equal(busy.status, 503);
    const idle = fetch(`${base}test-clock/idle`);
    release();
    const res = await idle;
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { idle: boolean }).idle, true);
    assert.equal(engine.getInstance(id)!.status, 'Completed', 'idle means the work and its commits are done');
    assert.equal((await fetch(`${base}test-clock/idle?timeoutMs=-5`)).status, 400);
  });

  test('bad input is a 400, unknown routes and instances 404, check-status URLs carry the key', async () => {
    const { base, host } = await serve(false);
    host.orchestration('echoInput', function* (ctx) {
      yield ctx.df.createTimer(new Date(ctx.df.currentUtcDateTime.getTime() + 1));
      return ctx.df.getInput();
    });
    assert.equal((await fetch(`${base}orchestrators/echoInput`, { method: 'POST', body: '{nope' })).status, 400);
    assert.equal((await fetch(`${base}nothing-here`)).status, 404);
    assert.equal((await fetch(`${base}instances/missing`)).status, 404);
    const started = await fetch(`${base}orchestrators/echoInput/fixed-id`, { method: 'POST', body: '{"a":1}' });
    assert.equal(started.status, 202);
    const payload = (await started.json()) as Record<string, string>;
    assert.equal(payload.id, 'fixed-id');
    assert.equal(started.headers.get('location'), payload.statusQueryGetUri);
    assert.match(payload.statusQueryGetUri!, /\/runtime\/webhooks\/durabletask\/instances\/fixed-id\?taskHub=Hub&connection=Storage&code=k$/);
    assert.equal((await fetch(`${base}instances/fixed-id/raiseEvent/x`, { method: 'POST', body: '{bad' })).status, 400);
    const waited = await fetch(`${base}orchestrators/echoInput/waited?timeout=5&pollingInterval=0.05`, { method: 'POST', body: '[1,2]' });
    assert.equal(waited.status, 200);
    assert.deepEqual(await waited.json(), [1, 2]);
    assert.equal((await fetch(`${base}instances/fixed-id/rewind?reason=x`, { method: 'POST' })).status, 501);
  });
});
