#!/usr/bin/env node
/**
 * `npm start`: Conveyor on the embedded default (local host + Azurite + SQLite + the process
 * target) with a demo app already registered, ready for `git commit` to deploy.
 *
 *   node dist/demo/start.js [--state-dir DIR] [--port N] [--env-ports A,B,C] [--verbose] [--keep-environments]
 *
 * On start: creates (first time) or reuses the demo repository, generates (first time) the
 * webhook secret and the approver's API token, starts the host, registers the app through
 * PUT /api/apps/demo, installs the repository's post-commit hook, sends the tip of main once (a commit
 * made while Conveyor was down deploys now; an already-run commit is a no-op), prints the
 * URLs, keys and the exact commands to push, approve and roll back, and then follows runs as
 * they happen. Ctrl-C stops Conveyor and the demo environments (unless --keep-environments).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { registerDemoApp, startDemoConveyor, type ConveyorClient, type DemoConveyor } from './conveyor.js';
import { DEMO_APP, DEMO_APPROVER, DEMO_BRANCH, DEMO_ENVIRONMENTS, openDemoRepo, type DemoRepo, type EnvironmentPorts } from './demo-repo.js';
import { demoPaths, installPostCommitHook, loadSecrets, parseEnvironmentPorts, parsePort, REPO_ROOT, type DemoPaths, type DemoSecrets } from './demo-state.js';
import { describeServed, RunProgress, served, style, TERMINAL, type RunView } from './progress.js';
import { sendPush } from './push-webhook.js';
import { printEvents, type EventPrinter } from './event-printer.js';

const DEFAULT_PORT = 7071;
const DEFAULT_ENV_PORTS = '8101,8102,8103';

const usage = `usage: npm start -- [options]   (or: node dist/demo/start.js [options])

  --state-dir DIR        state folder (default: $CONVEYOR_START_STATE_DIR or .conveyor/demo)
  --port N               Conveyor's HTTP port on 127.0.0.1 (default: $CONVEYOR_START_PORT or ${DEFAULT_PORT}; 0 = free)
  --env-ports A,B,C      ports of dev, staging, prod (default: $CONVEYOR_START_ENV_PORTS or ${DEFAULT_ENV_PORTS})
  --verbose              print Conveyor's whole log (default: warnings and errors; all of it is in <state>/conveyor.log)
  --keep-environments    leave the deployed environments running on Ctrl-C
  -h, --help             this text`;

const print = (line = '') => process.stdout.write(`${line}\n`);
/** Single-quotes a value for a POSIX shell (the printed commands must paste as they are). */
const sh = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

interface Options {
  paths: DemoPaths;
  port: number;
  ports: EnvironmentPorts;
  verbose: boolean;
  keepEnvironments: boolean;
}

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      'state-dir': { type: 'string' },
      port: { type: 'string' },
      'env-ports': { type: 'string' },
      verbose: { type: 'boolean' },
      'keep-environments': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    print(usage);
    return undefined;
  }
  return {
    paths: demoPaths(values['state-dir'] ?? process.env.CONVEYOR_START_STATE_DIR ?? join(REPO_ROOT, '.conveyor', 'demo')),
    port: parsePort(values.port ?? process.env.CONVEYOR_START_PORT ?? String(DEFAULT_PORT), '--port'),
    ports: parseEnvironmentPorts(values['env-ports'] ?? process.env.CONVEYOR_START_ENV_PORTS ?? DEFAULT_ENV_PORTS, '--env-ports'),
    verbose: values.verbose === true,
    keepEnvironments: values['keep-environments'] === true,
  };
}

interface MatrixRow {
  name: string;
  revision?: number;
  commit?: string;
  kind?: string;
  status?: string;
  healthy?: boolean;
  runId?: string;
}

/** The banner: where everything is and exactly what to type. */
async function banner(options: Options, conveyor: DemoConveyor, repo: DemoRepo, secrets: DemoSecrets): Promise<string[]> {
  const { origin, keys } = conveyor.host;
  const { ports, paths } = options;
  const app = await conveyor.client.request<{ environments?: MatrixRow[] }>('GET', `/api/apps/${DEMO_APP}`);
  const rows = app.status === 200 ? (app.body.environments ?? []) : [];
  const fk = `-H ${sh(`x-functions-key: ${keys.function}`)}`;
  const who = `-H ${sh(`Authorization: Bearer ${secrets.approverToken}`)}`;
  const head = `$(git -C ${sh(repo.dir)} rev-parse HEAD)`;
  const out = [
    '',
    style.bold(`Conveyor is running at ${origin}`) + style.dim('   (Ctrl-C stops it)'),
    '',
    `  Dashboard      ${origin}/api/dashboard   (sign in with the function key, and the approver's API token to approve and roll back)`,
    `  CLI            CONVEYOR_URL=${origin} CONVEYOR_KEY=${keys.function} node dist/cli/conveyor.js status`,
    `  API            ${origin}/api   (every call needs a key; OpenAPI: ${origin}/api/openapi.json?code=${keys.function})`,
    `  Function key   ${keys.function}   (header x-functions-key)`,
    `  Master key     ${keys.master}   (admin: PUT /api/apps/...)`,
    `  Approver       ${DEMO_APPROVER.id}, API token ${secrets.approverToken}   (header Authorization: Bearer ...)`,
    `  Webhook        POST ${origin}/api/webhooks/github, secret in ${paths.secrets}`,
    `  Log            ${paths.log}`,
    '',
    style.bold(`  App "${DEMO_APP}"`) + `  repository ${repo.dir}  (branch ${DEMO_BRANCH}; its post-commit hook deploys every commit)`,
  ];
  for (const env of DEMO_ENVIRONMENTS) {
    const row = rows.find((r) => r.name === env);
    const s = await served(ports[env]);
    let state: string;
    if (row?.revision === undefined) state = 'nothing deployed yet';
    else if (s) state = `revision ${row.revision}, serves ${describeServed(s)}`;
    else state = `revision ${row.revision} (${(row.commit ?? '').slice(0, 7)}) is recorded but not running: it stopped with Conveyor; the next commit deploys again`;
    out.push(`    ${env.padEnd(8)} http://127.0.0.1:${ports[env]}/   ${state}${env === 'prod' ? style.dim(`   (needs an approval by ${DEMO_APPROVER.id})`) : ''}`);
  }
  out.push(
    '',
    style.bold('Push a change') + ' (the hook sends a signed push webhook; dev and staging deploy, prod waits):',
    `  cd ${sh(repo.dir)}`,
    `  echo "Hello from my first change" > message.txt && git commit -am "Say hello"`,
    '',
    style.bold('Follow the run:'),
    `  curl -s ${fk} ${origin}/api/runs/${DEMO_APP}.${head}`,
    '',
    style.bold('Approve prod') + ` (as ${DEMO_APPROVER.id}):`,
    `  curl -s -X POST ${fk} ${who} -H 'content-type: application/json' -d '{"decision":"approve"}' \\`,
    `    ${origin}/api/runs/${DEMO_APP}.${head}/environments/prod/approval`,
    '',
    style.bold('Ship a broken commit') + ' (/healthz answers 500: dev fails verification and rolls back by itself):',
    `  sed -i 's/^const HEALTHZ_STATUS = 200;/const HEALTHZ_STATUS = 500;/' server.js && git commit -am "Break healthz"`,
    `  sed -i 's/^const HEALTHZ_STATUS = 500;/const HEALTHZ_STATUS = 200;/' server.js && git commit -am "Fix healthz"`,
    '',
    style.bold('Roll prod back') + ' to its previous good revision (or add "toRevision": N):',
    `  curl -s -X POST ${fk} ${who} -H 'content-type: application/json' -d '{"reason":"trying it out"}' \\`,
    `    ${origin}/api/apps/${DEMO_APP}/environments/prod/rollback`,
    `  curl -s ${fk} <statusUrl from the answer>   ${style.dim('# the rollback operation: Running, then Succeeded or Failed')}`,
    '',
    style.bold('What runs where:'),
    `  curl -s ${fk} ${origin}/api/apps/${DEMO_APP}`,
    `  curl -s ${fk} ${origin}/api/apps/${DEMO_APP}/environments/prod/history`,
    '',
  );
  return out;
}

/**
 * Follows the app's runs as they happen: GET /api/apps/demo/runs (newest first), one progress
 * printer per run. Runs already finished when Conveyor started are history, not news.
 */
class RunFollower {
  private readonly progress = new Map<string, RunProgress>();
  private readonly ignored = new Set<string>();
  private primed = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: ConveyorClient,
    private readonly repo: DemoRepo,
    private readonly ports: EnvironmentPorts,
  ) {}

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await this.poll();
      } catch (err) {
        // Conveyor is stopping or busy: the next tick tries again.
        if (!this.stopped && process.env.CONVEYOR_DEMO_DEBUG) print(style.dim(`(follow: ${(err as Error).message})`));
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), 500);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Last matrix row seen per environment: rollbacks requested through the API show up here. */
  private matrix: Map<string, MatrixRow> | undefined;

  private async pollMatrix(): Promise<void> {
    const res = await this.client.request<{ environments?: MatrixRow[] }>('GET', `/api/apps/${DEMO_APP}`);
    if (res.status !== 200 || !Array.isArray(res.body.environments)) return;
    const previous = this.matrix;
    this.matrix = new Map(res.body.environments.map((row) => [row.name, row]));
    if (!previous) return;
    for (const row of res.body.environments) {
      const before = previous.get(row.name);
      const port = this.ports[row.name as keyof EnvironmentPorts];
      // Runs report their own deployments (and automatic rollbacks); other changes are news.
      const fromRun = row.runId?.startsWith(`${DEMO_APP}.`) === true;
      if (before?.revision !== row.revision && row.kind === 'rollback' && !fromRun) {
        const serves = port !== undefined ? `; :${port} serves ${describeServed(await served(port))}` : '';
        print(`${style.bold('rollback')} ${row.name} now runs revision ${row.revision} (commit ${(row.commit ?? '').slice(0, 7)}, ${row.status})${serves}` + style.dim(`  ${row.runId ?? ''}`));
      }
    }
  }

  private async poll(): Promise<void> {
    await this.pollMatrix();
    const res = await this.client.request<{ runs?: RunView[] }>('GET', `/api/apps/${DEMO_APP}/runs?pageSize=5`);
    let runs: RunView[];
    if (res.status === 200 && Array.isArray(res.body.runs)) runs = [...res.body.runs].reverse();
    else {
      // Without the run list, the repository's HEAD names the run that matters.
      const head = await this.repo.head();
      const one = await this.client.request<RunView>('GET', `/api/runs/${DEMO_APP}.${head}`);
      runs = one.status === 200 ? [one.body] : [];
    }
    // Runs still being followed stay followed even when they drop off the list (or HEAD moved on).
    for (const runId of this.progress.keys()) {
      if (runs.some((r) => r.runId === runId)) continue;
      const again = await this.client.request<RunView>('GET', `/api/runs/${encodeURIComponent(runId)}`);
      if (again.status === 200) runs.unshift(again.body);
    }
    if (!this.primed) {
      for (const run of runs) if (TERMINAL.has(run.status)) this.ignored.add(run.runId);
      this.primed = true;
    }
    for (const listed of runs) {
      if (this.ignored.has(listed.runId)) continue;
      let progress = this.progress.get(listed.runId);
      if (!progress) {
        progress = new RunProgress(print, this.ports, `  ${style.dim(listed.commit.slice(0, 7))} `);
        this.progress.set(listed.runId, progress);
        const subject = await this.repo.git('log', '-1', '--format=%s', listed.commit).catch(() => '');
        print(style.bold(`run ${listed.runId.slice(0, DEMO_APP.length + 8)} "${subject}"`) + style.dim(`  ${this.client.origin}/api/runs/${listed.runId}`));
      }
      // The single-run endpoint carries the live approval state.
      const full = await this.client.request<RunView>('GET', `/api/runs/${encodeURIComponent(listed.runId)}`);
      const run = full.status === 200 ? full.body : listed;
      await progress.update(run);
      if (TERMINAL.has(run.status)) {
        this.ignored.add(run.runId);
        this.progress.delete(run.runId);
      }
    }
  }
}

async function main(): Promise<void> {
  let options: Options | undefined;
  try {
    options = parseOptions();
  } catch (err) {
    process.stderr.write(`conveyor: ${(err as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if (!options) return;
  const opts = options;
  const { paths } = opts;

  let conveyor: DemoConveyor | undefined;
  const running: { follower?: RunFollower; events?: EventPrinter } = {};
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      process.stderr.write(`conveyor: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    running.follower?.stop();
    void running.events?.stop();
    if (!conveyor) process.exit(0);
    print(style.yellow(`\n${signal}: stopping Conveyor${opts.keepEnvironments ? ' (environments keep running)' : ' and the demo environments'}...`));
    conveyor.stop({ environments: !opts.keepEnvironments }).then(
      () => {
        print('stopped.');
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`conveyor: shutdown failed: ${String((err as Error)?.stack ?? err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const { repo, created, pipelineUpdated } = await openDemoRepo(paths.repo, opts.ports);
  print(`${created ? 'Created' : 'Reusing'} the demo repository ${repo.dir}${pipelineUpdated ? ' (committed an updated pipeline file)' : ''}`);
  const secrets = loadSecrets(paths);
  print(`Starting Conveyor (state ${paths.root})...`);
  try {
    conveyor = await startDemoConveyor({
      paths,
      secrets,
      port: opts.port,
      log: (line, level) => {
        if (opts.verbose || level === 'warn' || level === 'error') process.stderr.write(`${style.dim(line)}\n`);
      },
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`conveyor: port ${opts.port} is in use (another \`npm start\`?); choose another with --port N or CONVEYOR_START_PORT\n`);
      process.exit(1);
    }
    throw err;
  }
  try {
    const registered = await registerDemoApp(conveyor.client, repo.url);
    installPostCommitHook(paths, conveyor.host.origin);
    print(`App "${DEMO_APP}" ${registered}; post-commit hook installed.`);

    // The tip of the tracked branch (not HEAD: the person may have another branch checked out).
    const tip = await repo.git('rev-parse', `refs/heads/${DEMO_BRANCH}`);
    const catchUp = await sendPush({ origin: conveyor.host.origin, secret: secrets.webhookSecret, repo, commit: tip, branch: DEMO_BRANCH });
    const at = `${DEMO_BRANCH} ${tip.slice(0, 7)}`;
    const caughtUp =
      catchUp.status === 202 ? `deploying ${at} (run ${catchUp.body.runId})` : catchUp.status === 200 ? `${at} already has run ${catchUp.body.runId}` : `sending ${at} answered ${catchUp.status}: ${catchUp.body.detail ?? ''}`;

    for (const line of await banner(opts, conveyor, repo, secrets)) print(line);
    print(style.dim(`Catch-up: ${caughtUp}. Runs are followed below as they happen.`));
    print();
    running.follower = new RunFollower(conveyor.client, repo, opts.ports);
    running.follower.start();
    running.events = printEvents(process.env.CONVEYOR_SERVICEBUS, print, style.dim);
  } catch (err) {
    // Nothing may keep running when start-up fails half-way.
    await conveyor.stop({ environments: !opts.keepEnvironments }).catch(() => {});
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`conveyor: failed to start: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
