// The demo commands as a person runs them: `npm run demo` (dist/demo/walkthrough.js) twice on
// the same state folder, and `npm start` (dist/demo/start.js) with a commit in the demo
// repository deploying through the post-commit hook; real child processes, real git, real HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findFreePorts } from '../support/sample-service.js';
import { REPO_ROOT } from './conveyor-support.js';
import { stopEnvironments } from '../../demo/conveyor.js';
import { demoPaths } from '../../demo/demo-state.js';

const execFileAsync = promisify(execFile);
const WALKTHROUGH = join(REPO_ROOT, 'dist', 'demo', 'walkthrough.js');
const START = join(REPO_ROOT, 'dist', 'demo', 'start.js');

const roots: string[] = [];
const children = new Set<ChildProcess>();

function tempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-demo-test-'));
  roots.push(dir);
  return dir;
}

/** The child's environment: nothing of the caller's Conveyor or git configuration leaks in. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CONVEYOR_') && !k.startsWith('GIT_')) env[k] = v;
  return { ...env, NO_COLOR: '1' };
}

/** Runs a command to its end; resolves with exit code and output. */
function runToEnd(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  // A walkthrough that crashed could leave deployed environments behind: they are the test's to stop.
  for (const root of roots) {
    await stopEnvironments(demoPaths(root)).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  }
});

describe('npm run demo', () => {
  let root: string;
  let ports: number[];

  before(async () => {
    root = tempRoot();
    ports = await findFreePorts(3);
  });

  const walkthrough = () => runToEnd([WALKTHROUGH, '--state-dir', root, '--port', '0', '--env-ports', ports.join(',')], 150_000);

  function assertStory(out: { code: number | null; stdout: string; stderr: string }, n: number) {
    const text = out.stdout;
    assert.equal(out.code, 0, `walkthrough #${n} should exit 0\n${text}\n${out.stderr}`);
    assert.match(text, new RegExp(`Conveyor demo walkthrough #${n}`));
    assert.match(text, /app "demo" (created|updated) \(PUT \/api\/apps\/demo\)/);
    assert.match(text, /conveyor hook: pushed [0-9a-f]{7} -> accepted run demo\.[0-9a-f]{40}/);
    assert.match(text, /build\s+Succeeded/);
    assert.match(text, /dev\s+Succeeded.*revision \d+/);
    assert.match(text, /staging\s+Succeeded/);
    assert.match(text, /prod\s+Pending: waiting for approval by demo@conveyor\.local/);
    assert.match(text, /approval recorded \(202\)/);
    assert.match(text, /prod\s+Succeeded/);
    assert.match(text, /dev\s+Failed.*verification failed in dev/);
    assert.match(text, /dev\s+-> rolled back automatically to revision \d+; :\d+ serves [0-9a-f]{7}/);
    assert.match(text, /the run Failed and dev rolled back by itself/);
    assert.match(text, /staging and prod were not touched \(Skipped\)/);
    assert.match(text, /✓ dev :\d+ serves [0-9a-f]{7} .* "Hello from walkthrough \d+, change 2"/);
    assert.match(text, /rollback accepted: operation/);
    assert.match(text, /✓ prod :\d+ serves [0-9a-f]{7} .* "Hello from walkthrough \d+, change 1"/);
    assert.match(text, /code in the repo == what runs in each environment/);
    assert.match(text, /everything the demo started is stopped/);
    assert.match(text, new RegExp(`Demo complete: every step did what it should \\(walkthrough #${n}\\)`));
    assert.doesNotMatch(text, /DEMO FAILED/);
  }

  test('walks the whole story and exits 0', async () => {
    const out = await walkthrough();
    assertStory(out, 1);
    assert.match(out.stdout, /created the demo repository/);
    for (const port of ports) assert.equal(await listening(port), false, `nothing listens on ${port} afterwards`);
  });

  test('works the same the second time, on the state the first run left', async () => {
    const out = await walkthrough();
    assertStory(out, 2);
    assert.match(out.stdout, /reusing the demo repository/);
    assert.match(out.stdout, /app "demo" updated/);
    for (const port of ports) assert.equal(await listening(port), false, `nothing listens on ${port} afterwards`);
    // Six new commits per walkthrough on top of the initial one: the history only grows.
    const { stdout } = await execFileAsync('git', ['rev-list', '--count', 'HEAD'], { cwd: join(root, 'repo') });
    assert.equal(Number(stdout.trim()), 1 + 2 * 3);
  });

  test('a bad option exits 2 with the usage', async () => {
    const out = await runToEnd([WALKTHROUGH, '--env-ports', '1,2'], 10_000);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /--env-ports must be three distinct ports/);
    assert.match(out.stderr, /usage: npm run demo/);
  });
});

describe('npm start', () => {
  test('registers the demo app, a git commit deploys through the hook, Ctrl-C stops everything', async () => {
    // Under the repository's own (git-ignored) .conveyor, as `npm start` runs by default: the
    // releases then sit below Conveyor's package.json, which says "type": "module".
    mkdirSync(join(REPO_ROOT, '.conveyor'), { recursive: true });
    const root = mkdtempSync(join(REPO_ROOT, '.conveyor', 'demo-test-'));
    roots.push(root);
    const ports = await findFreePorts(3);
    const child = spawn(process.execPath, [START, '--state-dir', root, '--port', '0', '--env-ports', ports.join(',')], {
      cwd: REPO_ROOT,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const waitFor = async (pattern: RegExp, what: string, timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (Date.now() > until || child.exitCode !== null) assert.fail(`npm start: ${what} not seen\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return pattern.exec(stdout)!;
    };

    const origin = (await waitFor(/Conveyor is running at (http:\/\/127\.0\.0\.1:\d+)/, 'the banner'))[1]!;
    await waitFor(/Runs are followed below/, 'the end of the banner');
    assert.match(stdout, /App "demo" created; post-commit hook installed\./);
    const functionKey = /Function key\s+(\S+)/.exec(stdout)![1]!;
    assert.match(stdout, /Approver\s+demo@conveyor\.local, API token demo-\S+/);
    assert.match(stdout, /curl -s -X POST .*'Authorization: Bearer demo-/);
    assert.match(stdout, /\/environments\/prod\/approval/);
    assert.match(stdout, new RegExp(`dev\\s+http://127\\.0\\.0\\.1:${ports[0]}/`));
    // First start: HEAD (the initial commit) is sent once.
    const initial = /Catch-up: deploying main ([0-9a-f]{7})/.exec(stdout)?.[1];
    assert.ok(initial, stdout);
    // Let the initial commit reach its approval first, so the revisions below are in a known order.
    await waitFor(new RegExp(`${initial} .*prod\\s+Pending: waiting for approval`), 'the initial commit reaching the prod approval');

    // A person's commit in the demo repository: the post-commit hook sends the webhook.
    const repo = join(root, 'repo');
    writeFileSync(join(repo, 'message.txt'), 'Hello from the npm start test\n');
    const commit = await execFileAsync('git', ['commit', '-am', 'Say hello from the test'], { cwd: repo, env: { ...childEnv(), GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
    assert.match(commit.stderr, /conveyor hook: pushed [0-9a-f]{7} -> accepted run demo\./);
    const sha = (await execFileAsync('git', ['rev-parse', 'HEAD'], { cwd: repo })).stdout.trim();

    await waitFor(new RegExp(`${sha.slice(0, 7)} .*prod\\s+Pending: waiting for approval`), 'the commit reaching the prod approval');
    const version = (await (await fetch(`http://127.0.0.1:${ports[1]}/version`)).json()) as { commit: string; message: string };
    assert.equal(version.commit, sha, 'staging serves the commit');
    assert.equal(version.message, 'Hello from the npm start test');
    const app = (await (await fetch(`${origin}/api/apps/demo`, { headers: { 'x-functions-key': functionKey } })).json()) as { repoUrl: string };
    assert.equal(app.repoUrl, `file://${repo}`);

    // Approve with the token the banner printed; the follower reports prod.
    const token = /API token (demo-\S+)/.exec(stdout)![1]!;
    const auth = { 'x-functions-key': functionKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const approval = await fetch(`${origin}/api/runs/demo.${sha}/environments/prod/approval`, { method: 'POST', headers: auth, body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(approval.status, 202, await approval.text());
    await waitFor(new RegExp(`${sha.slice(0, 7)} .*prod\\s+Succeeded.*serves ${sha.slice(0, 7)}`), 'prod deployed after the approval');
    // A rollback through the API (not part of any run) is reported too.
    const rollback = await fetch(`${origin}/api/apps/demo/environments/dev/rollback`, { method: 'POST', headers: auth, body: JSON.stringify({ reason: 'e2e' }) });
    assert.equal(rollback.status, 202, await rollback.text());
    await waitFor(/rollback dev now runs revision 3 \(commit [0-9a-f]{7}, Succeeded\); :\d+ serves/, 'the API rollback of dev');

    child.kill('SIGINT');
    assert.equal(await exited, 0, `npm start exits 0 on Ctrl-C\n${stderr}`);
    children.delete(child);
    assert.match(stdout, /stopping Conveyor and the demo environments\.\.\.\nstopped\./);
    for (const port of ports) assert.equal(await listening(port), false, `nothing listens on ${port} after Ctrl-C`);
    assert.equal(await listening(Number(new URL(origin).port)), false, 'the API is closed');
  });
});
