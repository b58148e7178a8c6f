// Crash safety: a host child process running 20 multi-step orchestrations (activities and a
// durable timer each) and a 300-activity fan-out followed by entity calls is killed with
// SIGKILL part way; a new host on the same state folder must finish every one of them with
// the right output.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FIXTURE_APP } from './durable-support.js';

const stateDir = mkdtempSync(join(tmpdir(), 'conveyor-durable-crash-'));
const children = new Set<ChildProcess>();

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

/** Starts the host CLI; resolves with its origin once it prints "Host ready at". */
function startCli(): Promise<{ child: ChildProcess; origin: string }> {
  const child = spawn(
    process.execPath,
    [resolve('dist/local/host/cli.js'), '--app-dir', FIXTURE_APP, '--port', '0', '--no-storage', '--state-dir', stateDir, '--log-level', 'error'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => rej(new Error(`host did not start: ${out}${err}`)), 20_000);
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

interface Progress {
  status: string;
  /** Activity results recorded in the instance's history. */
  completedTasks: number;
}

async function progress(statusUri: string): Promise<Progress> {
  const body = (await (await fetch(`${statusUri}&showHistory=true`)).json()) as { runtimeStatus: string; historyEvents?: { EventType: string }[] };
  return { status: body.runtimeStatus, completedTasks: (body.historyEvents ?? []).filter((e) => e.EventType === 'TaskCompleted').length };
}

function withOrigin(url: string, origin: string): string {
  const u = new URL(url);
  return origin + u.pathname + u.search;
}

test('kill -9 part way, restart on the same state dir: every orchestration completes', async () => {
  const first = await startCli();
  const starts: { id: string; statusQueryGetUri: string; tag: string }[] = [];
  for (let i = 0; i < 20; i++) {
    const tag = `t${i}`;
    const res = await fetch(`${first.origin}/api/orchestrators/crashSteps?id=crash-${i}`, {
      method: 'POST',
      body: JSON.stringify({ tag, steps: 5, delayMs: 40 + (i % 5) * 20 }),
    });
    assert.equal(res.status, 202);
    starts.push({ ...((await res.json()) as { id: string; statusQueryGetUri: string }), tag });
  }
  // A fan-out whose results arrive around the kill, followed by entity calls.
  const fan = await fetch(`${first.origin}/api/orchestrators/crashFan?id=crash-fan`, { method: 'POST', body: JSON.stringify({ n: 300, delayMs: 60 }) });
  assert.equal(fan.status, 202);
  const fanStatus = ((await fan.json()) as { statusQueryGetUri: string }).statusQueryGetUri;
  // Kill once they are part way, as their histories show: fan-out results recorded but not all
  // of them, and some step orchestration past its second activity (at its durable timer or after).
  const progressDeadline = Date.now() + 20_000;
  let before: Progress[] = [];
  let fanBefore: Progress = { status: 'Pending', completedTasks: 0 };
  for (;;) {
    fanBefore = await progress(fanStatus);
    before = await Promise.all(starts.map((s) => progress(s.statusQueryGetUri)));
    if (fanBefore.completedTasks > 0 && before.some((p) => p.completedTasks >= 2)) break;
    assert.ok(Date.now() < progressDeadline, `no progress to kill in: fan-out ${JSON.stringify(fanBefore)}, steps ${JSON.stringify(before)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  assert.ok(before.some((p) => p.status !== 'Completed'), 'the kill happened before everything finished');
  assert.notEqual(fanBefore.status, 'Completed', 'the kill happened during the fan-out');
  assert.ok(fanBefore.completedTasks < 300, `the kill happened during the fan-out (${fanBefore.completedTasks} results recorded)`);

  const second = await startCli();
  const deadline = Date.now() + 30_000;
  for (const s of starts) {
    let body: { runtimeStatus: string; output: unknown } | undefined;
    while (Date.now() < deadline) {
      body = (await (await fetch(withOrigin(s.statusQueryGetUri, second.origin))).json()) as { runtimeStatus: string; output: unknown };
      if (['Completed', 'Failed', 'Terminated'].includes(body.runtimeStatus)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(body?.runtimeStatus, 'Completed', `${s.id}: ${JSON.stringify(body)}`);
    assert.equal(body?.output, `${s.tag}:01234`);
  }
  let fanBody: { runtimeStatus: string; output: unknown } | undefined;
  while (Date.now() < deadline) {
    fanBody = (await (await fetch(withOrigin(fanStatus, second.origin))).json()) as { runtimeStatus: string; output: unknown };
    if (['Completed', 'Failed', 'Terminated'].includes(fanBody.runtimeStatus)) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(fanBody?.runtimeStatus, 'Completed', JSON.stringify(fanBody));
  assert.equal(fanBody?.output, 300, 'every fan-out result counted exactly once');
  second.child.kill('SIGTERM');
  await new Promise((r) => second.child.once('exit', r));
});
