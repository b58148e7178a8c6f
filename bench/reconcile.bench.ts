// Reconcile bench: the heads sweep over many registered apps, each with its own
// local bare repository (file://, so git's real ls-remote and upload-pack run). Counts the git
// processes Conveyor starts through a logging wrapper (one shell exec per call, included in the
// wall time). Goal: <= 60 s for 1,000 apps and exactly one ls-remote per repository.
// BENCH_RECONCILE_APPS (default 1000) and BENCH_RECONCILE_CONCURRENCY (default 8) tune it.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRemoteHeads } from '../shared/git/index.js';
import { sweepHeads, type RunLauncher, type TrackedApp } from '../shared/reconcile/index.js';
import { fmt, type BenchRow } from './harness.js';

const APPS = Number(process.env.BENCH_RECONCILE_APPS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_RECONCILE_CONCURRENCY ?? 8);

const env = { ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'b@example.com', GIT_COMMITTER_NAME: 'Bench', GIT_COMMITTER_EMAIL: 'b@example.com' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();

export async function run(): Promise<BenchRow[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'conveyor-bench-reconcile-'));
  try {
    const work = join(tmp, 'work');
    git(tmp, 'init', '--quiet', '--initial-branch=main', work);
    writeFileSync(join(work, 'a.txt'), 'a\n');
    git(work, 'add', '-A');
    git(work, 'commit', '--quiet', '-m', 'one');
    git(work, 'branch', 'release/1');
    writeFileSync(join(work, 'a.txt'), 'b\n');
    git(work, 'commit', '--quiet', '-am', 'two');
    const template = join(tmp, 'template.git');
    git(tmp, 'clone', '--quiet', '--bare', work, template);
    // Sample hooks are most of a fresh repository's files: not needed to answer ls-remote.
    rmSync(join(template, 'hooks'), { recursive: true, force: true });
    const apps: TrackedApp[] = [];
    for (let i = 0; i < APPS; i++) {
      const dir = join(tmp, 'repos', `app-${i}.git`);
      cpSync(template, dir, { recursive: true });
      apps.push({ name: `app-${i}`, repoUrl: `file://${dir}`, branches: ['main', 'release/*'] });
    }
    const log = join(tmp, 'calls.log');
    writeFileSync(log, '');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    const wrapper = join(tmp, 'git-logging');
    writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> ${JSON.stringify(log)}\nexec ${JSON.stringify(realGit)} "$@"\n`);
    chmodSync(wrapper, 0o755);

    // Every second app already has runs for its heads; the others get theirs started.
    const runs = new Set<string>();
    const head = git(template, 'rev-parse', 'main');
    apps.forEach((a, i) => i % 2 === 0 && runs.add(`${a.name}.${head}`));
    let started = 0;
    const launcher: RunLauncher = {
      hasRun: async (app, commit) => runs.has(`${app}.${commit}`),
      start: async ({ app, commit }) => {
        runs.add(`${app.name}.${commit}`);
        started++;
        return 'started';
      },
    };
    const t0 = performance.now();
    const report = await sweepHeads(apps, (url, signal) => listRemoteHeads(url, { gitBinary: wrapper, signal }), launcher, { concurrency: CONCURRENCY, timeoutMs: 20_000 });
    const seconds = (performance.now() - t0) / 1000;
    const calls = readFileSync(log, 'utf8').split('\n').filter((l) => l.length > 0);
    const lsRemote = calls.filter((c) => c.startsWith('ls-remote '));
    const perRepo = new Map<string, number>();
    for (const c of lsRemote) perRepo.set(c.split(' -- ')[1]!, (perRepo.get(c.split(' -- ')[1]!) ?? 0) + 1);
    const exactlyOne = perRepo.size === APPS && [...perRepo.values()].every((n) => n === 1);
    const failed = report.apps.filter((a) => !a.ok).length;
    const group = 'reconcile';
    return [
      { group, metric: `heads sweep, ${APPS} apps / repositories, concurrency ${CONCURRENCY}: wall time`, value: `${fmt(seconds, 1)} s`, goal: '<= 60 s', met: seconds <= 60 ? 'yes' : 'no' },
      { group, metric: 'git processes started by Conveyor', value: String(calls.length), goal: `${APPS} (ls-remote only)`, met: calls.length === APPS && lsRemote.length === APPS ? 'yes' : 'no' },
      { group, metric: 'ls-remote per repository', value: exactlyOne ? 'exactly 1' : `${perRepo.size} repositories, max ${Math.max(...perRepo.values())}`, goal: 'exactly 1', met: exactlyOne ? 'yes' : 'no' },
      { group, metric: 'runs started / apps failed', value: `${started} / ${failed}`, goal: `${APPS * 2 - APPS / 2} / 0` },
    ];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
