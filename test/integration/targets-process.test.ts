// The `process` deploy target against real processes: a real git repository (the sample
// service), built by hand, deployed from release folders, probed over HTTP on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ProcessTargetSpec } from '../../shared/domain/pipeline.js';
import type { DeployRequest } from '../../shared/targets/deploy-target.js';
import { ProcessTarget, type ProcessState } from '../../shared/targets/process.target.js';
import { TargetRegistry } from '../../shared/targets/target-registry.js';
import { readProcStat } from '../../shared/targets/process-table.js';
import { runHttpCheck } from '../../shared/verify/http-check.js';
import { createSampleService, findFreePorts, SAMPLE_START_COMMAND, type SampleService } from '../support/sample-service.js';

const execFileAsync = promisify(execFile);

let svc: SampleService;
let tmp: string;
/** Built working trees per commit (each holds dist/server.js). */
const builds = new Map<string, string>();
let commits: { first: string; second: string; third: string; broken: string };
/** Every target created here, and every (app, env) deployed, for clean-up. */
const targets: ProcessTarget[] = [];
const deployed = new Set<string>();
/** Every process group ever started, to prove at the end that none is left. */
const groups = new Set<number>();

before(async () => {
  svc = await createSampleService();
  tmp = await mkdtemp(join(tmpdir(), 'conveyor-targets-'));
  const first = svc.initialCommit;
  const second = await svc.commitChange('second');
  const third = await svc.commitChange('third');
  const broken = await svc.commitBrokenHealth();
  commits = { first, second, third, broken };
  for (const sha of Object.values(commits)) builds.set(sha, await svc.buildCommit(sha, join(tmp, 'builds', sha)));
});

after(async () => {
  for (const t of targets) {
    for (const key of deployed) {
      const [app, env] = key.split('/') as [string, string];
      await t.stop(app, env).catch(() => undefined);
    }
  }
  // Belt and braces: nothing this file started may outlive it. Only processes that carry a
  // Conveyor instance marker are killed, so a reused group id can never hit a stranger.
  for (const pgid of groups) {
    for (const pid of await groupMembers(pgid)) {
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      if (environ.split('\0').some((e) => e.startsWith('CONVEYOR_INSTANCE_ID='))) process.kill(pid, 'SIGKILL');
    }
  }
  await rm(tmp, { recursive: true, force: true });
  await svc.dispose();
});

function newTarget(options: Partial<ConstructorParameters<typeof ProcessTarget>[0]> = {}): ProcessTarget {
  const t = new ProcessTarget({ root: join(tmp, 'targets'), stopGraceMs: 2_000, ...options });
  targets.push(t);
  return t;
}

function spec(port: number, over: Partial<ProcessTargetSpec> = {}): ProcessTargetSpec {
  return { type: 'process', start: SAMPLE_START_COMMAND, port, env: { GREETING: 'hello' }, startTimeoutMs: 10_000, ...over };
}

/** The revision a test deploys a commit as: a number of its own per commit (the same commit, the same revision). */
const rev = (commit: string): number => parseInt(commit.slice(0, 8), 16);

function request(app: string, environment: string, commit: string, s: ProcessTargetSpec, over: Partial<DeployRequest<ProcessTargetSpec>> = {}): DeployRequest<ProcessTargetSpec> {
  deployed.add(`${app}/${environment}`);
  return {
    app,
    environment,
    revision: rev(commit),
    commit,
    digest: `sha256:${commit}`,
    spec: s,
    // The caller writes the artifact (here: the built dist/ folder) into the release folder.
    materialize: async (dest) => cp(join(builds.get(commit)!, 'dist'), join(dest, 'dist'), { recursive: true }),
    ...over,
  };
}

async function version(port: number): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/version`);
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

/** Live (non-zombie) processes whose process group is `pgid`, straight from /proc. */
async function groupMembers(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await readProcStat(Number(name));
    if (s && s.pgrp === pgid && s.state !== 'Z') out.push(s.pid);
  }
  return out;
}

async function state(t: ProcessTarget, app: string, env: string): Promise<ProcessState> {
  const s = await t.readState(app, env);
  assert.ok(s, 'state.json exists');
  if (s.pgid) groups.add(s.pgid);
  return s;
}

async function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

test('deploys a revision, replaces it without leaving any old process, recognises it from a fresh target, and stops cleanly', async () => {
  const [port] = await findFreePorts(1);
  const t = newTarget();
  const s = spec(port!);

  const first = await t.deploy(request('shop', 'dev', commits.first, s));
  assert.equal(first.ok, true, first.ok ? '' : `${first.reason}\n${first.logTail}`);
  assert.ok(first.ok);
  assert.equal(first.baseUrl, `http://127.0.0.1:${port}`);
  assert.equal(first.unchanged, false);
  const v1 = await version(port!);
  assert.deepEqual(
    { commit: v1.commit, revision: v1.revision, env: v1.env, app: v1.app, message: v1.message },
    { commit: commits.first, revision: String(rev(commits.first)), env: 'dev', app: 'shop', message: 'initial' },
  );
  const s1 = await state(t, 'shop', 'dev');
  assert.equal(s1.status, 'running');
  assert.equal(s1.pgid, s1.pid);
  assert.match(s1.procStartTime ?? '', /^\d+$/);
  assert.equal(s1.releaseDir, join(tmp, 'targets', 'shop', 'dev', 'releases', String(rev(commits.first))));
  assert.match(await readFile(s1.logFile, 'utf8'), /listening on 127\.0\.0\.1:\d+ commit=[0-9a-f]{40}/);
  assert.equal(s1.logFile, join(s1.releaseDir, 'logs', 'output.log'));

  // Replace: the old group is gone before the new one starts, and stays gone.
  const second = await t.deploy(request('shop', 'dev', commits.second, s));
  assert.ok(second.ok, second.ok ? '' : second.reason);
  assert.equal((await version(port!)).commit, commits.second);
  const s2 = await state(t, 'shop', 'dev');
  assert.notEqual(s2.pid, s1.pid);
  assert.deepEqual(await groupMembers(s1.pgid!), [], 'no process of the replaced revision is left');
  assert.match(await readFile(s1.logFile, 'utf8'), /received SIGTERM/, 'the old revision was asked to stop politely');

  // A new ProcessTarget on the same root (as after a Conveyor restart) sees what runs.
  const restarted = newTarget();
  const status = await restarted.status('shop', 'dev');
  assert.equal(status.state, 'running');
  assert.equal(status.running, true);
  assert.equal(status.healthy, true);
  assert.equal(status.commit, commits.second);
  assert.equal(status.revision, rev(commits.second));
  assert.equal(status.digest, `sha256:${commits.second}`);
  assert.equal(status.details.pid, s2.pid);

  assert.ok((await restarted.listEnvironments()).some((e) => e.app === 'shop' && e.environment === 'dev'));

  // ...and can replace and stop what the other instance started.
  const third = await restarted.deploy(request('shop', 'dev', commits.third, s));
  assert.ok(third.ok);
  assert.equal((await version(port!)).commit, commits.third);
  assert.deepEqual(await groupMembers(s2.pgid!), []);
  const s3 = await state(restarted, 'shop', 'dev');

  const stopped = await restarted.stop('shop', 'dev');
  assert.deepEqual(stopped, { ok: true, wasRunning: true, revision: rev(commits.third) });
  assert.deepEqual(await groupMembers(s3.pgid!), []);
  assert.equal(await portIsClosed(port!), true);
  const after = await restarted.status('shop', 'dev');
  assert.equal(after.state, 'stopped');
  assert.equal(after.running, false);
  assert.equal(after.healthy, false);
  assert.deepEqual(await restarted.stop('shop', 'dev'), { ok: true, wasRunning: false, revision: rev(commits.third) });

  // Release folders per revision are kept (three, under the default limit of five).
  assert.deepEqual((await readdir(join(tmp, 'targets', 'shop', 'dev', 'releases'))).sort(), [commits.first, commits.second, commits.third].map((c) => String(rev(c))).sort());
});

test('processes keep running when the Conveyor process that started them exits', async () => {
  const [port] = await findFreePorts(1);
  const root = join(tmp, 'targets');
  const moduleUrl = new URL('../../shared/targets/process.target.js', import.meta.url).href;
  const dist = join(builds.get(commits.first)!, 'dist');
  // A separate Node process plays Conveyor: it deploys, prints the result, and exits.
  const script = `
    import { cp } from 'node:fs/promises';
    import { join } from 'node:path';
    const { ProcessTarget } = await import(${JSON.stringify(moduleUrl)});
    const t = new ProcessTarget({ root: ${JSON.stringify(root)} });
    const r = await t.deploy({
      app: 'shop', environment: 'restart', revision: 1, commit: ${JSON.stringify(commits.first)}, digest: 'sha256:x',
      spec: { type: 'process', start: ${JSON.stringify(SAMPLE_START_COMMAND)}, port: ${port}, env: {}, startTimeoutMs: 10000 },
      materialize: (dest) => cp(${JSON.stringify(dist)}, join(dest, 'dist'), { recursive: true }),
    });
    console.log(JSON.stringify(r));
  `;
  deployed.add('shop/restart');
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)) });
  const result = JSON.parse(stdout) as { ok: boolean };
  assert.equal(result.ok, true, stdout);

  // The deploying process has exited; the service still answers, and a new target knows it.
  assert.equal((await version(port!)).commit, commits.first);
  const t = newTarget();
  const st = await t.status('shop', 'restart');
  assert.equal(st.state, 'running');
  assert.equal(st.healthy, true);
  const s = await state(t, 'shop', 'restart');
  const stopped = await t.stop('shop', 'restart');
  assert.equal(stopped.ok && stopped.wasRunning, true);
  assert.deepEqual(await groupMembers(s.pgid!), []);
});

test('a group with a child that ignores SIGTERM is killed after the grace period, children included', async () => {
  const [port] = await findFreePorts(1);
  const t = newTarget({ stopGraceMs: 300 });
  // A background helper that ignores SIGTERM, then the service itself.
  const s = spec(port!, { start: `(trap '' TERM; exec sleep 600) & exec ${SAMPLE_START_COMMAND}` });
  const r = await t.deploy(request('stubborn', 'dev', commits.first, s));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const st = await state(t, 'stubborn', 'dev');
  // The group holds the service and the helper (and, sandboxed, bwrap and its entry shell).
  const commands = await Promise.all((await groupMembers(st.pgid!)).map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  assert.ok(commands.some((c) => c.startsWith('sleep\u0000600')), `the helper runs in the group: ${commands.join(' | ')}`);
  assert.ok(commands.some((c) => c.startsWith('node\u0000dist/server.js')), `the service runs in the group: ${commands.join(' | ')}`);

  const replaced = await t.deploy(request('stubborn', 'dev', commits.second, spec(port!)));
  assert.ok(replaced.ok);
  assert.deepEqual(await groupMembers(st.pgid!), [], 'the SIGTERM-ignoring helper was SIGKILLed');
  await state(t, 'stubborn', 'dev');
  await t.stop('stubborn', 'dev');
});

test('start failures come back as data with the log tail, and leave nothing running', async () => {
  const [port] = await findFreePorts(1);
  const t = newTarget();

  const exits = await t.deploy(request('broken', 'dev', commits.first, spec(port!, { start: 'echo "cannot find config file" >&2; exit 3' })));
  assert.equal(exits.ok, false);
  assert.ok(!exits.ok);
  assert.match(exits.reason, /exited \(exit code 3\) before port \d+ accepted connections/);
  assert.match(exits.logTail, /cannot find config file/);
  const failed = await t.status('broken', 'dev');
  assert.equal(failed.state, 'failed');
  assert.equal(failed.running, false);
  assert.match(failed.reason ?? '', /exit code 3/);

  const silent = await t.deploy(request('broken', 'dev', commits.first, spec(port!, { start: 'echo started; exec sleep 600', startTimeoutMs: 400 })));
  assert.ok(!silent.ok);
  assert.match(silent.reason, /did not accept connections within 400 ms/);
  assert.match(silent.logTail, /started/);
  const s = await state(t, 'broken', 'dev');
  assert.deepEqual(await groupMembers(s.pgid!), [], 'the process that never listened was killed');
});

test('a port already taken by a foreign process fails the deploy instead of trusting that listener', async () => {
  const foreign = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  const port = (foreign.address() as import('node:net').AddressInfo).port;
  try {
    const t = newTarget();
    const r = await t.deploy(request('squatted', 'dev', commits.first, spec(port)));
    assert.ok(!r.ok);
    assert.match(r.reason, new RegExp(`port ${port} on 127.0.0.1 is already in use`));
    assert.equal((await t.status('squatted', 'dev')).state, 'failed');
  } finally {
    await new Promise<void>((resolve) => foreign.close(() => resolve()));
  }
});

test('redeploying the running revision is a no-op unless forced; a failed materialize leaves the old revision serving', async () => {
  const [port] = await findFreePorts(1);
  const t = newTarget();
  const s = spec(port!);
  const first = await t.deploy(request('idem', 'dev', commits.first, s));
  assert.ok(first.ok);
  const pid = (await state(t, 'idem', 'dev')).pid;

  const again = await t.deploy(request('idem', 'dev', commits.first, s));
  assert.ok(again.ok);
  assert.equal(again.unchanged, true);
  assert.equal((await state(t, 'idem', 'dev')).pid, pid);

  const forced = await t.deploy(request('idem', 'dev', commits.first, s, { force: true }));
  assert.ok(forced.ok);
  assert.equal(forced.unchanged, false);
  const forcedState = await state(t, 'idem', 'dev');
  assert.notEqual(forcedState.pid, pid);
  // The same revision's release folder was refreshed, but its log kept both runs.
  const log = await readFile(forcedState.logFile, 'utf8');
  assert.equal(log.match(/^--- .* starting idem\/dev revision/gm)?.length, 2, log);

  await assert.rejects(
    t.deploy(request('idem', 'dev', commits.second, s, { materialize: async () => Promise.reject(new Error('blob download failed')) })),
    /blob download failed/,
  );
  assert.equal((await version(port!)).commit, commits.first, 'the old revision still serves');
  assert.equal((await state(t, 'idem', 'dev')).pid, forcedState.pid);
  assert.deepEqual((await readdir(join(tmp, 'targets', 'idem', 'dev', 'releases'))).filter((n) => n.startsWith('.')), [], 'no half-written release left');
  await t.stop('idem', 'dev');
});

test('concurrent deploys to one environment run one after the other and leave one process', async () => {
  const [port] = await findFreePorts(1);
  const t = newTarget();
  const s = spec(port!);
  const seen: number[] = [];
  const results = await Promise.all(
    [commits.first, commits.second, commits.third].map(async (c) => {
      const r = await t.deploy(request('race', 'dev', c, s));
      const st = await t.readState('race', 'dev');
      if (st?.pgid) {
        seen.push(st.pgid);
        groups.add(st.pgid);
      }
      return r;
    }),
  );
  assert.ok(results.every((r) => r.ok));
  assert.equal((await version(port!)).commit, commits.third, 'the last request wins');
  const final = await state(t, 'race', 'dev');
  for (const pgid of new Set(seen)) {
    if (pgid !== final.pgid) assert.deepEqual(await groupMembers(pgid), []);
  }
  await t.stop('race', 'dev');
});

test('old release folders are pruned beyond the limit, the current one always kept', async () => {
  const [port] = await findFreePorts(1);
  const t = newTarget({ keepReleases: 2 });
  const s = spec(port!);
  for (const c of [commits.first, commits.second, commits.third]) {
    const r = await t.deploy(request('prune', 'dev', c, s));
    assert.ok(r.ok);
    await state(t, 'prune', 'dev');
  }
  const left = (await readdir(join(tmp, 'targets', 'prune', 'dev', 'releases'))).sort();
  assert.deepEqual(left, [commits.second, commits.third].map((c) => String(rev(c))).sort());
  await t.stop('prune', 'dev');
});

test('a process killed outside Conveyor shows as exited (drift), and a broken build is up but fails verification', async () => {
  const [port] = await findFreePorts(1);
  const t = newTarget();
  const s = spec(port!);
  const r = await t.deploy(request('drift', 'dev', commits.broken, s));
  assert.ok(r.ok, 'the process starts and listens');
  // The port is open, but the HTTP check is what tells it is unhealthy.
  const check = await runHttpCheck(r.baseUrl, { type: 'http', path: '/healthz', expectStatus: 200, bodyContains: 'ok', timeoutMs: 2_000, retries: 0, intervalMs: 0, successes: 1 });
  assert.equal(check.ok, false);
  assert.match(check.reason ?? '', /expected status 200, got 500/);

  const st = await state(t, 'drift', 'dev');
  process.kill(-st.pgid!, 'SIGKILL');
  for (let i = 0; i < 100 && (await groupMembers(st.pgid!)).length > 0; i++) await new Promise((res) => setTimeout(res, 20));
  const status = await t.status('drift', 'dev');
  assert.equal(status.state, 'exited');
  assert.equal(status.running, false);
  assert.match(status.reason ?? '', /no longer running/);
  assert.equal(status.commit, commits.broken);
});

test('a recorded pid that now belongs to another process is not recognised or signalled', async () => {
  const t = newTarget();
  // Forge a state whose pid is this test process but whose start time is different: a
  // "reused pid". status must not claim it runs and stop must not signal it.
  const envDir = t.environmentDir('forged', 'dev');
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(envDir, { recursive: true });
  const self = await readProcStat(process.pid);
  const forged: ProcessState = {
    version: 1, app: 'forged', environment: 'dev', revision: 1, commit: commits.first, digest: 'sha256:x', status: 'running',
    port: 1, baseUrl: 'http://127.0.0.1:1', releaseDir: envDir, logFile: join(envDir, 'none.log'),
    pid: process.pid, pgid: self!.pgrp, procStartTime: String(BigInt(self!.startTime) + 1n), startedAt: new Date().toISOString(),
  };
  await writeFile(join(envDir, 'state.json'), JSON.stringify(forged));
  const status = await t.status('forged', 'dev');
  assert.equal(status.running, false);
  assert.equal(status.state, 'exited');
  const stopped = await t.stop('forged', 'dev');
  assert.deepEqual(stopped, { ok: true, wasRunning: false, revision: 1 });
  // Still alive, obviously: we are that process.
  assert.ok((await stat(`/proc/${process.pid}`)).isDirectory());
});

test('names that could escape the root are rejected, and the registry finds the target by spec type', async () => {
  const t = newTarget();
  await assert.rejects(async () => t.status('../etc', 'dev'), /invalid app name/);
  await assert.rejects(async () => t.deploy(request('shop', 'dev', commits.first, spec(4999), { revision: -1 })), /invalid revision for the process target/);
  assert.throws(() => t.environmentDir('shop', '..'), /invalid environment name/);

  // A damaged state file is reported as such, never acted on.
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(t.environmentDir('damaged', 'dev'), { recursive: true });
  await writeFile(join(t.environmentDir('damaged', 'dev'), 'state.json'), '{"version": 1, "pid": "1"');
  await assert.rejects(t.status('damaged', 'dev'), { name: 'CorruptDataError', message: /is not valid JSON/ });
  await writeFile(join(t.environmentDir('damaged', 'dev'), 'state.json'), JSON.stringify({ version: 1, pid: 'one' }));
  await assert.rejects(t.stop('damaged', 'dev'), { name: 'CorruptDataError', message: /not a process target state record/ });

  const registry = new TargetRegistry([t]);
  assert.equal(registry.forSpec(spec(4999)), t);
  assert.deepEqual(registry.types(), ['process']);
  assert.equal(registry.get('aks'), undefined);
  assert.throws(() => registry.register(newTarget()), /already registered/);
  assert.throws(() => registry.forSpec({ type: 'aks' } as unknown as ProcessTargetSpec), /no deploy target is registered for type "aks"/);
  assert.equal(t.baseUrl('shop', 'dev', spec(4321)), 'http://127.0.0.1:4321');
});

test('orphans of a group whose leader died are recognised by their marker, and only then signalled', async () => {
  const { spawn } = await import('node:child_process');
  const { mkdir, writeFile } = await import('node:fs/promises');
  // A leader that leaves a child behind in its group and exits at once.
  const leader = spawn('bash', ['-c', 'sleep 600 & echo $!; exit 0'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH, CONVEYOR_INSTANCE_ID: 'the-right-one' },
  });
  const pgid = leader.pid!;
  groups.add(pgid);
  const orphan = await new Promise<number>((resolve) => leader.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  await new Promise((resolve) => leader.once('exit', resolve));
  assert.deepEqual(await groupMembers(pgid), [orphan]);

  const t = newTarget({ stopGraceMs: 200 });
  const envDir = t.environmentDir('orphans', 'dev');
  await mkdir(envDir, { recursive: true });
  const forge = (instanceId: string | undefined) =>
    writeFile(
      join(envDir, 'state.json'),
      JSON.stringify({
        version: 1, app: 'orphans', environment: 'dev', revision: 1, commit: commits.first, digest: 'sha256:x', status: 'running',
        port: 1, baseUrl: 'http://127.0.0.1:1', releaseDir: envDir, logFile: join(envDir, 'none.log'), pid: pgid, pgid,
        ...(instanceId ? { instanceId } : {}),
      } satisfies ProcessState),
    );

  for (const other of ['someone-else', undefined]) {
    await forge(other);
    assert.equal((await t.status('orphans', 'dev')).running, false, `with marker ${other} the orphan is not ours`);
    assert.deepEqual(await t.stop('orphans', 'dev'), { ok: true, wasRunning: false, revision: 1 });
    assert.deepEqual(await groupMembers(pgid), [orphan], 'and it was not signalled');
  }

  await forge('the-right-one');
  assert.equal((await t.status('orphans', 'dev')).running, true, 'with the marker it is recognised');
  assert.deepEqual(await t.stop('orphans', 'dev'), { ok: true, wasRunning: true, revision: 1 });
  assert.deepEqual(await groupMembers(pgid), [], 'and stopping leaves nothing behind');
});

test('the sample repository is real git history whose pipeline file is valid', async () => {
  const { parsePipelineSpec } = await import('../../shared/pipeline/parse-pipeline.js');
  const log = (await svc.git('log', '--format=%H %an <%ae> %s')).split('\n');
  assert.deepEqual(
    log.map((l) => l.split(' ')[0]),
    [commits.broken, commits.third, commits.second, commits.first],
  );
  assert.ok(log.every((l) => l.includes('Conveyor Test <conveyor-test@example.com>')));
  assert.equal(await svc.head(), commits.broken);
  assert.equal(await svc.git('status', '--porcelain'), '', 'everything is committed');

  const yaml = await svc.git('show', `${commits.first}:.conveyor/pipeline.yaml`);
  const pipeline = parsePipelineSpec(yaml);
  assert.deepEqual(pipeline.environments.map((e) => [e.name, e.target.type === 'process' ? e.target.port : undefined]), [
    ['dev', svc.ports.dev],
    ['staging', svc.ports.staging],
    ['prod', svc.ports.prod],
  ]);
  assert.equal(pipeline.build.command, 'mkdir -p dist && cp server.js dist/');
  assert.deepEqual(pipeline.build.artifact, ['dist']);
  assert.equal(pipeline.environments[0]!.verify[0]!.path, '/healthz');

  // The built artifact of the broken commit answers 500 on /healthz; the others 200.
  const brokenSource = await readFile(join(builds.get(commits.broken)!, 'dist', 'server.js'), 'utf8');
  assert.match(brokenSource, /HEALTH_STATUS = 500/);
  assert.match(await readFile(join(builds.get(commits.third)!, 'dist', 'server.js'), 'utf8'), /HEALTH_STATUS = 200;[\s\S]*MESSAGE = "third"/);
});

test('the sample repository makes signed push webhooks every provider accepts', async () => {
  const { getProvider } = await import('../../shared/webhooks/provider-registry.js');
  const { sameRepository } = await import('../../shared/git/repo-url.js');
  for (const [provider, secret] of [['github', 'gh-secret'], ['gitlab', 'gl-token'], ['azure-devops', 'conveyor:pw']] as const) {
    const { body, headers } = await svc.pushWebhook({ provider, secret, commit: commits.second, deliveryId: `d-${provider}` });
    const p = getProvider(provider)!;
    assert.deepEqual(await p.verify(body, headers, secret), { ok: true }, provider);
    assert.equal((await p.verify(body, headers, 'wrong:secret')).ok, false, provider);
    const parsed = p.parse(body, headers);
    assert.equal(parsed.kind, 'push', `${provider}: ${JSON.stringify(parsed)}`);
    if (parsed.kind !== 'push') continue;
    assert.equal(parsed.event.commit, commits.second);
    assert.equal(parsed.event.before, commits.first);
    assert.equal(parsed.event.branch, 'main');
    assert.equal(parsed.event.deliveryId, `d-${provider}`);
    assert.equal(parsed.event.headCommit?.message.trim(), 'second');
    assert.ok(parsed.event.repository.urls.some((u) => sameRepository(u, svc.dir)), provider);
  }
  const first = await svc.pushWebhook({ secret: 's', commit: commits.first });
  assert.equal((JSON.parse(first.body.toString()) as { before: string }).before, '0'.repeat(40));
});

test('parseProcStat reads fields after a command name with spaces and parentheses', async () => {
  const { parseProcStat } = await import('../../shared/targets/process-table.js');
  const line = '4242 (my (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654321 1000000 200 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { pid: 4242, state: 'S', ppid: 1, pgrp: 4242, session: 4242, startTime: '987654321' });
  assert.equal(parseProcStat('garbage'), undefined);
  const self = await readProcStat(process.pid);
  assert.equal(self?.pid, process.pid);
  assert.equal(self?.state === 'R' || self?.state === 'S', true);
});

test('a state file written before the vocabulary was unified (artifactDigest, the revision as text) reads as digest and a revision number, nothing else changed', async () => {
  const t = newTarget();
  const dir = t.environmentDir('legacy', 'dev');
  await mkdir(dir, { recursive: true });
  const old = { version: 1, app: 'legacy', environment: 'dev', revision: '3', commit: 'c'.repeat(40), artifactDigest: `sha256:${'d'.repeat(64)}`, status: 'stopped', port: 1, baseUrl: 'http://127.0.0.1:1', releaseDir: join(dir, 'releases', '3'), logFile: join(dir, 'releases', '3', 'service.log'), stoppedAt: 't' };
  await writeFile(join(dir, 'state.json'), JSON.stringify(old));
  const { artifactDigest, ...rest } = old;
  assert.deepEqual(await t.readState('legacy', 'dev'), { ...rest, revision: 3, digest: artifactDigest });
  assert.equal((await t.status('legacy', 'dev')).revision, 3);
});
