// Dashboard and CLI bench: Conveyor (local host + Azurite) with 100 apps x 4 environments
// recorded in the ledger (through stores that announce their changes, as Conveyor's own do, so
// the matrix snapshots stay current); Debian's Chromium (playwright-core) loads the dashboard
// cold (cache disabled) five times: first contentful paint, the first matrix rows on screen
// (first meaningful paint), interactive (rows shown and no long task for 500 ms), all 100 apps
// on screen, and the bytes the browser downloaded until then (what the DevTools protocol counts
// on the wire: headers and gzipped assets and API answers). Then, on the open apps page, live updates: a freeze / unfreeze through the API,
// timed from the API's answer to the badge on screen. Then the `conveyor status` CLI, as a
// process, five times.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { DeploymentLedger, RunStore } from '../shared/ledger/index.js';
import { AppRegistry } from '../shared/apps/index.js';
import { EnvironmentControls } from '../shared/environments/index.js';
import { BlobSyncStore } from '../shared/reconcile/index.js';
import { MatrixSnapshots } from '../shared/use-cases/matrix-snapshot.js';
import { containerClient, CONTAINERS } from '../shared/storage/blob-store.js';
import { launchBrowser } from '../test/support/browser.js';
import { REPO_ROOT, startConveyor } from '../test/e2e/conveyor-support.js';
import { fmt, percentile, type BenchRow } from './harness.js';

const APPS = Number(process.env.BENCH_DASHBOARD_APPS ?? 100);
const ENVS = ['dev', 'test', 'staging', 'prod'];
const LOADS = 5;
const TOKEN = 'token-bench-dashboard-0000001';

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function runCli(args: string[], env: Record<string, string>): Promise<{ ms: number; code: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'conveyor.js'), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) =>
      resolve({ ms: performance.now() - started, code: err ? Number(err.code ?? 1) : 0, stdout }),
    );
  });
}

export async function run(): Promise<BenchRow[]> {
  const conveyor = await startConveyor({ env: { CONVEYOR_API_TOKENS: JSON.stringify({ [TOKEN]: { id: 'bench@example.com', name: 'Bench' } }), CONVEYOR_LOG_LEVEL: 'warn' } });
  const browser = await launchBrowser();
  try {
    const state = containerClient(conveyor.host.storage!.connectionString, CONTAINERS.state);
    const feed = new MatrixSnapshots(state);
    const ledger = new DeploymentLedger(state, { changes: feed });
    const runs = new RunStore(state, { changes: feed });
    feed.readFrom({ apps: new AppRegistry(state), ledger, runs, controls: new EnvironmentControls(state), syncStates: new BlobSyncStore(state) });
    const names = Array.from({ length: APPS }, (_, i) => `app-${String(i).padStart(3, '0')}`);
    await pool(names, 8, async (name) => {
      const res = await conveyor.api(`/api/apps/${name}`, { method: 'PUT', key: 'admin', json: { repoUrl: `https://git.example.com/acme/${name}.git`, provider: 'github', branches: ['main'], webhookSecretSetting: 'BENCH_SECRET' } });
      if (res.status !== 201) throw new Error(`register ${name}: ${res.status} ${await res.text()}`);
      const commit = (names.indexOf(name) * 7919 + 1).toString(16).padStart(40, 'a');
      const runId = `${name}.${commit}`;
      await runs.create({
        app: name,
        runId,
        status: 'Succeeded',
        commit,
        branch: 'main',
        pusher: { id: 'dev@example.com', name: 'Dev' },
        headCommit: { message: `Change ${name}: make the checkout page faster`, author: 'Dev Eloper' },
        environmentOrder: ENVS,
        environments: Object.fromEntries(ENVS.map((e) => [e, { status: 'Succeeded' }])),
      });
      for (const env of ENVS) {
        await ledger.record(name, env, { commit, digest: `sha256:${commit.padEnd(64, '0')}`, runId, kind: 'deploy', status: 'Succeeded', verification: [], requestedBy: { id: 'dev@example.com' }, startedAt: new Date(Date.now() - 120_000).toISOString(), finishedAt: new Date(Date.now() - 60_000).toISOString() });
      }
    });

    await feed.idle();

    // The API answer the page needs, timed on its own: the host's first (its snapshot cache is
    // empty), then warm, then a conditional GET while nothing changed.
    const overviewMs: number[] = [];
    let overviewBytes = 0;
    let etag = '';
    for (let i = 0; i < 6; i++) {
      const t = performance.now();
      const res = await conveyor.api('/api/overview');
      overviewBytes = (await res.arrayBuffer()).byteLength;
      etag = res.headers.get('etag') ?? '';
      overviewMs.push(performance.now() - t);
    }
    const notModifiedMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const res = await conveyor.api('/api/overview', { headers: { 'if-none-match': etag } });
      await res.arrayBuffer();
      if (res.status !== 304) throw new Error(`conditional overview answered ${res.status}`);
      notModifiedMs.push(performance.now() - t);
    }

    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    // Bytes on the wire (headers and gzipped bodies) of every response the page finished loading.
    let received = 0;
    cdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => {
      received += e.encodedDataLength;
    });
    await page.addInitScript(`
      sessionStorage.setItem('conveyor.session', ${JSON.stringify(JSON.stringify({ key: conveyor.host.keys.function, token: TOKEN }))});
      window.__longTaskEnd = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTaskEnd = Math.max(window.__longTaskEnd, e.startTime + e.duration);
      }).observe({ type: 'longtask', buffered: true });
    `);
    const fcp: number[] = [];
    const fmp: number[] = [];
    const tti: number[] = [];
    const bytes: number[] = [];
    const all: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      // Start from a quiet server: the previous load's pollers are gone (about:blank) and the
      // answers they were waiting for are drained (one full overview answered after them).
      await page.goto('about:blank');
      await (await conveyor.api('/api/overview')).arrayBuffer();
      received = 0;
      await page.goto(`${conveyor.origin}/api/dashboard#/`, { waitUntil: 'commit' });
      await page.waitForSelector('table.matrix tbody tr:nth-child(1)', { timeout: 60_000 });
      const shown = await page.evaluate<number>('performance.now()');
      await page.waitForSelector(`table.matrix tbody tr:nth-child(${APPS})`, { timeout: 60_000 });
      all.push(await page.evaluate<number>('performance.now()'));
      bytes.push(received);
      // Interactive: the matrix is shown and the main thread had no long task for 500 ms.
      for (;;) {
        const [now, lastLong] = await page.evaluate<[number, number]>('[performance.now(), window.__longTaskEnd]');
        if (now - Math.max(shown, lastLong) >= 500) {
          tti.push(Math.max(shown, lastLong));
          break;
        }
        await page.waitForTimeout(100);
      }
      fmp.push(shown);
      fcp.push(await page.evaluate<number>("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN"));
    }
    await browser.screenshot('bench', `dashboard-${APPS}-apps`);

    // Live updates on the open apps page: freeze, then unfreeze, prod of one app in the middle.
    const live: number[] = [];
    const target = names[Math.floor(APPS / 2)]!;
    const row = page.locator('table.matrix tbody tr', { has: page.getByRole('link', { name: target, exact: true }) });
    for (let i = 0; i < 4; i++) {
      const freeze = i % 2 === 0;
      const res = await conveyor.api(`/api/apps/${target}/environments/prod/${freeze ? 'freeze' : 'unfreeze'}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, json: { reason: 'bench' } });
      if (res.status >= 300) throw new Error(`${freeze ? 'freeze' : 'unfreeze'}: ${res.status} ${await res.text()}`);
      const answered = performance.now();
      await row.getByText('frozen', { exact: true }).waitFor({ state: freeze ? 'visible' : 'detached', timeout: 30_000 });
      live.push(performance.now() - answered);
    }

    const env = { CONVEYOR_URL: conveyor.origin, CONVEYOR_KEY: conveyor.host.keys.function };
    const cli: number[] = [];
    let rows = 0;
    for (let i = 0; i < 5; i++) {
      const r = await runCli(['status'], env);
      if (r.code !== 0) throw new Error(`conveyor status exited ${r.code}`);
      rows = r.stdout.trim().split('\n').length - 1;
      cli.push(r.ms);
    }
    const cliJson: number[] = [];
    for (let i = 0; i < 3; i++) cliJson.push((await runCli(['status', '--json'], env)).ms);

    const p50 = (v: number[]) => percentile(v, 50);
    const g = `dashboard (${APPS} apps x ${ENVS.length} envs)`;
    return [
      { group: g, metric: 'GET /api/overview: first after start / warm p50 of 5 (ms); JSON bytes', value: `${fmt(overviewMs[0]!, 0)} / ${fmt(p50(overviewMs.slice(1)), 0)}; ${overviewBytes}` },
      { group: g, metric: 'GET /api/overview with If-None-Match, nothing changed (304): p50 of 5 (ms)', value: fmt(p50(notModifiedMs), 0) },
      { group: g, metric: `first contentful paint, p50 of ${LOADS} cold loads (ms)`, value: fmt(p50(fcp), 0) },
      { group: g, metric: 'first matrix rows on screen (first meaningful paint), p50 (ms)', value: fmt(p50(fmp), 0), goal: '<= 1000', met: p50(fmp) <= 1000 ? 'yes' : 'no' },
      { group: g, metric: 'interactive (rows shown, no long task for 500 ms), p50 (ms)', value: fmt(p50(tti), 0), goal: '<= 1000', met: p50(tti) <= 1000 ? 'yes' : 'no' },
      { group: g, metric: `all ${APPS} apps on screen, p50 (ms)`, value: fmt(p50(all), 0) },
      { group: g, metric: `bytes downloaded until all ${APPS} apps show (KB, gzipped transfer)`, value: fmt(p50(bytes) / 1024, 1), goal: '<= 150', met: p50(bytes) / 1024 <= 150 ? 'yes' : 'no' },
      { group: g, metric: `live update on the apps page (freeze/unfreeze -> badge): each of ${live.length} (ms)`, value: live.map((v) => fmt(v, 0)).join(' / '), goal: '<= 2000', met: Math.max(...live) <= 2000 ? 'yes' : 'no' },
      { group: 'cli', metric: `conveyor status, ${rows} apps: wall time p50 of 5 (ms)`, value: fmt(p50(cli), 0), goal: '<= 500', met: p50(cli) <= 500 ? 'yes' : 'no' },
      { group: 'cli', metric: 'conveyor status --json: wall time p50 of 3 (ms)', value: fmt(p50(cliJson), 0) },
    ];
  } finally {
    await browser.close();
    await conveyor.dispose();
  }
}
