// The `conveyor-host` command as a child process: CommonJS app, Azurite started and reachable,
// state folder from the flag or CONVEYOR_STATE_DIR, graceful SIGTERM, no orphans.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { azuriteAccountKey, DEV_ACCOUNT, DEV_KEY } from '../../local/storage/azurite.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cli = join(root, 'dist', 'local', 'host', 'cli.js');
const fixtureDir = join(root, 'test', 'fixtures', 'http-app-cjs');
const temps: string[] = [];
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'conveyor-host-cli-'));
  temps.push(d);
  return d;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['AzureWebJobsStorage', 'FIXTURE_BLOB_CONNECTION', 'FIXTURE_OTHER_SETTING', 'WEBSITE_HOSTNAME', 'CONVEYOR_HOST_MASTER_KEY', 'CONVEYOR_HOST_FUNCTION_KEY']) delete env[k];
  if (!extra.CONVEYOR_STATE_DIR) delete env.CONVEYOR_STATE_DIR;
  return env;
}

/**
 * A copy of the CommonJS fixture app with a local.settings.json (git-ignored, so written here)
 * whose own storage setting asks for the development storage.
 */
function fixtureApp(): string {
  const app = tempDir();
  for (const f of ['index.js', 'package.json', 'host.json']) copyFileSync(join(fixtureDir, f), join(app, f));
  symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
  const values = { FUNCTIONS_WORKER_RUNTIME: 'node', FIXTURE_BLOB_CONNECTION: ' UseDevelopmentStorage=true ', FIXTURE_OTHER_SETTING: 'UseDevelopmentStorage=false' };
  writeFileSync(join(app, 'local.settings.json'), JSON.stringify({ IsEncrypted: false, Values: values }));
  return app;
}

interface Started {
  child: ChildProcess;
  output: () => string;
  origin: string;
  master: string;
  functionKey: string;
  azuritePid: number;
  blobPort: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startCli(args: string[], env: NodeJS.ProcessEnv): Promise<Started> {
  const child = spawn(process.execPath, [cli, ...args], { cwd: tempDir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`host not ready in time:\n${out}`)), 30_000);
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`host exited (${code}) before ready:\n${out}`));
    });
    const onData = () => {
      const ready = /Host ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (!ready) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const pick = (re: RegExp) => re.exec(out)?.[1] ?? '';
      resolvePromise({
        child,
        output: () => out,
        origin: ready[1]!,
        master: pick(/Master key:\s+(\S+)/),
        functionKey: pick(/Function key:\s+(\S+)/),
        azuritePid: Number(pick(/Azurite pid (\d+)/)),
        blobPort: Number(pick(/blob http:\/\/127\.0\.0\.1:(\d+)/)),
        exit,
      });
    };
    child.stdout!.on('data', onData);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

/** Polls until the condition holds; fails naming what it waited for. */
async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('conveyor-host command', () => {
  it('rejects bad arguments with usage and exit code 2', async () => {
    const child = spawn(process.execPath, [cli, '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 2);
    assert.match(err, /--port must be a non-negative integer/);
    assert.match(err, /usage: conveyor-host/);
  });

  it('fails to start with a clear message when the app is not built, and stops the Azurite it started', async () => {
    const app = tempDir();
    writeFileSync(join(app, 'package.json'), JSON.stringify({ main: 'dist/index.js' }));
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
    const child = spawn(process.execPath, [cli, '--app-dir', app, '--port', '0', '--state-dir', join(app, '.state')], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 1);
    assert.match(out, /failed to start: Error: package.json main 'dist\/index.js' not found/);
    const pid = Number(/Azurite started \(pid (\d+)/.exec(out)?.[1]);
    assert.ok(pid > 0, out);
    assert.ok(await waitGone(pid, 5000), 'Azurite was stopped');
  });

  it('serves a CommonJS app with Azurite, then shuts down on SIGTERM after in-flight work, leaving no process behind', async () => {
    const state = tempDir();
    const host = await startCli(['--app-dir', fixtureApp(), '--port', '0', '--state-dir', state, '--grace-ms', '5000'], cleanEnv());

    // Start-up listing: functions with URLs (empty route prefix, default routes), keys.
    const out = host.output();
    assert.match(out, new RegExp(`ping: \\[GET\\] ${host.origin}/ping \\(authLevel anonymous\\)`));
    assert.match(out, new RegExp(`blob: \\[POST\\] ${host.origin}/blob \\(authLevel function\\)`));
    assert.match(host.master, /^[A-Za-z0-9_-]{43}$/);
    assert.match(host.functionKey, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(host.azuritePid > 0 && alive(host.azuritePid), 'Azurite runs');
    assert.ok(existsSync(join(state, 'azurite')), 'Azurite data lives under the state folder');
    assert.ok(existsSync(join(state, 'host-keys.json')));

    assert.equal(await (await fetch(`${host.origin}/ping`)).text(), 'pong');

    // The app reaches Azurite through its own setting, whose "UseDevelopmentStorage=true" the
    // host replaced by the running emulator's connection string (other values left alone)...
    const res = await fetch(`${host.origin}/blob`, { method: 'POST', body: 'hello blob', headers: { 'x-functions-key': host.functionKey } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { read: 'hello blob', sameAsHost: true, untouched: 'UseDevelopmentStorage=false' });
    assert.match(out, /Azurite started .*settings="?AzureWebJobsStorage, FIXTURE_BLOB_CONNECTION/);
    // The public development key is refused: the emulator has a private key per state folder,
    // kept owner-only in the state folder...
    const publicKey = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${host.blobPort}/${DEV_ACCOUNT};`;
    await assert.rejects(BlobServiceClient.fromConnectionString(publicKey).getContainerClient('fixture').getBlockBlobClient('hello.txt').downloadToBuffer(), (err: { statusCode?: number }) => err.statusCode === 403);
    assert.equal(statSync(join(state, 'azurite', '.account-key')).mode & 0o777, 0o600);
    assert.ok(!out.includes(azuriteAccountKey(join(state, 'azurite'))), 'the key is in no output line');
    // ...with which anyone holding it can create a container, write and read a blob.
    const conn = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${azuriteAccountKey(join(state, 'azurite'))};BlobEndpoint=http://127.0.0.1:${host.blobPort}/${DEV_ACCOUNT};`;
    const service = BlobServiceClient.fromConnectionString(conn);
    assert.equal((await service.getContainerClient('fixture').getBlockBlobClient('hello.txt').downloadToBuffer()).toString(), 'hello blob');
    const container = service.getContainerClient('from-test');
    await container.create();
    await container.getBlockBlobClient('x.bin').upload(Buffer.from([1, 2, 3]), 3);
    assert.deepEqual([...(await container.getBlockBlobClient('x.bin').downloadToBuffer())], [1, 2, 3]);

    // SIGTERM while a request is in flight: it completes, the host exits 0, Azurite is gone.
    const slow = fetch(`${host.origin}/slow?ms=800`).then(async (r) => ({ status: r.status, text: await r.text() }));
    await waitFor(() => host.output().includes('slow request started'), 10_000, 'the slow request to start');
    host.child.kill('SIGTERM');
    assert.deepEqual(await slow, { status: 200, text: 'slow done' });
    const exit = await host.exit;
    assert.deepEqual(exit, { code: 0, signal: null }, host.output());
    assert.ok(await waitGone(host.azuritePid, 5000), `Azurite pid ${host.azuritePid} survived the host`);
    assert.match(host.output(), /host stopped/);
  });

  it('keeps state where CONVEYOR_STATE_DIR says, and Azurite does not outlive a killed host', async () => {
    const state = tempDir();
    const host = await startCli(['--app-dir', fixtureDir, '--port', '0'], cleanEnv({ CONVEYOR_STATE_DIR: state }));
    assert.ok(existsSync(join(state, 'host-keys.json')));
    assert.ok(existsSync(join(state, 'azurite')));
    assert.ok(alive(host.azuritePid));
    host.child.kill('SIGKILL');
    await host.exit;
    assert.ok(await waitGone(host.azuritePid, 10_000), `Azurite pid ${host.azuritePid} was orphaned`);
  });
});
