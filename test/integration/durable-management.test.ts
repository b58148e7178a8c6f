// End-to-end: instance management through the app's DurableClient (RPC API) and the public
// /runtime/webhooks/durabletask URLs: start rules, terminate, suspend/resume, purge, list
// filters and paging, history options, system-key protection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DurableTestHost } from './durable-support.js';

let host: DurableTestHost;

before(async () => {
  host = await DurableTestHost.start();
});
after(async () => {
  await host?.stop();
});

describe('durable management', () => {
  test('a live instance id is refused, a finished one can be reused', async () => {
    const cs = await host.start('waitForever', undefined, 'singleton-env');
    await assert.rejects(host.start('waitForever', undefined, 'singleton-env'), (e: Error & { status?: number }) => {
      assert.equal(e.status, 409);
      assert.match(e.message, /already exists/);
      return true;
    });
    // The public API answers 409 with the reason too.
    const direct = await host.api('orchestrators/waitForever/singleton-env', { method: 'POST' });
    assert.equal(direct.status, 409);
    await host.client('raise', { id: cs.id, name: 'Step', data: 1 });
    await host.client('raise', { id: cs.id, name: 'Step', data: 2 });
    assert.deepEqual((await host.waitDone(cs)).output, [1, 2]);
    const again = await host.start('chain', undefined, 'singleton-env');
    const s = await host.waitDone(again);
    assert.equal(s.name, 'chain');
    assert.equal(s.runtimeStatus, 'Completed');
  });

  test('the instance exists (Pending) as soon as startNew answers', async () => {
    const cs = await host.start('chain');
    const s = await host.status(cs);
    assert.ok(['Pending', 'Running', 'Completed'].includes(s.runtimeStatus));
  });

  test('terminate ends a waiting instance; later events are ignored', async () => {
    const cs = await host.start('waitForever');
    await host.waitFor(cs, (s) => s.runtimeStatus === 'Running', 'running');
    assert.equal((await host.client('terminate', { id: cs.id, reason: 'no longer needed' })).status, 202);
    const s = await host.waitDone(cs);
    assert.equal(s.runtimeStatus, 'Terminated');
    assert.equal(s.output, 'no longer needed');
    // 410 on the public API, silently accepted by the client.
    const late = await fetch(cs.sendEventPostUri.replace('{eventName}', 'Step'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '1' });
    assert.equal(late.status, 410);
    assert.equal((await host.client('raise', { id: cs.id, name: 'Step', data: 1 })).status, 202);
    const unknown = await host.client('terminate', { id: 'does-not-exist', reason: 'x' });
    assert.equal(unknown.status, 500, 'the client rejects on 404');
  });

  test('suspend buffers events until resume', async () => {
    const cs = await host.start('waitForever');
    await host.waitFor(cs, (s) => s.runtimeStatus === 'Running', 'running');
    await host.client('suspend', { id: cs.id, reason: 'maintenance' });
    await host.waitFor(cs, (s) => s.runtimeStatus === 'Suspended', 'suspended');
    await host.client('raise', { id: cs.id, name: 'Step', data: 'a' });
    await host.client('raise', { id: cs.id, name: 'Step', data: 'b' });
    await host.settle();
    assert.equal((await host.status(cs)).runtimeStatus, 'Suspended');
    await host.client('resume', { id: cs.id, reason: 'done' });
    const s = await host.waitDone(cs);
    assert.equal(s.runtimeStatus, 'Completed');
    assert.deepEqual(s.output, ['a', 'b']);
  });

  test('purge one instance and purge by filter', async () => {
    const cs = await host.start('chain');
    await host.waitDone(cs);
    assert.deepEqual((await host.client('purge', { id: cs.id })).body, { instancesDeleted: 1 });
    await assert.rejects(host.status(cs), (e: Error & { status?: number }) => e.status === 404);
    assert.deepEqual((await host.client('purge', { id: cs.id })).body, { instancesDeleted: 0 });

    const from = new Date(Date.now() - 1000).toISOString();
    const failed = await Promise.all([1, 2].map(() => host.start('throws')));
    for (const f of failed) await host.waitDone(f);
    const live = await host.start('waitForever');
    const r = await host.client('purgeBy', { createdTimeFrom: from, runtimeStatus: ['Failed'] });
    assert.ok(r.body.instancesDeleted >= 2, JSON.stringify(r.body));
    for (const f of failed) await assert.rejects(host.status(f), (e: Error & { status?: number }) => e.status === 404);
    assert.equal((await host.status(live)).runtimeStatus === 'Running' || (await host.status(live)).runtimeStatus === 'Pending', true);
  });

  test('list with filters and paging by continuation token', async () => {
    const ids = ['page-1', 'page-2', 'page-3', 'page-4', 'page-5'];
    for (const id of ids) await host.waitDone(await host.start('guids', undefined, id));
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    for (;;) {
      const res = await host.api('instances/?instanceIdPrefix=page-&top=2', { headers: token ? { 'x-ms-continuation-token': token } : {} });
      assert.equal(res.status, 200);
      const page = (await res.json()) as { instanceId: string }[];
      pages++;
      assert.ok(page.length <= 2);
      seen.push(...page.map((p) => p.instanceId));
      token = res.headers.get('x-ms-continuation-token') ?? '';
      if (!token) break;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen.sort(), ids);

    const completed = await host.client('statusBy', { runtimeStatus: ['Completed'] });
    const completedIds = (completed.body as { instanceId: string }[]).map((s) => s.instanceId);
    for (const id of ids) assert.ok(completedIds.includes(id));
    const running = await host.client('statusBy', { runtimeStatus: ['Running'] });
    assert.ok((running.body as { instanceId: string }[]).every((s) => !ids.includes(s.instanceId)));
    const future = await host.client('statusBy', { createdTimeFrom: new Date(Date.now() + 3_600_000 * 24 * 365).toISOString() });
    assert.deepEqual(future.body, []);
    const all = await host.client('statusAll', {});
    assert.ok((all.body as unknown[]).length >= 5);
  });

  test('status with history options', async () => {
    const cs = await host.start('chain');
    await host.waitDone(cs);
    const plain = await host.client('status', { id: cs.id });
    assert.equal(plain.body.history, undefined);
    const withHistory = await host.client('status', { id: cs.id, showHistory: true });
    const rows = withHistory.body.history as Record<string, unknown>[];
    assert.equal(rows[0]!.EventType, 'ExecutionStarted');
    assert.equal(rows.at(-1)!.EventType, 'ExecutionCompleted');
    const completed = rows.filter((r) => r.EventType === 'TaskCompleted');
    assert.equal(completed.length, 3);
    assert.equal(completed[0]!.FunctionName, 'hello');
    assert.equal(completed[0]!.Result, undefined, 'no Result without showHistoryOutput');
    const withOutput = await host.client('status', { id: cs.id, showHistory: true, showHistoryOutput: true });
    const out = (withOutput.body.history as Record<string, unknown>[]).filter((r) => r.EventType === 'TaskCompleted');
    assert.equal(out[0]!.Result, 'Hello Tokyo!');
  });

  test('the public durable API needs the system key; the test clock is test-only', async () => {
    const noKey = await fetch(`${host.origin}/runtime/webhooks/durabletask/instances/`);
    assert.equal(noKey.status, 401);
    const unknown = await host.api('instances/nope');
    assert.equal(unknown.status, 404);
    const clock = await host.api('test-clock');
    assert.equal(clock.status, 200);
  });

  test('restart runs a finished instance again with the same input', async () => {
    const cs = await host.start('eventEarly', undefined, 'restart-me');
    await host.client('raise', { id: cs.id, name: 'Go', data: 'first' });
    assert.deepEqual((await host.waitDone(cs)).output, { first: 'Hello before the wait!', ev: 'first' });
    const res = await host.api('instances/restart-me/restart?restartWithNewInstanceId=false', { method: 'POST' });
    assert.equal(res.status, 202);
    await host.waitFor('restart-me', (s) => s.runtimeStatus === 'Running', 'the new run');
    await host.client('raise', { id: cs.id, name: 'Go', data: 'second' });
    const again = await host.waitDone('restart-me');
    assert.deepEqual(again.output, { first: 'Hello before the wait!', ev: 'second' });
  });

  test('starting an unknown orchestrator is a 400', async () => {
    const res = await host.api('orchestrators/noSuchThing', { method: 'POST' });
    assert.equal(res.status, 400);
  });
});
