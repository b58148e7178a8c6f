// The `aks` target: endpoint and credentials from the fake ARM endpoint through the real
// @azure/arm-containerservice client and a test token credential the fake checks; manifests
// applied to the fake Kubernetes API server with the credentials ARM handed out (a local
// account's token) or, for Entra ID clusters, a token for the AKS server application.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AksTargetSpec } from '../../shared/domain/pipeline.js';
import { ClusterUnavailableError, KubernetesTarget } from '../../shared/targets/kubernetes/index.js';
import { AKS_SERVER_APP_ID, aksKubeconfig } from '../../shared/targets/kubernetes/aks-credentials.js';
import { readSettings } from '../../shared/config/settings.js';
import { ValidationError } from '../../shared/errors.js';
import { armClientOptions } from '../../shared/targets/kubernetes/arm-options.js';
import { ARM_SCOPE, FakeArm, TestTokenCredential } from '../support/fake-arm/server.js';
import { FakeKube } from '../support/fake-kube/server.js';

const SUB = '11111111-2222-3333-4444-555555555555';
const DIGEST = `sha256:${'c'.repeat(64)}`;
const AKS_SCOPE = `${AKS_SERVER_APP_ID}/.default`;

let credential: TestTokenCredential;
let arm: FakeArm;
let local: FakeKube;
let entra: FakeKube;
let dir: string;

before(async () => {
  credential = new TestTokenCredential();
  arm = await FakeArm.start(credential);
  local = await FakeKube.start({ namespaces: ['shop'], token: 'local-account-token' });
  entra = await FakeKube.start({ namespaces: ['shop'], token: credential.tokenFor(AKS_SCOPE), user: 'conveyor-identity@contoso' });
  arm.addCluster({ subscription: SUB, resourceGroup: 'rg-apps', name: 'aks-local', server: local.url, caPem: local.caPem, entraId: false, localToken: 'local-account-token' });
  arm.addCluster({ subscription: SUB, resourceGroup: 'rg-apps', name: 'aks-entra', server: entra.url, caPem: entra.caPem, entraId: true });
  dir = await mkdtemp(join(tmpdir(), 'aks-target-'));
  await mkdir(join(dir, 'artifact', 'k8s'), { recursive: true });
  await writeFile(join(dir, 'artifact', 'image.digest'), DIGEST);
  await writeFile(
    join(dir, 'artifact', 'k8s', 'web.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "shopacr.azurecr.io/shop/web" }] }
`,
  );
});

after(async () => {
  await Promise.all([arm.stop(), local.stop(), entra.stop()]);
  await rm(dir, { recursive: true, force: true });
});

function spec(cluster: string, over: Partial<AksTargetSpec> = {}): AksTargetSpec {
  return {
    type: 'aks',
    subscription: SUB,
    resourceGroup: 'rg-apps',
    cluster,
    namespace: 'shop',
    manifests: 'k8s',
    image: { name: 'shopacr.azurecr.io/shop/web', digestFile: 'image.digest' },
    forceConflicts: false,
    prune: false,
    rolloutTimeoutMs: 60_000,
    rolloutPollMs: 50,
    url: 'https://shop.example',
    ...over,
  };
}

/** What the AKS credentials handed to the redaction list. */
const redactionList: string[] = [];

function target(): KubernetesTarget {
  return new KubernetesTarget({ type: 'aks', kubeconfig: aksKubeconfig({ credential, clientOptions: arm.clientOptions(), onSecrets: (v) => redactionList.push(...v) }), retry: { attempts: 2, baseMs: 5, maxMs: 20 } });
}

const deploy = (t: KubernetesTarget, s: AksTargetSpec, revision = '1') =>
  t.deploy({ app: 'shop', environment: 'prod', revision: Number(revision), commit: 'a'.repeat(40), digest: `sha256:${'0'.repeat(64)}`, spec: s,
    materialize: (dest) => cp(join(dir, 'artifact'), dest, { recursive: true }),
    readRepository: async (folder) => [{ file: 'web.yaml', text: await readFile(join(dir, 'artifact', folder, 'web.yaml'), 'utf8') }],
  });

async function complete(t: KubernetesTarget, s: AksTargetSpec, revision: string): Promise<string> {
  for (;;) {
    const r = await t.rollout('shop', 'prod', s, Number(revision));
    if (r.state !== 'progressing') return r.state;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a cluster with local accounts: the kubeconfig ARM returns is used as it is', async () => {
  const t = target();
  const result = await deploy(t, spec('aks-local'));
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.equal(await complete(t, spec('aks-local'), '1'), 'complete');
  assert.equal((local.get('apps/v1', 'Deployment', 'shop', 'web') as any).spec.template.spec.containers[0].image, `shopacr.azurecr.io/shop/web@${DIGEST}`);
  const calls = arm.requests.map((r) => `${r.method} ${r.path.split('/').slice(-2).join('/')} ${r.apiVersion}`);
  assert.deepEqual(calls.slice(0, 2), ['GET managedClusters/aks-local 2025-10-01', 'POST aks-local/listClusterUserCredential 2025-10-01']);
  assert.ok(!credential.requested.includes(AKS_SCOPE), 'no Entra ID token is needed for a local account');
  assert.ok(redactionList.includes('local-account-token'), "the local account's token joins the redaction list");
  assert.deepEqual(local.violations(), []);
});

test('an Entra ID cluster: Conveyor authenticates with a token for the AKS server application, never running kubelogin', async () => {
  const t = target();
  const result = await deploy(t, spec('aks-entra'));
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.equal(await complete(t, spec('aks-entra'), '1'), 'complete');
  assert.ok(credential.requested.includes(AKS_SCOPE));
  assert.ok(credential.requested.includes(ARM_SCOPE));
  assert.ok(redactionList.includes(credential.tokenFor(AKS_SCOPE)), 'the Entra ID token joins the redaction list');
  // The fake Kubernetes API accepted only that token: the deployment is there.
  assert.ok(entra.get('apps/v1', 'Deployment', 'shop', 'web'));
  assert.ok(entra.requests.every((r) => r.status !== 401));
  // The kubeconfig is cached: a second deploy does not go back to ARM.
  const before = arm.requests.length;
  assert.equal((await deploy(t, spec('aks-entra'), '2')).ok, true);
  assert.equal(arm.requests.length, before);
});

test('ARM faults: a missing cluster and a 403 are verdicts naming the cluster; throttling is retried; persistent 5xx is unavailable', async () => {
  const missing = await deploy(target(), spec('aks-nope'));
  assert.equal(missing.ok, false);
  assert.match(missing.ok ? '' : missing.reason, /AKS cluster aks-nope \(resource group rg-apps, subscription 11111111-2222-3333-4444-555555555555\) was not found/);

  arm.injectFault(403, 1, (r) => r.path.endsWith('/listClusterUserCredential'));
  const denied = await deploy(target(), spec('aks-local'));
  assert.equal(denied.ok, false);
  assert.match(denied.ok ? '' : denied.reason, /may not list the cluster user credentials of AKS cluster aks-local .*Azure Kubernetes Service Cluster User Role/);

  arm.injectFault(429, 2, (r) => r.method === 'GET', 0);
  const throttled = await deploy(target(), spec('aks-local'), '3');
  assert.equal(throttled.ok, true, 'the SDK pipeline retried the 429s');

  arm.injectFault(503, 10, () => true);
  await assert.rejects(deploy(target(), spec('aks-local'), '4'), (err: unknown) => {
    assert.ok(err instanceof ClusterUnavailableError, String(err));
    assert.match(err.message, /Azure Resource Manager failed to read the managed cluster of AKS cluster aks-local/);
    return true;
  });
  arm.clearFaults();
});

test('CONVEYOR_ARM_AUDIENCE sets the audience of the ARM token; moving only CONVEYOR_ARM_ENDPOINT keeps public ARM\'s audience', async () => {
  const GOV = 'https://management.usgovcloudapi.net';
  // A sovereign cloud's ARM: its own endpoint and its own audience, checked on every request.
  const gov = await FakeArm.start(credential, { audience: GOV });
  try {
    gov.addCluster({ subscription: SUB, resourceGroup: 'rg-apps', name: 'aks-local', server: local.url, caPem: local.caPem, entraId: false, localToken: 'local-account-token' });
    const through = (env: Record<string, string>) => {
      const settings = readSettings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', CONVEYOR_ARM_ENDPOINT: gov.url, CONVEYOR_ARM_CA: gov.caPem, ...env });
      const clientOptions = { ...armClientOptions(settings.arm), retryOptions: { maxRetries: 0 } };
      return new KubernetesTarget({ type: 'aks', kubeconfig: aksKubeconfig({ credential, clientOptions }), retry: { attempts: 1, baseMs: 5, maxMs: 5 } });
    };

    const ok = await deploy(through({ CONVEYOR_ARM_AUDIENCE: `${GOV}/` }), spec('aks-local'), '5');
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.ok(gov.audiences.length >= 2);
    assert.deepEqual(new Set(gov.audiences), new Set([GOV]), 'every ARM call carried a token for the configured audience');

    // Endpoint alone (a proxy of public ARM): the token is public ARM's, which this ARM refuses.
    gov.audiences.length = 0;
    const refused = await deploy(through({}), spec('aks-local'), '6');
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? '' : refused.reason, /may not read the managed cluster of AKS cluster aks-local/);
    assert.deepEqual(gov.audiences, ['https://management.azure.com']);
  } finally {
    await gov.stop();
  }
  assert.throws(() => readSettings({ AzureWebJobsStorage: 'x', CONVEYOR_ARM_AUDIENCE: 'https://management.usgovcloudapi.net/.default' }), (err: unknown) => err instanceof ValidationError && /CONVEYOR_ARM_AUDIENCE/.test(err.message));
  assert.throws(() => readSettings({ AzureWebJobsStorage: 'x', CONVEYOR_ARM_AUDIENCE: 'http://management.azure.com' }), ValidationError);
});
