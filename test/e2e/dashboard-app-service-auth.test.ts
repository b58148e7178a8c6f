// Dashboard sign-in through App Service authentication (Entra ID), in a real browser (Debian's
// Chromium through playwright-core): Conveyor runs with WEBSITE_AUTH_ENABLED=true behind a
// loopback proxy that does what App Service's authentication proxy does for a signed-in
// session — it drops any x-ms-client-principal* header the browser sent and adds its own. The
// dashboard then shows who is signed in without asking for an API token; actions are shown and
// work per the caller's rights (Entra group -> Conveyor group through CONVEYOR_ENTRA_GROUPS).
// Screenshots are saved under .artifacts/dashboard/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { launchBrowser, type TestBrowser } from '../support/browser.js';
import { startConveyor, type ConveyorUnderTest } from './conveyor-support.js';
import { AppRegistry } from '../../shared/apps/index.js';
import { EnvironmentControls } from '../../shared/environments/index.js';
import { DeploymentLedger, RunStore } from '../../shared/ledger/index.js';
import { BlobSyncStore } from '../../shared/reconcile/index.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
import { MatrixSnapshots } from '../../shared/use-cases/matrix-snapshot.js';

const RELEASE_MANAGERS = '6f9c2b3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f';
const PEOPLE = {
  alice: { id: 'alice@example.com', name: 'Alice Entra', groups: [RELEASE_MANAGERS] },
  bob: { id: 'bob@example.com', name: 'Bob Entra', groups: ['00000000-0000-0000-0000-00000000000b'] },
};

/** The principal App Service's authentication puts in x-ms-client-principal (base64 JSON). */
function principal(who: (typeof PEOPLE)[keyof typeof PEOPLE]): string {
  const claims = [
    { typ: 'preferred_username', val: who.id },
    { typ: 'name', val: who.name },
    ...who.groups.map((g) => ({ typ: 'groups', val: g })),
  ];
  return Buffer.from(JSON.stringify({ auth_typ: 'aad', claims, name_typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', role_typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role' })).toString('base64');
}

let conveyor: ConveyorUnderTest;
let browser: TestBrowser;
let page: Page;
let proxy: Server;
let origin: string;
let signedIn: keyof typeof PEOPLE = 'alice';
const commit = (n: number) => n.toString(16).padStart(40, 'e');
const RUN = `shop.${commit(3)}`;

before(async () => {
  conveyor = await startConveyor({ env: { WEBSITE_AUTH_ENABLED: 'true', CONVEYOR_ENTRA_GROUPS: JSON.stringify({ 'release-managers': [RELEASE_MANAGERS] }) } });
  const res = await conveyor.api('/api/apps/shop', {
    method: 'PUT',
    key: 'admin',
    json: { repoUrl: 'https://git.example.com/acme/shop.git', provider: 'github', branches: ['main'], webhookSecretSetting: 'UNUSED_SECRET', policy: { environments: { prod: { rollback: ['group:release-managers'] } } } },
  });
  assert.equal(res.status, 201, await res.text());
  // Two deployments of prod and a third run waiting for release managers' approval, recorded
  // through stores that announce their changes (as Conveyor's own do).
  const state = containerClient(conveyor.host.storage!.connectionString, CONTAINERS.state);
  const feed = new MatrixSnapshots(state, undefined, { log: () => undefined });
  const ledger = new DeploymentLedger(state, { changes: feed });
  const runs = new RunStore(state, { changes: feed });
  feed.readFrom({ apps: new AppRegistry(state), ledger, runs, controls: new EnvironmentControls(state), syncStates: new BlobSyncStore(state) });
  const now = Date.now();
  for (const n of [1, 2]) {
    await runs.create({ app: 'shop', runId: `shop.${commit(n)}`, status: 'Succeeded', commit: commit(n), environmentOrder: ['prod'], environments: { prod: { status: 'Succeeded' } } });
    await ledger.record('shop', 'prod', { commit: commit(n), digest: `sha256:${commit(n).padEnd(64, '0')}`, runId: `shop.${commit(n)}`, kind: 'deploy', status: 'Succeeded', verification: [], startedAt: new Date(now - 60_000).toISOString(), finishedAt: new Date(now).toISOString() });
  }
  await runs.create({
    app: 'shop',
    runId: RUN,
    status: 'Running',
    commit: commit(3),
    pusher: { id: 'carol@example.com' },
    environmentOrder: ['prod'],
    environments: { prod: { status: 'Pending', approval: { waitingSince: new Date(now).toISOString(), until: new Date(now + 3_600_000).toISOString(), approvers: ['group:release-managers'], required: 1, allowSelfApproval: false, decisions: [] } } },
  });
  await feed.idle();

  // The authentication proxy: only it sets the principal headers, for whoever is signed in.
  const upstream = new URL(conveyor.origin);
  proxy = createServer((req, res) => {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !name.startsWith('x-ms-client-principal')));
    const who = PEOPLE[signedIn];
    Object.assign(headers, { 'x-ms-client-principal': principal(who), 'x-ms-client-principal-name': who.id, 'x-ms-client-principal-idp': 'aad', host: upstream.host });
    const forward = httpRequest({ hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  browser = await launchBrowser();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
  await conveyor?.dispose();
});

async function signInWithKeyOnly(): Promise<void> {
  await page.goto(`${origin}/api/dashboard#/`);
  await page.getByLabel('Function key').fill(conveyor.host.keys.function);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe('dashboard behind App Service authentication', () => {
  test('the signed-in Entra identity is shown without an API token; the token never enters the session', async () => {
    await signInWithKeyOnly();
    await page.getByText('Signed in as').getByText('Alice Entra').waitFor();
    const session = JSON.parse((await page.evaluate<string | null>("sessionStorage.getItem('conveyor.session')")) ?? '{}');
    assert.deepEqual(Object.keys(session), ['key'], 'only the function key is kept: the identity comes from the proxy');
    await page.getByRole('table', { name: /Environments of every app/ }).getByText('r2').waitFor();
    await browser.screenshot('dashboard', '10-app-service-auth-signed-in');
  });

  test('a release manager sees and uses the actions: roll back is offered, freeze works and records who', async () => {
    await page.goto(`${origin}/api/dashboard#/apps/shop`);
    const prod = page.getByRole('article', { name: 'prod' });
    await prod.getByRole('button', { name: 'Roll back…' }).waitFor();
    await prod.getByRole('button', { name: 'Freeze…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Freeze prod' });
    await dialog.getByLabel(/Reason/).fill('entra freeze');
    await dialog.getByRole('button', { name: 'Freeze' }).click();
    await dialog.waitFor({ state: 'detached' });
    await prod.getByText(/Frozen .* by alice@example.com: entra freeze/).waitFor();
    await page.goto(`${origin}/api/dashboard#/runs/${RUN}`);
    await page.locator('li.stage[data-env="prod"]').getByRole('button', { name: 'Approve…' }).waitFor();
    await browser.screenshot('dashboard', '11-app-service-auth-release-manager');
  });

  test('someone outside the release managers sees neither roll back, unfreeze nor approve, and is told why', async () => {
    signedIn = 'bob';
    await page.goto(`${origin}/api/dashboard#/apps/shop`);
    await page.reload();
    await page.getByText('Signed in as').getByText('Bob Entra').waitFor();
    const prod = page.getByRole('article', { name: 'prod' });
    await prod.getByText(/bob@example.com may not roll prod back/).waitFor();
    assert.equal(await prod.getByRole('button', { name: 'Roll back…' }).count(), 0);
    // Alice's freeze stays: lifting it needs the right to roll back.
    assert.deepEqual([await prod.getByText(/Frozen .* by alice@example.com/).count(), await prod.getByRole('button', { name: 'Unfreeze…' }).count()], [1, 0]);
    await page.goto(`${origin}/api/dashboard#/runs/${RUN}`);
    await page.locator('li.stage[data-env="prod"]').getByText(/waiting since/).waitFor();
    assert.equal(await page.locator('li.stage[data-env="prod"]').getByRole('button', { name: 'Approve…' }).count(), 0);
    // The API agrees: the same request the button would send is refused.
    const refused = await fetch(`${origin}/api/apps/shop/environments/prod/rollback`, { method: 'POST', headers: { 'x-functions-key': conveyor.host.keys.function, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'try' }) });
    assert.equal(refused.status, 403, await refused.text());
    await browser.screenshot('dashboard', '12-app-service-auth-not-allowed');
  });
});
