// The dashboard in a real browser (Debian's Chromium through playwright-core) against a running
// Conveyor: sign in, see the matrix, follow a run live, approve with a comment, roll back to a
// chosen revision, see the result; refusals show the API's problem detail. Screenshots are saved
// under .artifacts/dashboard/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { served, startConveyor, type ConveyorUnderTest, processEnvironmentYaml, pushCommit } from './conveyor-support.js';

const SECRET = 'dashboard-webhook-secret-01234';
const TOKENS = {
  'token-alice-dash-00000000001': { id: 'alice@example.com', name: 'Alice' },
  'token-mallory-dash-000000002': { id: 'mallory@example.com', name: 'Mallory' },
};
const ALICE = 'token-alice-dash-00000000001';
const MALLORY = 'token-mallory-dash-000000002';

let conveyor: ConveyorUnderTest;
let sample: SampleService;
let browser: TestBrowser;
let page: Page;

function pipeline(ports: Record<string, number>): string {
  const env = (name: string, extra = '') => processEnvironmentYaml(name, ports[name], extra);
  return `build:
  command: echo "building $CONVEYOR_COMMIT" && mkdir -p dist && cp server.js dist/
  artifact: [dist]
environments:
${env('dev')}${env('staging')}${env('prod', '    approval: { approvers: [alice@example.com], required: 1, timeout: 1h }\n')}`;
}

const push = (commit: string): Promise<string> => pushCommit(conveyor, sample, SECRET, commit);

async function signIn(token: string | undefined): Promise<void> {
  await page.goto(`${conveyor.origin}/api/dashboard`);
  await page.getByLabel('Function key').fill(conveyor.host.keys.function);
  if (token) await page.getByLabel(/API token/).fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

before(async () => {
  sample = await createSampleService();
  await sample.commitPipeline(pipeline(sample.ports));
  conveyor = await startConveyor({ env: { DASH_SECRET: SECRET, CONVEYOR_API_TOKENS: JSON.stringify(TOKENS) } });
  const res = await conveyor.api('/api/apps/shop', { method: 'PUT', key: 'admin', json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'DASH_SECRET' } });
  assert.equal(res.status, 201, await res.text());
  browser = await launchBrowser();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
});

after(async () => {
  await browser?.close();
  await conveyor?.dispose();
  await sample?.dispose();
});

describe('dashboard', () => {
  let firstRun: string;

  test('the overview API pages by offset and limit, with the total; bad paging is a 400 problem', async () => {
    const all = (await (await conveyor.api('/api/overview')).json()) as any;
    assert.deepEqual([all.apps.map((a: any) => a.name), all.total, all.offset], [['shop'], 1, 0]);
    const beyond = (await (await conveyor.api('/api/overview?offset=5&limit=10')).json()) as any;
    assert.deepEqual([beyond.apps, beyond.total], [[], 1]);
    for (const q of ['limit=0', 'limit=abc', 'offset=-1', 'limit=501']) {
      const res = await conveyor.api(`/api/overview?${q}`);
      assert.equal(res.status, 400, q);
      assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
    }
    assert.equal((await conveyor.api('/api/overview', { key: 'none' })).status, 401);
  });

  test('a wrong token is refused with the API problem detail; nothing is put in the URL', async () => {
    await signIn('not-a-real-token-at-all-0000');
    await page.getByRole('alert').getByText('unknown API token').waitFor();
    assert.ok(!page.url().includes('token') && !page.url().includes(conveyor.host.keys.function));
    await browser.screenshot('dashboard', '01-sign-in-refused');
  });

  test('sign in; the matrix shows the app and updates live as a push deploys', async () => {
    await signIn(ALICE);
    await page.getByText('Signed in as').waitFor();
    assert.deepEqual(await page.evaluate('Object.keys(sessionStorage)'), ['conveyor.session'], 'credentials live in sessionStorage');
    assert.deepEqual(await page.evaluate('[Object.keys(localStorage), document.cookie]'), [[], ''], 'nothing in localStorage or cookies');
    assert.ok(!page.url().includes(ALICE));
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    firstRun = await push(await sample.head());
    // dev, staging deploy; prod waits for approval: all of it appears without a reload.
    const matrix = page.getByRole('table', { name: /Environments of every app/ });
    await matrix.getByText('approval waiting').waitFor({ timeout: 60_000 });
    const headers = await matrix.locator('thead th').allTextContents();
    assert.deepEqual(headers.map((h) => h.toLowerCase()), ['app', 'dev', 'staging', 'prod'], 'promotion order');
    const row = matrix.locator('tbody tr', { hasText: 'shop' });
    assert.equal(await row.getByText('r1').count(), 2, 'dev and staging run revision 1');
    assert.ok((await row.getByText('healthy').count()) >= 2);
    await browser.screenshot('dashboard', '02-matrix-approval-waiting');
  });

  test('follow the run: prod waits, Alice approves with a comment, the run finishes on screen', async () => {
    await page.getByRole('link', { name: 'approval waiting' }).click();
    await page.getByRole('heading', { name: /^Run / }).waitFor();
    const prod = page.locator('li.stage[data-env="prod"]');
    await prod.getByText(/waiting since/).waitFor();
    await page.getByRole('button', { name: 'Show log' }).first().click();
    await page.getByLabel('build log').getByText(/building [0-9a-f]{40}/).waitFor();
    await browser.screenshot('dashboard', '03-run-waiting');

    await prod.getByRole('button', { name: 'Approve…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Approve prod' });
    await dialog.getByLabel(/Comment/).fill('ship it');
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await dialog.waitFor({ state: 'detached' });
    await prod.getByText(/approved by Alice/).waitFor();
    await page.locator('li.stage[data-env="dev"]').getByText(/1 verification try/).waitFor();
    assert.match(await prod.textContent() ?? '', /“ship it”/);
    // The run finishing reaches the screen within the polling interval: measured, not asserted.
    let finishedAt = 0;
    for (;;) {
      const run = (await (await conveyor.api(`/api/runs/${firstRun}`)).json()) as any;
      if (run.status === 'Succeeded') {
        finishedAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await page.locator('h1', { hasText: 'Succeeded' }).waitFor();
    console.log(`dashboard: run Succeeded on screen ${Date.now() - finishedAt} ms after the API reported it`);
    assert.equal((await served(sample.ports.prod))?.commit, firstRun.split('.')[1]);
    await browser.screenshot('dashboard', '04-run-approved');
  });

  test('Mallory, not an approver, sees no Approve button on a waiting run', async () => {
    const second = await push(await sample.commitChange('second change'));
    await conveyor.waitForRun(second, (r) => r.environments?.prod?.approval?.waitingSince !== undefined);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(MALLORY);
    await page.getByText('Signed in as').waitFor();
    await page.goto(`${conveyor.origin}/api/dashboard#/runs/${second}`);
    const prod = page.locator('li.stage[data-env="prod"]');
    await prod.getByText(/waiting since/).waitFor();
    assert.equal(await prod.getByRole('button', { name: 'Approve…' }).count(), 0);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(ALICE);
    await page.getByText('Signed in as').waitFor();
  });

  test('roll dev back to a chosen revision with a reason; the result and the history update', async () => {
    await page.goto(`${conveyor.origin}/api/dashboard#/apps/shop`);
    const dev = page.getByRole('article', { name: 'dev' });
    await dev.getByText('r2').first().waitFor();
    await page.getByRole('img', { name: /deployments and .* failures in 30 days/ }).first().waitFor();
    await dev.getByRole('button', { name: 'Roll back…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back dev' });
    await dialog.getByLabel('Revision to redeploy').selectOption('1');
    await dialog.getByLabel(/Reason/).fill('customer reports');
    await browser.screenshot('dashboard', '05-rollback-confirm');
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('status').filter({ hasText: 'Rollback of dev' }).getByText('Succeeded').waitFor({ timeout: 60_000 });
    await dev.getByText(/rollback to r1/).waitFor();
    const history = (await (await conveyor.api('/api/apps/shop/environments/dev/history')).json()) as any;
    assert.equal(history.records[0].kind, 'rollback');
    assert.equal(history.records[0].rolledBackTo, 1);
    assert.match(history.records[0].reason, /customer reports/);
    assert.equal((await served(sample.ports.dev))?.commit, firstRun.split('.')[1]);
    await browser.screenshot('dashboard', '06-rolled-back');
  });

  test('the rollback froze dev: unfreeze it, then freeze it by hand with a reason', async () => {
    const dev = page.getByRole('article', { name: 'dev' });
    await dev.getByText('frozen', { exact: true }).waitFor();
    await dev.getByRole('button', { name: 'Unfreeze…' }).click();
    let dialog = page.getByRole('dialog', { name: 'Unfreeze dev' });
    await dialog.getByRole('button', { name: 'Unfreeze' }).click();
    await dialog.waitFor({ state: 'detached' });
    await dev.getByText('frozen', { exact: true }).waitFor({ state: 'detached' });
    await dev.getByRole('button', { name: 'Freeze…' }).waitFor();
    await dev.getByRole('button', { name: 'Freeze…' }).click();
    dialog = page.getByRole('dialog', { name: 'Freeze dev' });
    await dialog.getByLabel(/Reason/).fill('sale weekend');
    await dialog.getByRole('button', { name: 'Freeze' }).click();
    await dialog.waitFor({ state: 'detached' });
    await dev.getByText(/Frozen .* by alice@example.com: sale weekend/).waitFor();
    const app = (await (await conveyor.api('/api/apps/shop')).json()) as any;
    assert.equal(app.environments.find((e: any) => e.name === 'dev').freeze.reason, 'sale weekend');
  });

  test('a refused rollback shows the API problem detail in the dialog', async () => {
    const dev = page.getByRole('article', { name: 'dev' });
    await dev.getByRole('button', { name: 'Roll back…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back dev' });
    // Revision 3 is the rollback itself (current): offered revisions exclude it; pick r2 and
    // make the API refuse by deleting the app registration first.
    await conveyor.api('/api/apps/shop', { method: 'DELETE', key: 'admin' });
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await dialog.getByRole('alert').getByText(/404/).waitFor();
    await browser.screenshot('dashboard', '07-rollback-refused');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  test('keyboard and phone: the sign-out button is reachable by Tab, and the matrix fits a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${conveyor.origin}/api/dashboard#/`);
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    let reached = false;
    for (let i = 0; i < 6 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate("document.activeElement?.textContent === 'Sign out'");
    }
    assert.ok(reached, 'Sign out is reachable with the keyboard');
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    assert.ok(overflow <= 1, `no page-wide horizontal scroll on a phone (overflow ${overflow}px)`);
    await browser.screenshot('dashboard', '08-phone');
  });
  test('without App Service authentication a forged x-ms-client-principal is not trusted: no identity, actions refused', async () => {
    const forged = Buffer.from(JSON.stringify({ auth_typ: 'aad', claims: [{ typ: 'preferred_username', val: 'alice@example.com' }, { typ: 'name', val: 'Forged Alice' }] })).toString('base64');
    const me = (await (await conveyor.api('/api/me', { headers: { 'x-ms-client-principal': forged } })).json()) as any;
    assert.deepEqual([me.identity, me.appServiceAuth], [null, false]);
    const freeze = await conveyor.api('/api/apps/shop/environments/dev/freeze', { method: 'POST', headers: { 'x-ms-client-principal': forged }, json: { reason: 'forged' } });
    assert.equal(freeze.status, 401);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.setExtraHTTPHeaders({ 'x-ms-client-principal': forged });
    try {
      await signIn(undefined);
      await page.getByText('Read-only (no identity)').waitFor();
      assert.equal(await page.getByText('Forged Alice').count(), 0);
    } finally {
      await page.setExtraHTTPHeaders({});
    }
  });
});
