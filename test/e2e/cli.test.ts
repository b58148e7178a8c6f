// The `conveyor` CLI as a process against a running Conveyor (local host, Azurite, real git,
// process target): configuration from flags, environment and a file; tables and --json; the
// exit codes; approvals, rejections, rollbacks, logs, metrics and app registration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { REPO_ROOT, served, startConveyor, type ConveyorUnderTest, processEnvironmentYaml, pushCommit } from './conveyor-support.js';

const SECRET = 'cli-webhook-secret-0123456789';
const TOKENS = {
  'token-alice-cli-0000000000001': { id: 'alice@example.com', name: 'Alice' },
  'token-mallory-cli-00000000002': { id: 'mallory@example.com' },
};
const ALICE = 'token-alice-cli-0000000000001';
const MALLORY = 'token-mallory-cli-00000000002';
const CLI = join(REPO_ROOT, 'dist', 'cli', 'conveyor.js');

let conveyor: ConveyorUnderTest;
let sample: SampleService;
let home: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with only the environment given (no inherited CONVEYOR_* settings, no config file). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: join(home, 'none'), ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** The CLI pointed at the Conveyor under test with the function key (and more as asked). */
function as(extra: Record<string, string> = {}): Record<string, string> {
  return { CONVEYOR_URL: conveyor.origin, CONVEYOR_KEY: conveyor.host.keys.function, ...extra };
}

function pipeline(ports: Record<string, number>): string {
  const env = (name: string, extra = '') => processEnvironmentYaml(name, ports[name], extra);
  return `build:
  command: echo "building $CONVEYOR_COMMIT" && mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev')}${env('staging')}${env('prod', '    approval: { approvers: [alice@example.com], required: 1, timeout: 1h }\n')}`;
}

const push = (commit: string): Promise<string> => pushCommit(conveyor, sample, SECRET, commit);

const waitingAtProd = (run: any) => run.environments?.prod?.approval?.waitingSince !== undefined && run.environments.prod.status === 'Pending';

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'conveyor-cli-home-'));
  sample = await createSampleService();
  await sample.commitPipeline(pipeline(sample.ports));
  conveyor = await startConveyor({ env: { CLI_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify(TOKENS) } });
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
  rmSync(home, { recursive: true, force: true });
});

describe('conveyor CLI', () => {
  let firstRun: string;

  test('apps register needs the admin key; a bad name is bad input; the app is then listed', async () => {
    const args = ['apps', 'register', 'shop', '--repo', sample.url, '--provider', 'github', '--branch', 'main', '--secret-setting', 'CLI_SECRET'];
    const refused = await cli(args, as());
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /401/);
    const bad = await cli(['apps', 'register', 'Not_A_Name', ...args.slice(3)], as({ CONVEYOR_ADMIN_KEY: conveyor.host.keys.master }));
    assert.equal(bad.code, 2, bad.stderr);
    const missing = await cli(['apps', 'register', 'shop', '--repo', sample.url], as({ CONVEYOR_ADMIN_KEY: conveyor.host.keys.master }));
    assert.equal(missing.code, 2, 'a missing required option is a usage error');
    const ok = await cli(args, as({ CONVEYOR_ADMIN_KEY: conveyor.host.keys.master }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /registered shop/);
    const list = await cli(['apps', 'list', '--json'], as());
    assert.equal(list.code, 0);
    assert.deepEqual(JSON.parse(list.stdout).apps.map((a: any) => a.name), ['shop']);
    assert.deepEqual(JSON.parse(list.stdout).apps[0].branches, ['main'], 'the registration as recorded');
    assert.match((await cli(['apps', 'list'], as())).stdout, /^shop\s+github\s+\S+\s+main\b/m, 'the table shows the branches');
  });

  test('configuration: a config file, environment over file, flags over environment; unreachable is exit 6', async () => {
    const file = join(home, 'conveyor.json');
    writeFileSync(file, JSON.stringify({ url: conveyor.origin, key: conveyor.host.keys.function }));
    const fromFile = await cli(['apps', 'list', '--json'], { CONVEYOR_CONFIG: file });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(JSON.parse(fromFile.stdout).apps[0].name, 'shop');
    const envWins = await cli(['apps', 'list'], { CONVEYOR_CONFIG: file, CONVEYOR_KEY: 'wrong-key' });
    assert.equal(envWins.code, 4, 'the environment key overrides the file');
    const flagWins = await cli(['apps', 'list', '--key', conveyor.host.keys.function], { CONVEYOR_CONFIG: file, CONVEYOR_KEY: 'wrong-key' });
    assert.equal(flagWins.code, 0, flagWins.stderr);
    const down = await cli(['status', '--url', 'http://127.0.0.1:9'], { CONVEYOR_CONFIG: file });
    assert.equal(down.code, 6);
    assert.match(down.stderr, /cannot reach Conveyor/);
    writeFileSync(file, '{"url": 5}');
    assert.equal((await cli(['status'], { CONVEYOR_CONFIG: file })).code, 2, 'a bad config file is a usage error');
    assert.equal((await cli(['status'], { CONVEYOR_CONFIG: join(home, 'absent.json') })).code, 2, 'a named config file must exist');
  });

  test('a push waits for approval at prod: refusals exit 4, an approval lets it finish and run --follow exits 0', async () => {
    const commit = await sample.head();
    firstRun = await push(commit);
    await conveyor.waitForRun(firstRun, waitingAtProd);

    const shown = await cli(['run', firstRun], as());
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /waiting for approval/);
    assert.ok(!shown.stdout.includes(String.fromCharCode(27)), 'no colour when the output is not a terminal');

    const noToken = await cli(['approve', firstRun, 'prod'], as());
    assert.equal(noToken.code, 4);
    const notApprover = await cli(['approve', firstRun, 'prod', '--token', MALLORY], as());
    assert.equal(notApprover.code, 4);
    assert.match(notApprover.stderr, /403/);
    const unknownRun = await cli(['approve', 'shop.0000000', 'prod', '--token', ALICE], as());
    assert.equal(unknownRun.code, 3);

    const approved = await cli(['approve', firstRun, 'prod', '-m', 'ship it'], as({ CONVEYOR_TOKEN: ALICE }));
    assert.equal(approved.code, 0, approved.stderr);
    const again = await cli(['approve', firstRun, 'prod', '-m', 'twice'], as({ CONVEYOR_TOKEN: ALICE }));
    assert.ok([0, 5].includes(again.code), 'a second decision is accepted without effect or refused as a conflict');

    const followed = await cli(['run', firstRun, '--follow', '--interval', '200'], as());
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stdout, /Succeeded/);
    const json = await cli(['run', firstRun, '--json'], as());
    const run = JSON.parse(json.stdout);
    assert.equal(run.status, 'Succeeded');
    assert.equal(run.environments.prod.approval.decisions[0].comment, 'ship it');
    assert.equal((await served(sample.ports.prod))?.commit, commit);
  });

  test('status shows the matrix in promotion order and agrees with the API', async () => {
    const table = await cli(['status'], as());
    assert.equal(table.code, 0, table.stderr);
    const [header, row] = table.stdout.trim().split('\n');
    assert.deepEqual(header!.split(/\s+/), ['APP', 'DEV', 'STAGING', 'PROD']);
    assert.match(row!, /^shop\s+r1 \w{7} ok\s+r1 \w{7} ok\s+r1 \w{7} ok$/);
    const one = await cli(['status', 'shop', '--json'], as());
    const api = (await (await conveyor.api('/api/apps/shop')).json()) as any;
    assert.deepEqual(JSON.parse(one.stdout).environments.map((e: any) => [e.name, e.revision, e.commit]), api.environments.map((e: any) => [e.name, e.revision, e.commit]));
    const unknown = await cli(['status', 'nope'], as());
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /404/);
  });

  test('runs and logs', async () => {
    const runs = await cli(['runs', 'shop'], as());
    assert.equal(runs.code, 0);
    assert.match(runs.stdout, new RegExp(`${firstRun.replace('.', '\\.')}\\s+Succeeded`));
    const all = await cli(['runs', '--json'], as());
    assert.deepEqual(JSON.parse(all.stdout).runs.map((r: any) => r.runId), [firstRun]);
    const log = await cli(['logs', firstRun, 'build'], as());
    assert.equal(log.code, 0);
    assert.match(log.stdout, new RegExp(`building ${firstRun.split('.')[1]}`));
    const followed = await cli(['logs', firstRun, 'build', '--follow'], as());
    assert.equal(followed.code, 0);
    assert.equal(followed.stdout, log.stdout, 'following a finished step prints it once');
    assert.equal((await cli(['logs', firstRun, 'deploy'], as())).code, 3);
  });

  test('a rejection ends the run Failed and run --follow exits 7', async () => {
    const commit = await sample.commitChange('second');
    const runId = await push(commit);
    await conveyor.waitForRun(runId, waitingAtProd);
    const rejected = await cli(['reject', runId, 'prod', '-m', 'not today', '--token', ALICE], as());
    assert.equal(rejected.code, 0, rejected.stderr);
    const followed = await cli(['run', runId, '--follow', '--interval', '200'], as());
    assert.equal(followed.code, 7);
    assert.match(followed.stdout, /Failed/);
  });

  test('rollback: refusals, then a rollback followed to the end', async () => {
    assert.equal((await cli(['rollback', 'shop', 'dev'], as())).code, 4, 'no identity');
    assert.equal((await cli(['rollback', 'shop', 'dev', '--to', '999', '--token', ALICE], as())).code, 3);
    assert.equal((await cli(['rollback', 'shop', 'dev', '--to', 'one', '--token', ALICE], as())).code, 2);
    const done = await cli(['rollback', 'shop', 'dev', '--to', '1', '--reason', 'cli test', '--interval', '200', '--token', ALICE], as());
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.match(done.stdout, /Succeeded to r1/);
    const history = (await (await conveyor.api('/api/apps/shop/environments/dev/history')).json()) as any;
    assert.equal(history.records[0].kind, 'rollback');
    assert.match(history.records[0].reason, /cli test/);
  });

  test('freeze and unfreeze: the rollback froze dev; unfreeze, unfreeze again is a conflict, freeze needs a reason', async () => {
    const before = JSON.parse((await cli(['status', 'shop', '--json'], as())).stdout);
    assert.equal(before.environments.find((e: any) => e.name === 'dev').freeze?.kind, 'rollback', 'a requested rollback freezes the environment');
    assert.match((await cli(['status', 'shop'], as())).stdout, /dev .*yes \(rollback/);
    assert.equal((await cli(['unfreeze', 'shop', 'dev'], as())).code, 4, 'no identity');
    const lifted = await cli(['unfreeze', 'shop', 'dev', '--reason', 'verified the fix', '--token', ALICE], as());
    assert.equal(lifted.code, 0, lifted.stderr);
    assert.equal((await cli(['unfreeze', 'shop', 'dev', '--token', ALICE], as())).code, 5, 'not frozen any more');
    assert.equal((await cli(['freeze', 'shop', 'dev', '--token', ALICE], as())).code, 2, 'a freeze needs a reason');
    const frozen = await cli(['freeze', 'shop', 'staging', '--reason', 'sale weekend', '--token', ALICE], as());
    assert.equal(frozen.code, 0, frozen.stderr);
    assert.match(frozen.stdout, /froze shop\/staging/);
    assert.match((await cli(['freeze', 'shop', 'staging', '--reason', 'again', '--token', ALICE], as())).stdout, /already frozen/);
    const after = JSON.parse((await cli(['status', 'shop', '--json'], as())).stdout);
    assert.equal(after.environments.find((e: any) => e.name === 'dev').freeze, undefined);
    assert.equal(after.environments.find((e: any) => e.name === 'staging').freeze.reason, 'sale weekend');
    assert.match((await cli(['status'], as())).stdout, /shop .*frozen/);
  });

  test('metrics as a table and as JSON; a bad window is exit 2', async () => {
    const table = await cli(['metrics', 'shop'], as());
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[1]!, /^ENVIRONMENT\s+DEPLOYS/);
    assert.deepEqual(lines.slice(2).map((l) => l.split(/\s+/)[0]), ['dev', 'staging', 'prod']);
    const json = JSON.parse((await cli(['metrics', 'shop', '--json', '--window', '7d'], as())).stdout);
    assert.equal(json.window.text, '7d');
    assert.equal(json.environments[0].reworkRate.rework, 1, 'the rollback is rework');
    const bad = await cli(['metrics', 'shop', '--window', 'soon'], as());
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /window/);
  });

  test('apps delete, then the app is gone (exit 3)', async () => {
    const deleted = await cli(['apps', 'delete', 'shop', '--admin-key', conveyor.host.keys.master], as());
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await cli(['status', 'shop'], as())).code, 3);
  });
});
