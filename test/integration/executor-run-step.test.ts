import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogSink, runStep, BlobLogSink, readLog } from '../../shared/executor/index.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
import { withAzurite } from '../support/azurite.js';

let dir: string;
let azurite: Awaited<ReturnType<typeof withAzurite>>;
const vars = { app: 'shop', commit: 'a'.repeat(40), branch: 'main', environment: 'dev' };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conveyor-exec-'));
  azurite = await withAzurite();
});
after(async () => {
  await azurite.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** True while the pid exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

test('a step runs in the workspace with a minimal environment plus CONVEYOR_* and step variables', async () => {
  const log = new MemoryLogSink();
  const res = await runStep({
    command: 'pwd; env | sort',
    cwd: dir,
    env: { NODE_ENV: 'production' },
    timeoutMs: 10_000,
    conveyorVars: { ...vars, runId: 'run-1' },
    log,
    baseEnv: { PATH: process.env.PATH, HOME: '/home/x', AZURE_STORAGE_CONNECTION_STRING: 'leak', SECRET_TOKEN: 'leak' },
  });
  assert.equal(res.exitCode, 0);
  assert.equal(res.timedOut, false);
  const lines = log.text.split('\n');
  assert.equal(lines[0], dir);
  const names = lines.slice(1).filter(Boolean).map((l) => l.split('=')[0]);
  for (const expected of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'NODE_ENV', 'CONVEYOR_APP', 'CONVEYOR_COMMIT', 'CONVEYOR_BRANCH', 'CONVEYOR_ENVIRONMENT', 'CONVEYOR_RUN_ID']) {
    assert.ok(names.includes(expected), `${expected} missing`);
  }
  assert.ok(!log.text.includes('leak'), 'orchestrator environment must not leak into steps');
  assert.match(log.text, /HOME=\/home\/x/);
});

test('untrusted values with shell metacharacters are passed as data, never executed', async () => {
  const marker = join(dir, 'pwned');
  const hostile = [`$(touch ${marker})`, `\`touch ${marker}\``, `x; touch ${marker}`, `'"; touch ${marker}; echo "'`, `main && touch ${marker}`, `$((1+1))\n| touch ${marker}`];
  for (const value of hostile) {
    const log = new MemoryLogSink();
    const res = await runStep({
      command: 'printf "%s|%s|%s" "$CONVEYOR_BRANCH" "$CONVEYOR_COMMIT_MESSAGE" "$CONVEYOR_AUTHOR"',
      cwd: dir,
      timeoutMs: 10_000,
      conveyorVars: { ...vars, branch: value, commitMessage: value, author: value },
      log,
    });
    assert.equal(res.exitCode, 0);
    assert.equal(log.text, `${value}|${value}|${value}`);
    assert.equal(existsSync(marker), false, `executed: ${value}`);
  }
});

test('a non-zero exit is a result, with the last lines of output', async () => {
  const log = new MemoryLogSink();
  const res = await runStep({ command: 'for i in $(seq 1 120); do echo line $i; done; echo oops >&2; exit 3', cwd: dir, timeoutMs: 10_000, conveyorVars: vars, log });
  assert.equal(res.exitCode, 3);
  assert.equal(res.signal, null);
  const tail = res.outputTail.split('\n');
  assert.equal(tail.length, 50);
  assert.equal(tail[tail.length - 1], 'oops');
  assert.equal(tail[0], 'line 72');
  assert.ok(res.durationMs >= 0);
});

test('a timeout kills the whole process group, grandchildren included', async () => {
  const pidFile = join(dir, 'grandchild.pid');
  const log = new MemoryLogSink();
  const res = await runStep({
    // The grandchild ignores SIGTERM so only the SIGKILL escalation can end it.
    command: `bash -c 'trap "" TERM; sleep 300 & echo $! > ${pidFile}; wait' & echo started; wait`,
    cwd: dir,
    timeoutMs: 700,
    killGraceMs: 300,
    conveyorVars: vars,
    log,
  });
  assert.equal(res.timedOut, true);
  assert.equal(res.exitCode, null);
  assert.ok(res.signal === 'SIGTERM' || res.signal === 'SIGKILL');
  assert.match(res.outputTail, /started/);
  assert.match(res.outputTail, /timed out/);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  assert.ok(pid > 0);
  assert.ok(await waitFor(() => !alive(pid), 3000), `grandchild ${pid} is still running`);
});

test('processes a step leaves in the background are ended with it', async () => {
  const pidFile = join(dir, 'daemon.pid');
  const res = await runStep({ command: `(sleep 300 & echo $! > ${pidFile}) ; echo done`, cwd: dir, timeoutMs: 10_000, killGraceMs: 300, conveyorVars: vars, log: new MemoryLogSink() });
  assert.equal(res.exitCode, 0);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  assert.ok(await waitFor(() => !alive(pid), 3000), `background process ${pid} survived the step`);
});

test('aborting a step kills it without marking it timed out', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const res = await runStep({ command: 'sleep 30', cwd: dir, timeoutMs: 60_000, killGraceMs: 200, conveyorVars: vars, log: new MemoryLogSink(), signal: ac.signal });
  assert.equal(res.timedOut, false);
  assert.equal(res.signal, 'SIGTERM');
});

test('registered secrets are redacted, even when written in pieces', async () => {
  const log = new MemoryLogSink();
  const secret = 'tok_9f8e7d6c5b4a';
  writeFileSync(join(dir, 'piece.sh'), `printf 'auth: tok_9f8e'; sleep 0.2; printf '7d6c'; sleep 0.2; printf '5b4a done\\n'; echo "$API_TOKEN" >&2\n`);
  const res = await runStep({ command: 'bash piece.sh', cwd: dir, env: { API_TOKEN: secret }, timeoutMs: 10_000, conveyorVars: vars, log, secrets: [secret] });
  assert.equal(res.exitCode, 0);
  assert.ok(!log.text.includes(secret));
  assert.ok(!log.text.includes('tok_9f8e'), 'no fragment of the secret may be written');
  assert.match(log.text, /auth: \*\*\* done/);
  assert.ok(!res.outputTail.includes(secret));
});

test('a missing workspace is a clear error', async () => {
  await assert.rejects(runStep({ command: 'true', cwd: join(dir, 'nope'), timeoutMs: 1000, conveyorVars: vars, log: new MemoryLogSink() }), /workspace folder .* does not exist/);
});

test('output streams to an append blob that can be read while the step is still running', async () => {
  const container = containerClient(azurite.connectionString, CONTAINERS.logs);
  const path = 'shop/run-1/build.log';
  const sink = await BlobLogSink.open(container, path, { flushIntervalMs: 100 });
  const gate = join(dir, 'gate');
  let finished = false;
  const running = runStep({
    command: `echo "first part"; echo "secret is p4ssw0rd!"; while [ ! -f ${gate} ]; do sleep 0.05; done; echo "second part"`,
    cwd: dir,
    timeoutMs: 20_000,
    conveyorVars: vars,
    log: sink,
    secrets: ['p4ssw0rd!'],
  }).then((r) => {
    finished = true;
    return r;
  });
  let partial = '';
  assert.ok(
    await waitFor(async () => {
      partial = await readLog(container, path);
      return partial.includes('first part');
    }, 10_000),
    'partial log never appeared',
  );
  assert.equal(finished, false, 'the step must still be running while its log is read');
  assert.ok(!partial.includes('second part'));
  assert.ok(!partial.includes('p4ssw0rd!'));
  writeFileSync(gate, '');
  const res = await running;
  await sink.close();
  assert.equal(res.exitCode, 0);
  const full = await readLog(container, path);
  assert.equal(full, 'first part\nsecret is ***\nsecond part\n');
});

test('a step dies with the process that runs it, even when that process is killed with SIGKILL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-lifeline-'));
  try {
    const pidFile = join(dir, 'sleeper.pid');
    const executor = new URL('../../shared/executor/index.js', import.meta.url).href;
    // A stand-in for the host: runs a step that starts a long sleep, and is then killed.
    const script = `
      const { runStep, MemoryLogSink } = await import(${JSON.stringify(executor)});
      runStep({ command: 'sleep 60 & echo $! > ${pidFile}; wait', cwd: ${JSON.stringify(dir)}, timeoutMs: 120000,
        conveyorVars: { app: 'shop', commit: '${'a'.repeat(40)}' }, log: new MemoryLogSink() });
      setInterval(() => {}, 1000);`;
    const { spawn } = await import('node:child_process');
    const host = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    const until = Date.now() + 10_000;
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
      assert.ok(Date.now() < until, 'the step started');
      await new Promise((r) => setTimeout(r, 50));
    }
    const sleeper = Number(readFileSync(pidFile, 'utf8').trim());
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    };
    assert.ok(alive(sleeper), 'the sleep runs');
    host.kill('SIGKILL');
    const gone = Date.now() + 5_000;
    while (alive(sleeper) && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    assert.equal(alive(sleeper), false, 'the step was killed with its host');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
