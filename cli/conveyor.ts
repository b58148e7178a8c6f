#!/usr/bin/env node
/**
 * `conveyor`: the command-line client of Conveyor's HTTP API (docs/cli.md).
 *
 * Every command prints for people by default and the API's JSON with `--json`; exit codes are
 * listed in {@link EXIT}. Colour and progress appear only when the output is a terminal.
 */
import { Command, CommanderError, Option } from 'commander';
import { ApiClient, ApiError, EXIT } from './api-client.js';
import { ConfigError, resolveConfig, type CliConfig } from './cli-config.js';
import { age, clean, duration, palette, percent, statusWord, table, type Palette } from './cli-format.js';

interface GlobalOptions {
  url?: string;
  key?: string;
  adminKey?: string;
  token?: string;
  config?: string;
  json?: boolean;
  color?: boolean;
}

/** What a command needs: the client, the output streams and how to print. */
interface Context {
  api: ApiClient;
  config: CliConfig;
  json: boolean;
  p: Palette;
  out(text: string): void;
  err(text: string): void;
  /** True when progress may be drawn (stderr is a terminal and output is not JSON). */
  progress: boolean;
  now(): number;
}

type Json = Record<string, any>;
const TERMINAL = new Set(['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded', 'Skipped']);
const enc = encodeURIComponent;

function context(cmd: Command): Context {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const config = resolveConfig({ url: o.url, key: o.key, adminKey: o.adminKey, token: o.token, config: o.config }, process.env);
  const tty = process.stdout.isTTY === true;
  const colour = tty && o.color !== false && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return {
    api: new ApiClient(config),
    config,
    json: o.json === true,
    p: palette(colour),
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    progress: process.stderr.isTTY === true && o.json !== true,
    now: () => Date.now(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- status

function cell(env: Json | undefined, p: Palette): string {
  if (!env) return p.dim('-');
  // The overview's health is what the records say (sweep or verification); `unknown` is not a fault.
  const health = env.health?.state === 'unknown' ? p.dim('health?') : env.healthy ? p.green('ok') : env.running ? p.yellow('unhealthy') : p.red('down');
  const mark = env.status === 'Failed' ? p.red('!') : '';
  const frozen = env.freeze ? ` ${p.yellow('frozen')}` : '';
  const drift = env.sync?.state === 'drifted' ? ` ${p.red('drift')}` : '';
  return `r${env.revision} ${String(env.commit ?? '').slice(0, 7)} ${health}${mark}${frozen}${drift}`;
}

async function status(ctx: Context, app?: string): Promise<void> {
  if (app) {
    const view = await ctx.api.get<Json>(`/apps/${enc(app)}`);
    if (ctx.json) return ctx.out(JSON.stringify(view, null, 2));
    const envs = (view.environments ?? []) as Json[];
    if (envs.length === 0) return ctx.out(`${app}: nothing deployed yet`);
    ctx.out(
      table(
        ['ENVIRONMENT', 'REVISION', 'COMMIT', 'KIND', 'STATUS', 'HEALTH', 'SYNC', 'FROZEN', 'DEPLOYED', 'RUN'],
        envs.map((e) => [
          e.name,
          `r${e.revision}`,
          String(e.commit ?? '').slice(0, 7),
          e.kind ?? '',
          statusWord(e.status, ctx.p),
          e.healthy ? ctx.p.green('healthy') : e.running ? ctx.p.yellow('unhealthy') : ctx.p.red('not running'),
          e.sync?.state ?? '-',
          e.freeze ? ctx.p.yellow(`yes (${e.freeze.kind}: ${clean(e.freeze.by.id, 30)})`) : 'no',
          `${age(e.finishedAt, ctx.now())} ago`,
          e.runId ?? '',
        ]),
      ),
    );
    return;
  }
  // The overview answers from the per-app matrix snapshots: one request for every app.
  const list = await ctx.api.get<{ apps: Json[] }>('/overview');
  if (ctx.json) return ctx.out(JSON.stringify({ apps: list.apps }, null, 2));
  if (list.apps.length === 0) return ctx.out('no apps registered (conveyor apps register --help)');
  // Columns: every environment name, in the promotion order the apps list them.
  const columns: string[] = [];
  for (const a of list.apps) for (const e of (a.environments ?? []) as Json[]) if (!columns.includes(e.name)) columns.push(e.name);
  ctx.out(
    table(
      ['APP', ...columns.map((c) => c.toUpperCase())],
      list.apps.map((a) => [a.name, ...columns.map((c) => cell((a.environments as Json[]).find((e) => e.name === c), ctx.p))]),
    ),
  );
}

// ---------------------------------------------------------------- runs

function envSummary(run: Json, p: Palette): string {
  const order: string[] = run.environmentOrder ?? Object.keys(run.environments ?? {});
  const sign = (s: string | undefined) => (s === 'Succeeded' ? p.green('✓') : s === 'Failed' || s === 'Errored' ? p.red('✗') : s === 'Running' || s === 'Pending' ? p.yellow('…') : p.dim('·'));
  return order.map((e) => `${e}${sign(run.environments?.[e]?.status)}`).join(' ');
}

async function runs(ctx: Context, app: string | undefined, limit: number): Promise<void> {
  let all: Json[];
  if (app) {
    all = (await ctx.api.get<{ runs: Json[] }>(`/apps/${enc(app)}/runs?pageSize=${limit}`)).runs;
  } else {
    // Only the names are needed: the overview lists them without asking any target.
    const apps = (await ctx.api.get<{ apps: Json[] }>('/overview')).apps;
    const pages = await Promise.all(apps.map((a) => ctx.api.get<{ runs: Json[] }>(`/apps/${enc(a.name)}/runs?pageSize=${limit}`)));
    all = pages
      .flatMap((pg) => pg.runs)
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))
      .slice(0, limit);
  }
  if (ctx.json) return ctx.out(JSON.stringify({ runs: all }, null, 2));
  if (all.length === 0) return ctx.out('no runs');
  ctx.out(
    table(
      ['RUN', 'STATUS', 'COMMIT', 'PUSHER', 'AGE', 'ENVIRONMENTS'],
      all.map((r) => [r.runId, statusWord(r.status, ctx.p), String(r.commit).slice(0, 7), clean(r.pusher?.name ?? r.pusher?.id, 24), age(r.createdAt, ctx.now()), envSummary(r, ctx.p)]),
    ),
  );
}

// ---------------------------------------------------------------- run

function describeRun(run: Json, ctx: Context): string {
  const p = ctx.p;
  const lines: string[] = [];
  lines.push(`${p.bold(run.runId)}  ${statusWord(run.status, p)}${run.reason ? `  ${clean(run.reason, 200)}` : ''}`);
  lines.push(`commit ${run.commit}${run.branch ? ` on ${clean(run.branch, 80)}` : ''}${run.pusher ? ` pushed by ${clean(run.pusher.name ?? run.pusher.id, 80)}` : ''}, ${age(run.createdAt, ctx.now())} ago`);
  const stageRows = Object.entries((run.stages ?? {}) as Record<string, Json>).map(([name, s]) => [name, statusWord(s.status, p), timing(s, ctx), clean(s.reason, 80)]);
  const order: string[] = run.environmentOrder ?? Object.keys(run.environments ?? {});
  const envRows = order.map((name) => {
    const e = (run.environments?.[name] ?? {}) as Json;
    const live = run.progress?.[name] as Json | undefined;
    const notes: string[] = [];
    if (e.revision !== undefined) notes.push(`r${e.revision}`);
    if (e.rolledBackTo !== undefined) notes.push(`rolled back to r${e.rolledBackTo}`);
    const approval = e.approval as Json | undefined;
    if (approval) {
      const decisions = ((approval.decisions ?? []) as Json[]).map((d) => `${d.decision ?? d.outcome ?? ''} by ${clean(d.by?.id ?? d.by ?? d.approver ?? '', 40)}`);
      if (approval.waitingSince && !approval.outcome) notes.push(p.yellow(`waiting for approval (${approval.required ?? 1} of ${(approval.approvers ?? []).join(', ')})`));
      if (decisions.length) notes.push(decisions.join(', '));
    }
    if (live?.step) notes.push(p.cyan(String(live.step)));
    const tries = Array.isArray(e.verification) ? e.verification.length : 0;
    if (tries) notes.push(`${tries} verification ${tries === 1 ? 'try' : 'tries'}`);
    if (e.reason) notes.push(clean(e.reason, 100));
    return [name, statusWord(e.status ?? 'Pending', p), timing(e, ctx), notes.join('; ')];
  });
  lines.push('');
  lines.push(table(['STAGE', 'STATUS', 'TIME', ''], [...stageRows, ...envRows]));
  return lines.join('\n');
}

function timing(s: Json, ctx: Context): string {
  if (s.startedAt && s.finishedAt) return duration((Date.parse(s.finishedAt) - Date.parse(s.startedAt)) / 1000);
  if (s.startedAt) return `${duration((ctx.now() - Date.parse(s.startedAt)) / 1000)}…`;
  return '';
}

async function showRun(ctx: Context, runId: string, follow: boolean, intervalMs: number): Promise<number> {
  // Following without a terminal prints a new snapshot only when something other than the
  // running clocks changed; on a terminal the snapshot is redrawn in place.
  const stable = (text: string) => text.replace(/\d+(\.\d)?[smhd]…/g, '');
  let last: string | undefined;
  for (;;) {
    const run = await ctx.api.get<Json>(`/runs/${enc(runId)}`);
    const done = TERMINAL.has(run.status);
    if (ctx.json) {
      const text = follow ? JSON.stringify(run) : JSON.stringify(run, null, 2);
      if (text !== last) ctx.out(text);
      last = text;
    } else {
      const text = describeRun(run, ctx);
      if (follow && ctx.progress) {
        process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
      } else if (last === undefined || stable(text) !== stable(last)) {
        ctx.out(last === undefined ? text : `--\n${text}`);
      }
      last = text;
    }
    if (!follow || done) return done && run.status !== 'Succeeded' ? EXIT.runFailed : EXIT.ok;
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- logs

async function logs(ctx: Context, runId: string, step: string, follow: boolean, intervalMs: number): Promise<number> {
  let printed = 0;
  for (;;) {
    let text = '';
    try {
      text = await ctx.api.text(`/runs/${enc(runId)}/logs/${enc(step)}`);
    } catch (err) {
      // While following, a log that does not exist yet is waited for.
      if (!(follow && err instanceof ApiError && err.status === 404 && /no .* log \(yet\)/.test(String(err.problem?.detail ?? '')))) throw err;
    }
    if (text.length > printed) {
      process.stdout.write(text.slice(printed));
      printed = text.length;
    }
    if (!follow) return EXIT.ok;
    const run = await ctx.api.get<Json>(`/runs/${enc(runId)}`);
    const stage = run.stages?.[step] as Json | undefined;
    if (TERMINAL.has(run.status) || (stage && TERMINAL.has(stage.status))) {
      const rest = await ctx.api.text(`/runs/${enc(runId)}/logs/${enc(step)}`).catch(() => '');
      if (rest.length > printed) process.stdout.write(rest.slice(printed));
      return stage && stage.status !== 'Succeeded' ? EXIT.runFailed : EXIT.ok;
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- actions

async function decide(ctx: Context, decision: 'approve' | 'reject', runId: string, env: string, message?: string): Promise<void> {
  const body = await ctx.api.json<Json>('POST', `/runs/${enc(runId)}/environments/${enc(env)}/approval`, { decision, ...(message ? { comment: message } : {}) }, { identify: true });
  if (ctx.json) return ctx.out(JSON.stringify(body, null, 2));
  ctx.out(`${decision === 'approve' ? 'approved' : 'rejected'} ${env} of ${runId}`);
}

async function waitOperation(ctx: Context, statusUrl: string, intervalMs: number): Promise<Json> {
  const path = new URL(statusUrl, ctx.config.url).pathname.replace(/^\/api/, '');
  for (;;) {
    const op = await ctx.api.get<Json>(path);
    if (TERMINAL.has(op.status)) return op;
    if (ctx.progress) process.stderr.write(`\r${op.status}${op.progress?.step ? ` (${op.progress.step})` : ''}   `);
    await sleep(intervalMs);
  }
}

async function rollback(ctx: Context, app: string, env: string, o: { to?: string; reason?: string; force?: boolean; wait?: boolean }, intervalMs: number): Promise<number> {
  const body: Json = {};
  if (o.to !== undefined) {
    const n = Number(o.to);
    if (!Number.isInteger(n) || n < 1) throw new ApiError(`--to must be a revision number (got ${JSON.stringify(o.to)})`, EXIT.usage);
    body.toRevision = n;
  }
  if (o.reason) body.reason = o.reason;
  if (o.force) body.force = true;
  const started = await ctx.api.json<Json>('POST', `/apps/${enc(app)}/environments/${enc(env)}/rollback`, body, { identify: true });
  if (!o.wait) {
    if (ctx.json) ctx.out(JSON.stringify(started, null, 2));
    else ctx.out(`rollback of ${app}/${env} started: ${started.operationId}\nfollow it: ${started.statusUrl}`);
    return EXIT.ok;
  }
  const op = await waitOperation(ctx, started.statusUrl, intervalMs);
  if (ctx.progress) process.stderr.write('\r\x1b[K');
  if (ctx.json) ctx.out(JSON.stringify({ ...started, ...op }, null, 2));
  else ctx.out(`rollback of ${app}/${env}: ${statusWord(op.status, ctx.p)}${op.rolledBackTo ? ` to r${op.rolledBackTo}` : ''}${op.revision ? ` (recorded as r${op.revision})` : ''}${op.reason ? ` — ${clean(op.reason, 200)}` : ''}`);
  return op.status === 'Succeeded' ? EXIT.ok : EXIT.runFailed;
}

async function freeze(ctx: Context, action: 'freeze' | 'unfreeze', app: string, env: string, reason?: string): Promise<void> {
  const res = await ctx.api.send('POST', `/apps/${enc(app)}/environments/${enc(env)}/${action}`, { body: reason ? { reason } : {}, identify: true });
  const text = await res.text();
  if (ctx.json) return ctx.out(text || '{}');
  if (action === 'freeze') ctx.out(res.status === 201 ? `froze ${app}/${env}` : `${app}/${env} was already frozen (the first freeze stays)`);
  else ctx.out(`unfroze ${app}/${env}`);
}

// ---------------------------------------------------------------- apps

async function appsList(ctx: Context): Promise<void> {
  // The registrations themselves (branches, policy, ...), which the overview does not carry.
  const list = await ctx.api.get<{ apps: Json[] }>('/apps');
  if (ctx.json) return ctx.out(JSON.stringify(list, null, 2));
  if (list.apps.length === 0) return ctx.out('no apps registered');
  ctx.out(table(['APP', 'PROVIDER', 'REPOSITORY', 'BRANCHES', 'ENVIRONMENTS'], list.apps.map((a) => [a.name, a.provider, a.repoUrl, (a.branches ?? []).join(','), ((a.environments ?? []) as Json[]).map((e) => e.name).join(' → ')])));
}

async function appsRegister(ctx: Context, name: string, o: { repo: string; provider: string; branch: string[]; secretSetting: string; pipelinePath?: string }): Promise<void> {
  const body = { repoUrl: o.repo, provider: o.provider, branches: o.branch, webhookSecretSetting: o.secretSetting, ...(o.pipelinePath ? { pipelinePath: o.pipelinePath } : {}) };
  const res = await ctx.api.send('PUT', `/apps/${enc(name)}`, { body, key: 'admin', identify: true });
  const value = (await res.json()) as Json;
  if (ctx.json) return ctx.out(JSON.stringify(value, null, 2));
  ctx.out(`${res.status === 201 ? 'registered' : 'updated'} ${name}: webhook ${ctx.config.url}/api/webhooks/${o.provider}`);
}

async function appsDelete(ctx: Context, name: string): Promise<void> {
  await ctx.api.send('DELETE', `/apps/${enc(name)}`, { key: 'admin', identify: true });
  if (ctx.json) return ctx.out(JSON.stringify({ deleted: name }));
  ctx.out(`deleted ${name} (its ledger and runs are kept)`);
}

// ---------------------------------------------------------------- metrics

async function metrics(ctx: Context, app: string, window: string): Promise<void> {
  const m = await ctx.api.get<Json>(`/apps/${enc(app)}/metrics?window=${enc(window)}`);
  if (ctx.json) return ctx.out(JSON.stringify(m, null, 2));
  ctx.out(`${app}: DORA metrics over ${m.window.text} (${m.window.from.slice(0, 10)} to ${m.window.to.slice(0, 10)})`);
  ctx.out(
    table(
      ['ENVIRONMENT', 'DEPLOYS', 'PER WEEK', 'LEAD p50', 'LEAD p90', 'CHANGE FAIL', 'RESTORE p50', 'REWORK'],
      (m.environments as Json[]).map((e) => [
        e.environment,
        `${e.deployments.succeeded}/${e.deployments.attempted}`,
        e.deployments.perWeek.toFixed(1),
        duration(e.leadTime.p50Seconds),
        duration(e.leadTime.p90Seconds),
        percent(e.changeFailureRate.rate),
        `${duration(e.timeToRestore.p50Seconds)}${e.timeToRestore.unrestored ? ctx.p.red(` (${e.timeToRestore.unrestored} open)`) : ''}`,
        percent(e.reworkRate.rate),
      ]),
    ),
  );
}

// ---------------------------------------------------------------- program

/** Builds the program; `setExit` records the exit code a command wants. */
export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('conveyor')
    .description("Conveyor's command line: what runs where, runs, logs, approvals, rollbacks, freezes, apps and DORA metrics.")
    .option('--url <url>', 'Conveyor base URL (env CONVEYOR_URL; default http://127.0.0.1:7071)')
    .option('--key <key>', 'function key (env CONVEYOR_KEY)')
    .option('--admin-key <key>', 'master key, for apps register/delete (env CONVEYOR_ADMIN_KEY)')
    .option('--token <token>', 'API token naming who you are, for approvals, rollbacks, freezes (env CONVEYOR_TOKEN)')
    .option('--config <file>', 'JSON config file {url,key,adminKey,token} (env CONVEYOR_CONFIG; default ~/.config/conveyor/config.json)')
    .option('--json', 'print the API answer as JSON')
    .option('--no-color', 'no colour even on a terminal (also NO_COLOR)')
    .showHelpAfterError('(conveyor --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 unexpected error, 2 bad usage or input (400), 3 not found (404),
4 refused (401/403), 5 conflict (409), 6 Conveyor unreachable, 7 a followed run or rollback did not succeed.`,
    );
  const interval = new Option('--interval <ms>', 'poll interval while following').default('1000').argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 100) throw new CommanderError(EXIT.usage, 'conveyor.invalidArgument', '--interval must be an integer >= 100');
    return String(n);
  });

  program
    .command('status')
    .argument('[app]', 'one app (default: every app)')
    .description('what runs where: the environment matrix')
    .action(async (app: string | undefined, _o, cmd: Command) => status(context(cmd), app));
  program
    .command('runs')
    .argument('[app]', 'one app (default: every app)')
    .option('-n, --limit <n>', 'how many', '20')
    .description('recent runs, newest first')
    .action(async (app: string | undefined, o: { limit: string }, cmd: Command) => {
      const n = Number(o.limit);
      if (!Number.isInteger(n) || n < 1 || n > 200) throw new ApiError('--limit must be 1 to 200', EXIT.usage);
      await runs(context(cmd), app, n);
    });
  program
    .command('run')
    .argument('<runId>', 'a run id (<app>.<commit>)')
    .option('-f, --follow', 'follow until the run ends (exit 7 unless it succeeds)')
    .addOption(interval)
    .description('one run: stages, environments, approvals, live progress')
    .action(async (runId: string, o: { follow?: boolean; interval: string }, cmd: Command) => setExit(await showRun(context(cmd), runId, o.follow === true, Number(o.interval))));
  program
    .command('logs')
    .argument('<runId>', 'a run id')
    .argument('<step>', 'build or test')
    .option('-f, --follow', 'keep printing until the step ends')
    .addOption(interval)
    .description("a step's log")
    .action(async (runId: string, step: string, o: { follow?: boolean; interval: string }, cmd: Command) => setExit(await logs(context(cmd), runId, step, o.follow === true, Number(o.interval))));
  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .argument('<runId>', 'the run waiting')
      .argument('<env>', 'the environment it waits at')
      .option('-m, --message <text>', 'a comment recorded with the decision')
      .description(`${decision} a run's promotion to an environment (needs --token)`)
      .action(async (runId: string, env: string, o: { message?: string }, cmd: Command) => decide(context(cmd), decision, runId, env, o.message));
  }
  program
    .command('rollback')
    .argument('<app>')
    .argument('<env>')
    .option('--to <revision>', 'the revision to redeploy (default: the last good one before the current)')
    .option('--reason <text>', 'why (recorded)')
    .option('--force', 'allow a revision marked bad')
    .option('--no-wait', 'return once accepted instead of following the rollback')
    .addOption(interval)
    .description('roll an environment back (needs --token); follows it and exits 7 unless it succeeds')
    .action(async (app: string, env: string, o: { to?: string; reason?: string; force?: boolean; wait?: boolean; interval: string }, cmd: Command) => setExit(await rollback(context(cmd), app, env, o, Number(o.interval))));
  for (const action of ['freeze', 'unfreeze'] as const) {
    program
      .command(action)
      .argument('<app>')
      .argument('<env>')
      .addOption(action === 'freeze' ? new Option('--reason <text>', 'why (recorded; required)').makeOptionMandatory() : new Option('--reason <text>', 'why (recorded)'))
      .description(action === 'freeze' ? 'stop promotions into an environment (needs --token)' : 'allow promotions into an environment again (needs --token)')
      .action(async (app: string, env: string, o: { reason?: string }, cmd: Command) => freeze(context(cmd), action, app, env, o.reason));
  }
  const apps = program.command('apps').description('registered apps');
  apps
    .command('list')
    .description('list apps')
    .action(async (_o, cmd: Command) => appsList(context(cmd)));
  apps
    .command('register')
    .argument('<name>', 'app name (lowercase letters, digits, -)')
    .requiredOption('--repo <url>', 'repository URL')
    .addOption(new Option('--provider <provider>', 'webhook provider').choices(['github', 'gitlab', 'azure-devops']).makeOptionMandatory())
    .option('--branch <branch...>', 'tracked branches', ['main'])
    .requiredOption('--secret-setting <name>', 'name of the setting that holds the webhook secret')
    .option('--pipeline-path <path>', 'pipeline file in the repository')
    .description('register or update an app (needs --admin-key)')
    .action(async (name: string, o: { repo: string; provider: string; branch: string[]; secretSetting: string; pipelinePath?: string }, cmd: Command) => appsRegister(context(cmd), name, o));
  apps
    .command('delete')
    .argument('<name>')
    .description('remove a registration; its ledger and runs are kept (needs --admin-key)')
    .action(async (name: string, _o, cmd: Command) => appsDelete(context(cmd), name));
  program
    .command('metrics')
    .argument('<app>')
    .option('-w, --window <window>', 'e.g. 12h, 30d, 8w', '30d')
    .description('DORA metrics per environment (docs/metrics.md)')
    .action(async (app: string, o: { window: string }, cmd: Command) => metrics(context(cmd), app, o.window));
  return program;
}

/** Runs the CLI with `argv` (as process.argv) and resolves the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  program.exitOverride();
  for (const sub of program.commands) {
    sub.exitOverride();
    for (const s of sub.commands) s.exitOverride();
  }
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; everything else commander reports is bad usage.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return EXIT.ok;
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof ApiError) {
      process.stderr.write(`conveyor: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`conveyor: ${err.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`conveyor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.error;
  }
}

process.exitCode = await main(process.argv);
