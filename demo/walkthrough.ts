#!/usr/bin/env node
/**
 * `npm run demo`: the whole Conveyor story, step by step, on its own state folder.
 *
 *   node dist/demo/walkthrough.js [--state-dir DIR] [--port N] [--env-ports A,B,C] [--verbose]
 *
 * push -> dev -> staging -> prod waits for approval -> approve via the API -> prod; a second
 * good commit, approved too; a broken commit (healthz 500) fails verification in dev and is
 * rolled back automatically; prod is rolled back through the rollback API; finally the
 * environment matrix and what each port serves. Each run makes new commits in the same
 * repository, so it works again and again. Every process it started (Conveyor, Azurite, the
 * deployed environments) is stopped at the end. Exit 0 only when every step did what it should.
 */
import { connect } from 'node:net';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerDemoApp, startDemoConveyor, stopEnvironments, type ConveyorClient, type DemoConveyor } from './conveyor.js';
import { DEMO_APP, DEMO_APPROVER, DEMO_ENVIRONMENTS, demoServerSource, openDemoRepo, type DemoRepo, type EnvironmentPorts } from './demo-repo.js';
import { demoPaths, installPostCommitHook, loadSecrets, parseEnvironmentPorts, parsePort, REPO_ROOT, type DemoPaths } from './demo-state.js';
import { describeServed, followRun, RunProgress, served, statusWord, style, TERMINAL, type RunView } from './progress.js';

/** Defaults differ from `npm start`'s so both can run at once. */
const DEFAULT_PORT = 7171;
const DEFAULT_ENV_PORTS = '8111,8112,8113';

const usage = `usage: npm run demo -- [options]   (or: node dist/demo/walkthrough.js [options])

  --state-dir DIR     state folder (default: $CONVEYOR_DEMO_STATE_DIR or .conveyor/demo-walkthrough)
  --port N            Conveyor's HTTP port on 127.0.0.1 (default: $CONVEYOR_DEMO_PORT or ${DEFAULT_PORT}; 0 = free)
  --env-ports A,B,C   ports of dev, staging, prod (default: $CONVEYOR_DEMO_ENV_PORTS or ${DEFAULT_ENV_PORTS})
  --verbose           also print Conveyor's log
  -h, --help          this text`;

/** A step that did not do what it should. */
class DemoFailure extends Error {}

const print = (line = '') => process.stdout.write(`${line}\n`);
const ok = (text: string) => print(`    ${style.green('✓')} ${text}`);
const info = (text: string) => print(`    ${text}`);
function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new DemoFailure(message);
}

let stepNo = 0;
let currentStep = 'start-up';
/** Wall-clock time of each finished step, for the summary. */
const timings: { step: string; ms: number }[] = [];
let stepStarted = Date.now();
function endStep(): void {
  if (stepNo > 0) timings.push({ step: currentStep, ms: Date.now() - stepStarted });
}
function step(title: string): void {
  endStep();
  currentStep = `${++stepNo}. ${title}`;
  stepStarted = Date.now();
  print();
  print(style.bold(style.cyan(`${currentStep}`)));
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

interface Options {
  paths: DemoPaths;
  port: number;
  ports: EnvironmentPorts;
  verbose: boolean;
}

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      'state-dir': { type: 'string' },
      port: { type: 'string' },
      'env-ports': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    print(usage);
    return undefined;
  }
  const stateDir = values['state-dir'] ?? process.env.CONVEYOR_DEMO_STATE_DIR ?? join(REPO_ROOT, '.conveyor', 'demo-walkthrough');
  return {
    paths: demoPaths(stateDir),
    port: parsePort(values.port ?? process.env.CONVEYOR_DEMO_PORT ?? String(DEFAULT_PORT), '--port'),
    ports: parseEnvironmentPorts(values['env-ports'] ?? process.env.CONVEYOR_DEMO_ENV_PORTS ?? DEFAULT_ENV_PORTS, '--env-ports'),
    verbose: values.verbose === true,
  };
}

/** The story. Throws DemoFailure when a step does not do what it should. */
async function story(options: Options, conveyor: DemoConveyor, repo: DemoRepo, walkthrough: number): Promise<void> {
  const { client } = conveyor;
  const { ports } = options;
  const approvalWaiting = (r: RunView) => r.environments?.prod?.status === 'Pending' && !!r.environments.prod.approval?.waitingSince;
  const finished = (r: RunView) => TERMINAL.has(r.status);

  /** Commits files; the post-commit hook sends the webhook. Returns the run id. */
  const push = async (title: string, files: Record<string, string>): Promise<{ sha: string; runId: string }> => {
    await repo.write(files);
    const { sha, hookOutput } = await repo.commitAll(title);
    info(`git commit -> ${style.bold(sha.slice(0, 7))} "${title}"`);
    for (const line of hookOutput.split('\n').filter((l) => l.trim() !== '')) info(style.dim(line));
    expect(/ -> accepted run /.test(hookOutput), `the post-commit hook did not get commit ${sha.slice(0, 7)} accepted by Conveyor:\n${hookOutput}`);
    return { sha, runId: `${DEMO_APP}.${sha}` };
  };
  const expectServes = async (env: keyof EnvironmentPorts, sha: string, what: string) => {
    const s = await served(ports[env]);
    expect(s?.commit === sha, `${env} (:${ports[env]}) should serve ${sha.slice(0, 7)} ${what}, but serves ${describeServed(s)}`);
    ok(`${env} :${ports[env]} serves ${describeServed(s)}`);
  };
  const approve = async (runId: string) => {
    const path = `/api/runs/${encodeURIComponent(runId)}/environments/prod/approval`;
    const anonymous = await client.request('POST', path, { json: { decision: 'approve' } });
    expect(anonymous.status === 401, `approving without an identity should be refused with 401, got ${anonymous.status}: ${anonymous.text.slice(0, 300)}`);
    ok(`without an identity the approval is refused (${anonymous.status})`);
    info(`POST ${path}  as ${DEMO_APPROVER.id}  {"decision":"approve"}`);
    const res = await client.request('POST', path, { identity: true, json: { decision: 'approve', comment: `demo walkthrough ${walkthrough}` } });
    expect(res.status === 202, `the approval should be accepted with 202, got ${res.status}: ${res.text.slice(0, 300)}`);
    ok(`approval recorded (${res.status})`);
  };
  /** Push a good commit and take it all the way to prod. */
  const shipToProd = async (title: string, message: string) => {
    const { sha, runId } = await push(title, { 'message.txt': `${message}\n`, 'server.js': demoServerSource(200) });
    const progress = new RunProgress(print, ports);
    const waiting = await followRun(client, runId, { until: approvalWaiting, progress, what: 'prod waiting for approval' });
    expect(waiting.environments?.dev?.status === 'Succeeded' && waiting.environments.staging?.status === 'Succeeded', 'dev and staging should be deployed and verified before prod waits');
    await expectServes('dev', sha, 'after the push');
    await expectServes('staging', sha, 'after the push');
    const prodBefore = await served(ports.prod);
    expect(prodBefore?.commit !== sha, 'prod must not run the commit before it is approved');
    ok(`prod ${prodBefore ? `still serves ${describeServed(prodBefore)}` : `does not run it (nothing answers on :${ports.prod})`} while it waits for the approval`);
    await approve(runId);
    const done = await followRun(client, runId, { until: finished, progress, what: 'the end of the run' });
    expect(done.status === 'Succeeded', `the run should succeed, but it is ${done.status}${done.reason ? `: ${done.reason}` : ''}`);
    await expectServes('prod', sha, 'once approved');
    return { sha, runId, run: done };
  };

  step('Push a change: build once, test, deploy dev -> staging; prod waits for an approval');
  const first = await shipToProd(`Demo walkthrough ${walkthrough}: first change`, `Hello from walkthrough ${walkthrough}, change 1`);
  const firstProdRevision = first.run.environments?.prod?.revision;

  step('Push a second good commit and approve it too');
  const second = await shipToProd(`Demo walkthrough ${walkthrough}: second change`, `Hello from walkthrough ${walkthrough}, change 2`);
  for (const env of ['dev', 'staging'] as const) {
    const s = await served(ports[env]);
    expect(s?.commit === second.sha, `${env} should still serve ${second.sha.slice(0, 7)}, but serves ${describeServed(s)}`);
  }
  ok(`dev, staging and prod all serve ${second.sha.slice(0, 7)}`);

  step('Push a broken commit (/healthz answers 500): dev fails verification and rolls back automatically');
  const broken = await push(`Demo walkthrough ${walkthrough}: break /healthz`, { 'message.txt': `Broken build from walkthrough ${walkthrough}\n`, 'server.js': demoServerSource(500) });
  const failed = await followRun(client, broken.runId, { until: finished, progress: new RunProgress(print, ports), what: 'the end of the run' });
  expect(failed.status === 'Failed', `the broken commit's run should be Failed, but it is ${failed.status}`);
  const dev = failed.environments?.dev;
  expect(dev?.status === 'Failed', `dev should be Failed, but it is ${dev?.status}`);
  expect(dev.rolledBackTo !== undefined, 'dev should have been rolled back automatically (rolledBackTo)');
  ok(`the run ${statusWord(failed.status)} and dev rolled back by itself to revision ${dev.rolledBackTo}`);
  for (const env of ['staging', 'prod'] as const) {
    const status = failed.environments?.[env]?.status;
    expect(status === 'Skipped', `${env} should be Skipped after dev failed, but it is ${status}`);
  }
  ok('staging and prod were not touched (Skipped)');
  await expectServes('dev', second.sha, 'again after the automatic rollback');
  await expectServes('staging', second.sha, 'still');
  await expectServes('prod', second.sha, 'still');

  step('Roll prod back through the rollback API to the previous release');
  expect(typeof firstProdRevision === 'number', `the first run should have recorded prod's revision, got ${String(firstProdRevision)}`);
  const rollbackPath = `/api/apps/${DEMO_APP}/environments/prod/rollback`;
  info(`POST ${rollbackPath}  as ${DEMO_APPROVER.id}  {"toRevision":${firstProdRevision}}`);
  const started = await client.request<{ operationId?: string; statusUrl?: string }>('POST', rollbackPath, {
    identity: true,
    json: { toRevision: firstProdRevision, reason: `demo walkthrough ${walkthrough}: back to the first change` },
  });
  expect(started.status === 202 && started.body.statusUrl, `the rollback should be accepted with 202 and a statusUrl, got ${started.status}: ${started.text.slice(0, 300)}`);
  ok(`rollback accepted: operation ${started.body.operationId}`);
  const operation = await followOperation(client, started.body.statusUrl);
  expect(operation.status === 'Succeeded', `the rollback should succeed, but it is ${operation.status}${operation.reason ? `: ${operation.reason}` : ''}`);
  await expectServes('prod', first.sha, 'after the rollback');
  const history = await client.request<{ records?: { revision: number; kind: string; status: string; commit: string; rolledBackTo?: number }[] }>('GET', `/api/apps/${DEMO_APP}/environments/prod/history?pageSize=4`);
  if (history.status === 200 && history.body.records) {
    info('prod history (newest first):');
    for (const r of history.body.records) {
      info(`  revision ${String(r.revision).padEnd(3)} ${r.kind.padEnd(8)} ${statusWord(r.status).padEnd(9)} ${r.commit.slice(0, 7)}${r.rolledBackTo !== undefined ? ` (back to revision ${r.rolledBackTo})` : ''}`);
    }
  }

  // A requested rollback freezes the environment, so the next push does not redeploy the change
  // that was just rolled back; someone allowed to roll back lifts it.
  const unfreezePath = `/api/apps/${DEMO_APP}/environments/prod/unfreeze`;
  info(`prod is frozen after the rollback; POST ${unfreezePath}  as ${DEMO_APPROVER.id}`);
  const unfrozen = await client.request('POST', unfreezePath, { identity: true, json: { reason: `demo walkthrough ${walkthrough}: the rollback is done` } });
  expect(unfrozen.status === 200, `the unfreeze should answer 200, got ${unfrozen.status}: ${unfrozen.text.slice(0, 300)}`);
  ok('prod unfrozen');

  step(`The environment matrix (GET /api/apps/${DEMO_APP}) and what each port serves`);
  const appRes = await client.request<{ environments?: { name: string; revision?: number; commit?: string; kind?: string; status?: string; healthy?: boolean }[] }>('GET', `/api/apps/${DEMO_APP}`);
  expect(appRes.status === 200 && Array.isArray(appRes.body.environments), `GET /api/apps/${DEMO_APP} should list environments, got ${appRes.status}: ${appRes.text.slice(0, 300)}`);
  const expected: Record<string, string> = { dev: second.sha, staging: second.sha, prod: first.sha };
  print(`    ${'env'.padEnd(8)} ${'revision'.padEnd(8)} ${'commit'.padEnd(7)} ${'kind'.padEnd(8)} ${'healthy'.padEnd(7)} port   serves`);
  for (const env of DEMO_ENVIRONMENTS) {
    const row = appRes.body.environments.find((e) => e.name === env);
    const s = await served(ports[env]);
    print(`    ${env.padEnd(8)} ${String(row?.revision ?? '-').padEnd(8)} ${(row?.commit ?? '-').slice(0, 7).padEnd(7)} ${(row?.kind ?? '-').padEnd(8)} ${String(row?.healthy ?? '-').padEnd(7)} ${String(ports[env]).padEnd(6)} ${describeServed(s)}`);
    expect(row?.commit === expected[env], `the matrix should show ${env} at ${expected[env]!.slice(0, 7)}, shows ${row?.commit?.slice(0, 7)}`);
    expect(row.healthy === true, `the matrix should show ${env} healthy`);
    expect(s?.commit === expected[env], `${env} should serve ${expected[env]!.slice(0, 7)}`);
  }
  ok('code in the repo == what runs in each environment (the matrix matches every port)');
}

interface OperationView {
  operationId?: string;
  status: string;
  reason?: string;
  revision?: number;
  rolledBackTo?: number;
}

/** Polls a rollback operation's status URL, printing each change. */
async function followOperation(client: ConveyorClient, statusUrl: string): Promise<OperationView> {
  const path = statusUrl.startsWith('http') ? new URL(statusUrl).pathname : statusUrl;
  const started = Date.now();
  let last = '';
  let view: OperationView | undefined;
  while (Date.now() - started < 120_000) {
    const res = await client.request<OperationView>('GET', path);
    if (res.status === 200) {
      view = res.body;
      const line = `${view.status}${view.revision !== undefined ? `, revision ${view.revision}` : ''}${view.rolledBackTo !== undefined ? ` (redeploys revision ${view.rolledBackTo})` : ''}${view.reason ? `: ${view.reason}` : ''}`;
      if (line !== last) {
        last = line;
        info(`${style.dim(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`)} ${'rollback'.padEnd(9)} ${statusWord(view.status)}${line.slice(view.status.length)}`);
      }
      if (TERMINAL.has(view.status)) return view;
    } else if (res.status !== 404) {
      throw new DemoFailure(`GET ${path} answered ${res.status}: ${res.text.slice(0, 300)}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new DemoFailure(`the rollback operation did not finish in 120 s (last: ${view ? view.status : 'never found'})`);
}

function logTail(file: string, lines: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  } catch {
    return [];
  }
}

async function main(): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions();
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  if (!options) return 0;
  const { paths, ports } = options;
  const counterFile = join(paths.root, 'walkthrough.json');
  const walkthrough = (existsSync(counterFile) ? ((JSON.parse(readFileSync(counterFile, 'utf8')) as { runs?: number }).runs ?? 0) : 0) + 1;

  print(style.bold(`Conveyor demo walkthrough #${walkthrough}`));
  print(style.dim(`state ${paths.root}; Conveyor on 127.0.0.1:${options.port || '(free port)'}; dev :${ports.dev}, staging :${ports.staging}, prod :${ports.prod}`));

  let conveyor: DemoConveyor | undefined;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    print(style.yellow('\ninterrupted: stopping Conveyor and the environments...'));
    void (conveyor?.stop({ environments: true }) ?? stopEnvironments(paths)).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    step('Start Conveyor with the demo app registered');
    // Environments a killed earlier walkthrough left behind are ours to stop; anything else on
    // the ports is someone else's, and deploying next to it would verify the wrong server.
    const leftovers = await stopEnvironments(paths);
    if (leftovers.length) info(`stopped environments left by an interrupted run: ${leftovers.join(', ')}`);
    for (const env of DEMO_ENVIRONMENTS) {
      if (await portInUse(ports[env])) throw new DemoFailure(`port ${ports[env]} (${env}) is in use by another program; choose others with --env-ports A,B,C`);
    }
    const { repo, created, pipelineUpdated } = await openDemoRepo(paths.repo, ports);
    info(`${created ? 'created' : 'reusing'} the demo repository ${repo.dir}${pipelineUpdated ? ' (committed an updated pipeline file)' : ''}`);
    const secrets = loadSecrets(paths);
    try {
      conveyor = await startDemoConveyor({
        paths,
        secrets,
        port: options.port,
        log: options.verbose ? (line) => process.stderr.write(`${style.dim(line)}\n`) : undefined,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new DemoFailure(`port ${options.port} is in use; choose another with --port N`);
      throw err;
    }
    ok(`Conveyor is up at ${conveyor.host.origin} (log: ${paths.log})`);
    const registered = await registerDemoApp(conveyor.client, repo.url);
    ok(`app "${DEMO_APP}" ${registered} (PUT /api/apps/${DEMO_APP}) for ${repo.url}`);
    const hook = installPostCommitHook(paths, conveyor.host.origin);
    ok(`post-commit hook installed: ${hook}`);

    // Counted before the story, so a run that is interrupted never hands its number (and so its
    // commit contents) to the next one.
    writeFileSync(counterFile, JSON.stringify({ runs: walkthrough }) + '\n');
    await story(options, conveyor, repo, walkthrough);
    endStep();

    print();
    print(style.bold('Stopping Conveyor and the environments it deployed'));
    await conveyor.stop({ environments: true });
    for (const env of DEMO_ENVIRONMENTS) expect(!(await portInUse(ports[env])), `${env} (:${ports[env]}) still answers after stopping`);
    ok('everything the demo started is stopped');
    print();
    print(style.bold('Time per step'));
    for (const t of timings) print(`    ${(t.ms / 1000).toFixed(1).padStart(5)}s  ${t.step.split(':')[0]}`);
    print();
    print(style.green(style.bold(`Demo complete: every step did what it should (walkthrough #${walkthrough}).`)));
    return 0;
  } catch (err) {
    // A step's verdict reads best as a sentence; the stack only helps when asked for (--verbose).
    const message = err instanceof Error ? (options.verbose && !(err instanceof DemoFailure) ? (err.stack ?? err.message) : err.message) : String(err);
    print();
    print(style.red(style.bold(`DEMO FAILED at step ${currentStep}`)));
    print(style.red(message));
    const tail = logTail(paths.log, 25);
    if (tail.length) {
      print(style.dim(`--- last lines of ${paths.log}`));
      for (const line of tail) print(style.dim(line));
    }
    await (conveyor?.stop({ environments: true }) ?? stopEnvironments(paths)).catch((e: unknown) => print(style.red(`clean-up failed: ${String(e)}`)));
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
