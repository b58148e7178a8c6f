import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sweepHeads, type HeadReader, type RunLauncher, type RunTrigger, type TrackedApp } from '../../shared/reconcile/index.js';

const sha = (n: number) => n.toString(16).padStart(40, '0');

/** In-memory run launcher: remembers runs by app + commit, as the durable instance id does. */
function fakeLauncher(existing: string[] = []) {
  const runs = new Set(existing);
  const started: { app: string; branch: string; commit: string; trigger: RunTrigger }[] = [];
  const launcher: RunLauncher & { started: typeof started; fail?: string; duplicateFor?: string } = {
    started,
    async hasRun(app, commit) {
      return runs.has(`${app}.${commit}`);
    },
    async start({ app, branch, commit, trigger }) {
      if (launcher.fail && commit === launcher.fail) throw new Error('durable backend unavailable');
      if (launcher.duplicateFor === commit) return 'duplicate';
      const id = `${app.name}.${commit}`;
      if (runs.has(id)) return 'duplicate';
      runs.add(id);
      started.push({ app: app.name, branch, commit, trigger });
      return 'started';
    },
  };
  return launcher;
}

test('starts the run of each tracked head without one, reading each repository once', async () => {
  const heads: Record<string, Record<string, string>> = {
    'https://git.example/org/shop': { main: sha(1), 'release/1': sha(2), 'feature/x': sha(3) },
    'https://git.example/org/blog': { main: sha(4) },
  };
  const reads: string[] = [];
  const reader: HeadReader = async (url) => {
    reads.push(url);
    return new Map(Object.entries(heads[url.replace(/\.git$/, '').replace('GIT.example', 'git.example')]!));
  };
  const apps: TrackedApp[] = [
    { name: 'shop', repoUrl: 'https://git.example/org/shop', branches: ['main', 'release/*'] },
    // Same repository, other spelling: shares the read.
    { name: 'shop-admin', repoUrl: 'https://GIT.example/org/shop.git', branches: ['main'] },
    { name: 'blog', repoUrl: 'https://git.example/org/blog', branches: ['main'] },
  ];
  const launcher = fakeLauncher([`blog.${sha(4)}`]);
  const report = await sweepHeads(apps, reader, launcher);
  assert.equal(reads.length, 2, 'one read per repository');
  assert.equal(report.headReads, 2);
  assert.equal(report.repositories, 2);
  assert.equal(report.started, 3);
  assert.deepEqual(
    launcher.started.map((s) => `${s.app} ${s.branch} ${s.commit.slice(-1)} ${s.trigger}`).sort(),
    ['shop main 1 poll', 'shop release/1 2 poll', 'shop-admin main 1 poll'],
  );
  const blog = report.apps.find((a) => a.app === 'blog')!;
  assert.deepEqual(blog.heads, [{ branch: 'main', commit: sha(4), outcome: 'has-run' }]);
  // A second sweep finds every run in place and starts nothing.
  const again = await sweepHeads(apps, reader, launcher);
  assert.equal(again.started, 0);
  assert.ok(again.apps.every((a) => a.heads.every((h) => h.outcome === 'has-run')));
});

test('a hanging, a refusing and a rejecting repository are reported on their apps and delay nobody', async () => {
  const aborted: string[] = [];
  const reader: HeadReader = (url, signal) => {
    if (url.includes('hangs')) {
      return new Promise((_, reject) => signal.addEventListener('abort', () => (aborted.push(url), reject(new Error('aborted')))));
    }
    if (url.includes('forever')) return new Promise(() => undefined); // ignores the signal entirely
    if (url.includes('refuses')) return Promise.reject(new Error('ls-remote failed for https://git.example/org/refuses: fatal: unable to access: Connection refused'));
    if (url.includes('badcreds')) return Promise.reject(new Error('fatal: Authentication failed'));
    return Promise.resolve(new Map([['main', sha(9)]]));
  };
  const apps: TrackedApp[] = ['hangs', 'forever', 'refuses', 'badcreds', 'ok-a', 'ok-b', 'ok-c'].map((n) => ({ name: n, repoUrl: `https://git.example/org/${n}`, branches: ['main'] }));
  const launcher = fakeLauncher();
  const t0 = Date.now();
  const report = await sweepHeads(apps, reader, launcher, { concurrency: 2, timeoutMs: 300 });
  const elapsed = Date.now() - t0;
  const by = (n: string) => report.apps.find((a) => a.app === n)!;
  assert.equal(by('hangs').ok, false);
  assert.match(by('hangs').error!, /no answer within 0.3 s/);
  assert.match(by('forever').error!, /no answer within/);
  assert.match(by('refuses').error!, /Connection refused/);
  assert.match(by('badcreds').error!, /Authentication failed/);
  assert.deepEqual(aborted, ['https://git.example/org/hangs'], 'the hanging read was told to stop');
  for (const n of ['ok-a', 'ok-b', 'ok-c']) assert.deepEqual(by(n).heads.map((h) => h.outcome), ['started']);
  // Two slow repositories at concurrency 2 cost one deadline each, not a serial chain of everything.
  assert.ok(elapsed < 3000, `took ${elapsed} ms`);
});

test('concurrency is bounded', async () => {
  let inFlight = 0;
  let peak = 0;
  const reader: HeadReader = async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return new Map();
  };
  const apps = Array.from({ length: 40 }, (_, i) => ({ name: `app-${i}`, repoUrl: `https://git.example/org/r${i}`, branches: ['main'] }));
  const report = await sweepHeads(apps, reader, fakeLauncher(), { concurrency: 5 });
  assert.equal(peak, 5);
  assert.equal(report.headReads, 40);
});

test('a webhook that wins the race makes the sweep report a duplicate; a failing start is reported per head', async () => {
  const reader: HeadReader = async () => new Map([['main', sha(1)], ['develop', sha(2)]]);
  const launcher = fakeLauncher();
  launcher.duplicateFor = sha(1);
  launcher.fail = sha(2);
  const report = await sweepHeads([{ name: 'shop', repoUrl: 'https://git.example/org/shop', branches: ['main', 'develop'] }], reader, launcher);
  const heads = report.apps[0]!.heads;
  assert.deepEqual(heads.map((h) => [h.branch, h.outcome]), [['develop', 'failed'], ['main', 'duplicate']]);
  assert.match(heads[0]!.reason!, /durable backend unavailable/);
  assert.equal(report.apps[0]!.ok, true);
});
