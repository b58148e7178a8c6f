import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogSink } from '../../shared/executor/index.js';
import { BubblewrapStepRunner, LocalStepRunner, type StepRequest } from '../../shared/steps/index.js';
import { marker, processesWithArgument, stepRunnerContract, waitFor } from '../support/step-runner-contract.js';

stepRunnerContract('bubblewrap runner', () => new BubblewrapStepRunner({ killGraceMs: 300 }));

function request(dir: string, over: Partial<StepRequest>): StepRequest {
  return { name: 'build', command: 'true', workspace: { dir }, env: {}, conveyorVars: { app: 'shop', commit: 'a'.repeat(40) }, timeoutMs: 20_000, log: new MemoryLogSink(), ...over };
}

async function withDirs(fn: (root: string, workspace: string) => Promise<void>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'conveyor-bwrap-'));
  const workspace = join(root, 'workspaces', 'shop.1');
  mkdirSync(workspace, { recursive: true });
  try {
    await fn(root, workspace);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('bubblewrap runner: network on reaches a loopback server; network none reaches nothing', async () => {
  const server = createServer((_req, res) => res.end('hello from the host'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    await withDirs(async (_root, dir) => {
      const probe = `if exec 3<>/dev/tcp/127.0.0.1/${port}; then echo CONNECTED; else echo REFUSED; fi; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '`;
      const on = new MemoryLogSink();
      assert.equal((await new BubblewrapStepRunner().run(request(dir, { command: probe, log: on }))).exitCode, 0);
      assert.match(on.text, /CONNECTED/);
      const off = new MemoryLogSink();
      assert.equal((await new BubblewrapStepRunner().run(request(dir, { command: probe, network: 'none', log: off }))).exitCode, 0);
      assert.match(off.text, /REFUSED/);
      assert.deepEqual(off.text.split('\n').filter((l) => l && !/REFUSED|Connection refused|Network is unreachable|\/dev\/tcp/.test(l)), ['lo'], 'only a loopback device, which is down');
    });
  } finally {
    server.close();
  }
});

test('bubblewrap runner: only the workspace, /tmp and HOME are writable; siblings of the workspace, /etc/shadow and TLS private keys are not there; HOME starts empty', () =>
  withDirs(async (root, dir) => {
    const sibling = join(root, 'workspaces', 'other-app.7');
    mkdirSync(sibling);
    writeFileSync(join(sibling, 'secret.txt'), 'other app source');
    writeFileSync(join(root, 'state.db'), 'conveyor state');
    const log = new MemoryLogSink();
    const command = [
      `ls ${sibling} 2>&1 || echo SIBLING-ABSENT`,
      `cat ${join(root, 'state.db')} 2>&1 || echo STATE-ABSENT`,
      'touch /usr/x 2>/dev/null && echo WROTE-USR || echo USR-READONLY',
      'touch /etc/x 2>/dev/null && echo WROTE-ETC || echo ETC-READONLY',
      'touch /x 2>/dev/null && echo WROTE-ROOT || echo ROOT-READONLY',
      `touch ${root}/x 2>/dev/null; touch ${sibling}/x 2>/dev/null`,
      'echo t > /tmp/t && echo TMP-OK',
      'ls -A "$HOME" | wc -l; echo h > "$HOME/.cache" && echo HOME-OK',
      'echo w > made.txt && echo WS-OK',
      '[ -e /etc/shadow ] && echo SHADOW-VISIBLE || echo SHADOW-ABSENT',
      '[ -e /etc/ssl/private ] && echo SSL-PRIVATE-VISIBLE || echo SSL-PRIVATE-ABSENT',
      '[ -e /etc/ssl/certs ] && echo CERTS-OK',
      'cat /proc/1/cmdline | tr "\\0" " " | cut -c1-5; ls /proc | grep -cE "^[0-9]+$"',
    ].join('; ');
    const outcome = await new BubblewrapStepRunner().run(request(dir, { command, log }));
    assert.equal(outcome.exitCode, 0, log.text);
    for (const word of ['SIBLING-ABSENT', 'STATE-ABSENT', 'USR-READONLY', 'ETC-READONLY', 'ROOT-READONLY', 'TMP-OK', 'HOME-OK', 'WS-OK', 'SHADOW-ABSENT', 'SSL-PRIVATE-ABSENT', 'CERTS-OK']) {
      assert.ok(log.text.includes(word), `${word} in:\n${log.text}`);
    }
    assert.ok(!log.text.includes('other app source') && !log.text.includes('conveyor state'));
    assert.match(log.text, /\n0\n/, 'HOME is empty when the step starts');
    assert.equal(readFileSync(join(dir, 'made.txt'), 'utf8'), 'w\n');
    // The workspace's parent and siblings seen inside are the private /tmp, not the host's.
    assert.ok(!existsSync(join(root, 'x')) && !existsSync(join(sibling, 'x')), 'nothing written outside the workspace on the host');
    // PID 1 is the sandbox's own init; a handful of processes at most, none of the host's.
    assert.match(log.text, /bwrap\n([1-9])\n/);
  }));

test('bubblewrap runner: a sandboxed step dies with the process that runs it (SIGKILL), and inherits no descriptor from it', () =>
  withDirs(async (_root, dir) => {
    const m = marker('host-killed');
    const steps = new URL('../../shared/steps/index.js', import.meta.url).href;
    const executor = new URL('../../shared/executor/index.js', import.meta.url).href;
    // A stand-in for the host, holding an inherited descriptor 77 (as a host started by a
    // shell that leaked one would): runs the same check once
    // unsandboxed (which shows fd 77, proving the setup leaks one), once sandboxed, then a
    // sandboxed step that starts a long-running process, and is then killed.
    const script = `
      const { BubblewrapStepRunner, UnsandboxedStepRunner } = await import(${JSON.stringify(steps)});
      const { MemoryLogSink } = await import(${JSON.stringify(executor)});
      const req = (command, log) => ({ name: 'build', command, workspace: { dir: ${JSON.stringify(dir)} }, env: {}, conveyorVars: { app: 'shop', commit: 'c' }, timeoutMs: 60000, log });
      const check = '[ -e /proc/self/fd/77 ] && echo FD77-OPEN || echo FD77-CLOSED';
      const plain = new MemoryLogSink(); await new UnsandboxedStepRunner().run(req(check, plain));
      const boxed = new MemoryLogSink(); await new BubblewrapStepRunner().run(req(check, boxed));
      process.stdout.write('unsandboxed:' + plain.text + 'sandboxed:' + boxed.text + 'READY\\n');
      new BubblewrapStepRunner().run(req('setsid bash -c "exec -a ${m} sleep 300" & wait', new MemoryLogSink()));
      setInterval(() => {}, 1000);`;
    const host = spawn('bash', ['-c', 'exec "$0" --input-type=module -e "$1" 77</dev/null', process.execPath, script], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    host.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      assert.ok(await waitFor(() => out.includes('READY'), 20_000), `the stand-in ran its checks: ${out}`);
      assert.match(out, /unsandboxed:FD77-OPEN/, 'the stand-in really holds an inheritable descriptor 77');
      assert.match(out, /\nsandboxed:FD77-CLOSED/);
      assert.ok(await waitFor(() => processesWithArgument(m).length === 1, 10_000), 'the sandboxed process started');
    } finally {
      host.kill('SIGKILL');
    }
    assert.ok(await waitFor(() => processesWithArgument(m).length === 0, 5000), 'the sandboxed process outlived the killed host');
  }));

test('without a usable bubblewrap, steps are refused with the fix named, unless unsandboxed steps are allowed (then a warning, once)', () =>
  withDirs(async (_root, dir) => {
    const missing = join(dir, 'no-such-bwrap');
    await assert.rejects(new BubblewrapStepRunner({ bwrap: missing }).run(request(dir, {})), (err: Error) => {
      assert.match(err.message, /could not be started/);
      assert.match(err.message, /apt-get install bubblewrap/);
      assert.match(err.message, /CONVEYOR_ALLOW_UNSANDBOXED_STEPS=true/);
      return true;
    });
    const refused = new LocalStepRunner({ allowUnsandboxed: false, bwrap: missing });
    await assert.rejects(refused.run(request(dir, {})), /cannot be sandboxed.*install bubblewrap/);

    // A bwrap that exists but cannot create namespaces (here: a script failing like one).
    const broken = join(dir, 'broken-bwrap');
    writeFileSync(broken, '#!/bin/sh\n[ "$1" = --help ] && exit 0\necho "bwrap: No permissions to creating new namespace" >&2; exit 1\n', { mode: 0o755 });
    const warnings: string[] = [];
    const allowed = new LocalStepRunner({ allowUnsandboxed: true, bwrap: broken, warn: (m) => warnings.push(m) });
    const log = new MemoryLogSink();
    const outcome = await allowed.run(request(dir, { command: 'echo ran', log }));
    assert.equal(outcome.exitCode, 0);
    assert.equal(outcome.isolation.runner, 'unsandboxed');
    assert.equal(log.text, 'ran\n');
    await allowed.run(request(dir, {}));
    assert.equal(warnings.length, 1, 'warned once');
    assert.match(warnings[0]!, /No permissions to creating new namespace.*WITHOUT a sandbox/);
  }));

const asRoot = process.getuid?.() === 0;
test(`bubblewrap runner: an unprivileged user gets the same sandbox through user namespaces${asRoot ? '' : ' (skipped: needs root to switch to nobody with setpriv)'}`, { skip: !asRoot }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-bwrap-nobody-'));
  try {
    execFileSync('chmod', ['0777', dir]);
    const steps = new URL('../../shared/steps/index.js', import.meta.url).href;
    const executor = new URL('../../shared/executor/index.js', import.meta.url).href;
    const script = `
      const { BubblewrapStepRunner } = await import(${JSON.stringify(steps)});
      const { MemoryLogSink } = await import(${JSON.stringify(executor)});
      const log = new MemoryLogSink();
      const r = await new BubblewrapStepRunner().run({ name: 'build', command: 'id -u; grep CapEff /proc/self/status; ls /proc | grep -cE "^[0-9]+$"; echo made > out.txt', workspace: { dir: ${JSON.stringify(dir)} }, env: {}, conveyorVars: { app: 'shop', commit: 'c' }, timeoutMs: 20000, log });
      process.stdout.write(JSON.stringify({ exitCode: r.exitCode, isolation: r.isolation.runner, text: log.text }));`;
    const out = JSON.parse(execFileSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { env: { PATH: process.env.PATH, HOME: dir } }).toString()) as { exitCode: number; isolation: string; text: string };
    assert.equal(out.exitCode, 0, out.text);
    assert.equal(out.isolation, 'bubblewrap');
    assert.match(out.text, /^65534\nCapEff:\s+0+\n[1-9]\n$/);
    assert.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), 'made\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bubblewrap runner: limits — past its memory a step fails saying so; a file past its disk limit and a workspace growing past it fail too; cpu pins it', () =>
  withDirs(async (_root, dir) => {
    const runner = new BubblewrapStepRunner({ limits: { cpu: 2, memoryBytes: 4 * 1024 ** 3, diskBytes: 10 * 1024 ** 3 } });
    const mib = 1024 ** 2;
    // Memory: 64 MiB of buffers under a 256 MiB limit is fine; 512 MiB is not.
    const alloc = (n: number) => `node -e "const a = []; for (let i = 0; i < ${n}; i++) a.push(Buffer.alloc(16 * 1024 * 1024, 1)); console.log('allocated', a.length * 16, 'MiB')"`;
    const small = await runner.run(request(dir, { command: alloc(4), resources: { memoryBytes: 256 * mib } }));
    assert.equal(small.exitCode, 0, small.outputTail);
    assert.equal(small.limitHit, undefined);
    const big = await runner.run(request(dir, { command: alloc(32), resources: { memoryBytes: 256 * mib } }));
    assert.notEqual(big.exitCode, 0);
    assert.deepEqual(big.limitHit, { limit: 'memory', why: 'it ran out of memory (limit 256Mi per process)' }, big.outputTail);
    assert.deepEqual(big.isolation.limits, { cpu: 2, memory: '256Mi', disk: '10Gi' });

    // Disk: one file past the limit is stopped while it is written (SIGXFSZ).
    const file = await runner.run(request(dir, { command: 'head -c 3000000 /dev/zero > big.bin', resources: { diskBytes: 2 * mib } }));
    assert.notEqual(file.exitCode, 0);
    assert.equal(file.limitHit?.limit, 'disk', file.outputTail);
    assert.ok(statSync(join(dir, 'big.bin')).size <= 2 * mib, 'the file stopped at the limit');
    // ...so is /tmp (a tmpfs of that size)...
    const tmp = await runner.run(request(dir, { command: 'for i in 1 2 3 4; do head -c 1000000 /dev/zero > /tmp/part$i || exit 1; done', resources: { diskBytes: 2 * mib } }));
    assert.notEqual(tmp.exitCode, 0, 'the private /tmp is full at the disk limit');
    // ...and files each under the limit that together grow the workspace past it fail the step when it ends.
    const growth = await runner.run(request(dir, { command: 'for i in 1 2 3 4; do head -c 1000000 /dev/urandom > part$i.bin; done', resources: { diskBytes: 2 * mib } }));
    assert.equal(growth.exitCode, 0, 'the command itself succeeded');
    assert.equal(growth.limitHit?.limit, 'disk');
    assert.match(growth.limitHit!.why, /the workspace grew by 3\.\dMi, past the disk limit of 2Mi/);

    // A push cannot raise its limits past the installation's; cpu 1 pins the step to one CPU.
    const capped = await runner.run(request(dir, { command: 'nproc', resources: { cpu: 1, memoryBytes: 64 * 1024 ** 3 } }));
    assert.deepEqual(capped.isolation.notes, ['memory 64Gi asked, 4Gi allowed by the installation']);
    assert.equal(capped.isolation.limits?.memory, '4Gi');
    if (availableParallelism() > 1) assert.equal(capped.outputTail.trim(), '1', 'pinned to one CPU');
  }));

test('bubblewrap runner: a secret file is a read-only file in memory inside the sandbox, its variable holds the path, its value is masked', () =>
  withDirs(async (_root, dir) => {
    const value = `npm-token-${Date.now()}-secret`;
    const log = new MemoryLogSink();
    const command = [
      'echo "path=$NPMRC"',
      'stat -c "%a" "$NPMRC"',
      'cat "$NPMRC"; echo',
      '(echo x > "$NPMRC") 2>/dev/null && echo WRITABLE || echo READONLY',
      'findmnt -n -o FSTYPE --target "$NPMRC"',
      'grep -rl npm-token . 2>/dev/null || echo NOT-IN-WORKSPACE',
    ].join('; ');
    const outcome = await new BubblewrapStepRunner().run(request(dir, { command, secretFiles: { NPMRC: value }, log }));
    assert.equal(outcome.exitCode, 0, log.text);
    assert.equal(log.text, 'path=/run/secrets/NPMRC\n400\n***\nREADONLY\ntmpfs\nNOT-IN-WORKSPACE\n');
    assert.ok(!log.text.includes(value));
  }));
