// The `kubernetes` deploy target against the protocol-level fake API server (or a real cluster
// named by CONVEYOR_TEST_KUBECONFIG): real @kubernetes/client-node, real HTTPS, artifacts as real
// folders. Rollouts are read the way the orchestrator reads them: once per call, polled here until
// an observable state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { generateX25519Identity } from 'age-encryption';
import { SealedSecrets } from '../../shared/secrets/index.js';
import type { KubernetesTargetSpec } from '../../shared/domain/pipeline.js';
import type { DeployRequest, DeploySuccess } from '../../shared/targets/deploy-target.js';
import { ClusterUnavailableError, KubernetesTarget, settingKubeconfig, type RolloutReport } from '../../shared/targets/kubernetes/index.js';
import { REAL_CLUSTER_SKIP, testCluster, type TestCluster } from '../support/fake-kube/test-cluster.js';

// On a real cluster, CONVEYOR_TEST_IMAGE names a pullable image by digest (name@sha256:…).
const [IMAGE, DIGEST_A] = (process.env['CONVEYOR_TEST_IMAGE'] ?? `registry.test/shop/web@sha256:${'a'.repeat(64)}`).split('@') as [string, string];
const DIGEST_B = process.env['CONVEYOR_TEST_IMAGE'] ? DIGEST_A : `sha256:${'b'.repeat(64)}`;
const BROKEN = `sha256:${'d'.repeat(64)}`;

let cluster: TestCluster;
let tmp: string;
let ns: string;
let target: KubernetesTarget;
let kc: k8s.KubeConfig;

const manifests = (opts: { withConfig?: boolean; replicas?: number } = {}) => `# the web service
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${opts.replicas ?? 2}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: ${IMAGE}:latest
          ports: [{ containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
${
  opts.withConfig === false
    ? ''
    : `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  GREETING: hello
`
}`;

/** An artifact folder as the build would pack it: manifests plus the reported image digest. */
async function artifact(label: string, digest: string | null, yaml = manifests()): Promise<string> {
  const dir = join(tmp, 'artifacts', label);
  await mkdir(join(dir, 'deploy', 'k8s'), { recursive: true });
  await writeFile(join(dir, 'deploy', 'k8s', 'app.yaml'), yaml);
  if (digest !== null) await writeFile(join(dir, 'image.digest'), `${digest}\n`);
  return dir;
}

function spec(over: Partial<KubernetesTargetSpec> = {}): KubernetesTargetSpec {
  return {
    type: 'kubernetes',
    namespace: ns,
    manifests: 'deploy/k8s',
    image: { name: IMAGE, digestFile: 'image.digest' },
    kubeconfigSetting: 'TEST_KUBECONFIG',
    forceConflicts: false,
    prune: false,
    rolloutTimeoutMs: 60_000,
    rolloutPollMs: 50,
    url: 'http://web.example.test',
    ...over,
  };
}

function request(dir: string, revision: string, s = spec()): DeployRequest<KubernetesTargetSpec> {
  return {
    app: 'shop',
    environment: 'dev',
    revision: Number(revision),
    commit: `c0mm1t${revision.padStart(34, '0')}`,
    runId: `run-${revision}`,
    digest: `sha256:${revision.padStart(64, '0')}`,
    spec: s,
    materialize: (dest) => cp(dir, dest, { recursive: true }),
    // The repository at the commit: here the same folder (the e2e test reads a real git repository).
    readRepository: async (folder, include) => {
      const root = join(dir, folder);
      const files = (await readdir(root, { recursive: true })).filter((f) => include.test(f)).sort();
      return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(root, file), 'utf8') })));
    },
  };
}

async function rolledOut(s: KubernetesTargetSpec, revision: string): Promise<RolloutReport> {
  for (;;) {
    const r = await target.rollout('shop', 'dev', s, Number(revision));
    if (r.state !== 'progressing') return r;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

before(async () => {
  cluster = await testCluster({
    rollout: (d) => (JSON.stringify(d['spec']).includes(BROKEN) ? { outcome: 'deadline', afterMs: 80 } : { outcome: 'available', afterMs: 30 }),
  });
  ns = await cluster.namespace('shop-dev');
  tmp = await mkdtemp(join(tmpdir(), 'k8s-target-'));
  const settings: Record<string, string> = { TEST_KUBECONFIG: cluster.kubeconfig };
  target = new KubernetesTarget({ kubeconfig: settingKubeconfig((n) => settings[n]), retry: { attempts: 3, baseMs: 10, maxMs: 50 } });
  kc = new k8s.KubeConfig();
  kc.loadFromString(cluster.kubeconfig);
});

after(async () => {
  await cluster.dispose();
  await rm(tmp, { recursive: true, force: true });
});

test('deploy pins the image by digest, labels and annotates every object, applies server-side as "conveyor"; the rollout is read until complete', async () => {
  const result = (await target.deploy(request(await artifact('a', DIGEST_A), '1'))) as DeploySuccess;
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.equal(result.baseUrl, 'http://web.example.test');
  assert.equal(result.details['imageDigest'], DIGEST_A);
  assert.equal(result.details['objects'], 'ConfigMap/web-config, Service/web, Deployment/web', 'config first, workloads after');
  assert.match(String(result.details['renderedManifests']), new RegExp(`image: ${IMAGE}@${DIGEST_A}`));

  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
  assert.equal(d.spec?.template.spec?.containers[0]?.image, `${IMAGE}@${DIGEST_A}`);
  assert.equal(d.metadata?.labels?.['conveyor.dev/revision'], '1');
  assert.equal(d.metadata?.labels?.['app.kubernetes.io/managed-by'], 'conveyor');
  assert.equal(d.metadata?.annotations?.['conveyor.dev/commit'], request('', '1').commit);
  assert.equal(d.metadata?.annotations?.['conveyor.dev/run'], 'run-1');
  assert.equal(d.metadata?.annotations?.['conveyor.dev/environment'], 'dev');
  assert.ok(d.metadata?.managedFields?.some((m) => m.manager === 'conveyor' && m.operation === 'Apply'));
  const cm = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ name: 'web-config', namespace: ns });
  assert.equal(cm.metadata?.annotations?.['conveyor.dev/revision'], '1');

  const report = await rolledOut(spec(), '1');
  assert.equal(report.state, 'complete', report.message);
  assert.deepEqual(report.deployments.map((x) => [x.name, x.available, x.desired]), [['web', 2, 2]]);
  const st = await target.status('shop', 'dev', spec());
  assert.equal(st.state, 'running');
  assert.equal(st.healthy, true);
  assert.equal(st.revision, 1);
  if (cluster.fake) assert.deepEqual(cluster.fake.violations(), []);
});

test('a rollout that exceeds its progress deadline is read as failed, naming the Deployment', { skip: REAL_CLUSTER_SKIP }, async () => {
  const result = await target.deploy(request(await artifact('broken', BROKEN), '2'));
  assert.equal(result.ok, true);
  const report = await rolledOut(spec(), '2');
  assert.equal(report.state, 'failed');
  assert.match(report.message, /Deployment web exceeded its progress deadline/);
  // Rolling back re-applies the recorded manifests of revision 1: the same content hash.
  const first = (await target.deploy(request(await artifact('a', DIGEST_A), '3'))) as DeploySuccess;
  const again = (await target.deploy(request(await artifact('a', DIGEST_A), '4'))) as DeploySuccess;
  assert.equal(first.details['manifestsHash'], again.details['manifestsHash']);
  assert.equal((await rolledOut(spec(), '4')).state, 'complete');
});

test('invalid manifests, a missing digest or an image the registry lacks fail before anything is applied', async () => {
  const patchesBefore = cluster.fake?.requests.filter((r) => r.method === 'PATCH').length ?? 0;
  const bad = await target.deploy(
    request(
      await artifact(
        'bad',
        DIGEST_A,
        `apiVersion: apps/v1
kind: Deployment
metadata:
  name: Web_Server
  namespace: prod
spec:
  template:
    spec:
      containers: [{ name: web, image: ${IMAGE} }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: admin-ish
`,
      ),
      '10',
    ),
  );
  assert.equal(bad.ok, false);
  if (bad.ok) return;
  assert.match(bad.reason, /invalid Kubernetes manifests: 3 problems/);
  const lines = bad.logTail.split('\n');
  assert.ok(lines.some((l) => l === `deploy/k8s/app.yaml#1 metadata.name (line 4, column 9): "Web_Server" is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`), bad.logTail);
  assert.ok(lines.some((l) => l.startsWith('deploy/k8s/app.yaml#1 metadata.namespace (line 5, column 14): namespace "prod" differs')), bad.logTail);
  assert.ok(lines.some((l) => l.startsWith('deploy/k8s/app.yaml#2 kind (line 12, column 7): rbac.authorization.k8s.io/v1 ClusterRole is not deployed')), bad.logTail);

  const noDigest = await target.deploy(request(await artifact('nodigest', null), '11'));
  assert.equal(noDigest.ok, false);
  assert.match(noDigest.ok ? '' : noDigest.reason, /reported no image digest: image.digest is missing or empty in the artifact; nothing was applied/);

  const picky = new KubernetesTarget({ kubeconfig: settingKubeconfig(() => cluster.kubeconfig), imageExists: async (_name, digest) => (digest === DIGEST_A ? { state: 'present' } : { state: 'missing', detail: 'HEAD answered 404' }) });
  const unknown = await picky.deploy(request(await artifact('b', DIGEST_B === DIGEST_A ? `sha256:${'e'.repeat(64)}` : DIGEST_B), '12'));
  assert.equal(unknown.ok, false);
  assert.match(unknown.ok ? '' : unknown.reason, /the registry has no image .*@sha256:.*; nothing was applied/);
  if (cluster.fake) assert.equal(cluster.fake.requests.filter((r) => r.method === 'PATCH').length, patchesBefore, 'no apply was sent');
});

test('a field another manager changed is a conflict naming field and manager; forceConflicts takes it back; drift reports the edit', async () => {
  const a = await artifact('a', DIGEST_A);
  const ok = (await target.deploy(request(a, '20'))) as DeploySuccess;
  assert.equal(ok.ok, true);
  await rolledOut(spec(), '20');
  // Someone scales and re-images the Deployment by hand.
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  await apps.patchNamespacedDeployment(
    { name: 'web', namespace: ns, fieldManager: 'kubectl-edit', body: { spec: { replicas: 5, template: { spec: { containers: [{ name: 'web', image: `${IMAGE}:hotfix` }] } } } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
  );
  const drift = await target.drift('shop', 'dev', spec(), String(ok.details['renderedManifests']));
  assert.equal(drift.drifted, true);
  assert.deepEqual(
    drift.items.map((i) => [i.object, i.field, i.recorded, i.live]),
    [
      ['Deployment/web', 'spec.template.spec.containers[web].image', `${IMAGE}@${DIGEST_A}`, `${IMAGE}:hotfix`],
      ['Deployment/web', 'spec.replicas', '2', '5'],
    ],
  );

  // The target's status names the edit for the reconcile loop's drift report.
  const st = await target.status('shop', 'dev', spec());
  assert.equal(st.details['drift'], `Deployment web container web runs ${IMAGE}:hotfix instead of ${IMAGE}@${DIGEST_A}; Deployment web has 5 replicas instead of 2`);

  const conflict = await target.deploy(request(a, '21'));
  assert.equal(conflict.ok, false);
  if (conflict.ok) return;
  assert.match(conflict.reason, /^server-side apply conflict on Deployment web in namespace /);
  assert.match(conflict.reason, /\.spec\.replicas \(managed by "kubectl-edit" using apps\/v1\)/);
  assert.match(conflict.reason, /\.spec\.template\.spec\.containers\[name="web"\]\.image \(managed by "kubectl-edit" using apps\/v1\)/);
  assert.match(conflict.reason, /set forceConflicts: true/);

  const forced = await target.deploy(request(a, '22', spec({ forceConflicts: true })));
  assert.equal(forced.ok, true);
  const after = await target.drift('shop', 'dev', spec(), String((forced as DeploySuccess).details['renderedManifests']));
  assert.deepEqual(after.items, []);
});

test('prune (opt-in) deletes only objects that carry this environment\'s Conveyor labels and left the manifests', async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'hand-made', labels: { app: 'web' } } } });
  const without = await artifact('noconfig', DIGEST_A, manifests({ withConfig: false }));
  const kept = (await target.deploy(request(without, '30'))) as DeploySuccess;
  assert.equal(kept.details['pruned'], '');
  assert.ok(await core.readNamespacedConfigMap({ name: 'web-config', namespace: ns }), 'without prune the old ConfigMap stays');
  const pruned = (await target.deploy(request(without, '31', spec({ prune: true, forceConflicts: true })))) as DeploySuccess;
  assert.equal(pruned.details['pruned'], 'ConfigMap/web-config');
  await assert.rejects(core.readNamespacedConfigMap({ name: 'web-config', namespace: ns }), (e: unknown) => e instanceof k8s.ApiException && e.code === 404);
  assert.ok(await core.readNamespacedConfigMap({ name: 'hand-made', namespace: ns }), 'objects without Conveyor labels are never pruned');
});

test('403 names the verb, resource and namespace; 503s are retried; an unreachable cluster ends in ClusterUnavailableError', { skip: REAL_CLUSTER_SKIP }, async () => {
  const fake = cluster.fake!;
  const a = await artifact('a', DIGEST_A);
  fake.authorizer = (attrs) => !(attrs.verb === 'patch' && attrs.resource === 'services');
  try {
    const denied = await target.deploy(request(a, '40', spec({ forceConflicts: true })));
    assert.equal(denied.ok, false);
    if (denied.ok) return;
    assert.match(denied.reason, new RegExp(`^forbidden: Conveyor may not patch services in namespace ${ns}; grant verb "patch" on resource "services" in a Role there`));
    assert.equal(denied.logTail, 'applied before the failure: ConfigMap/web-config');
  } finally {
    fake.authorizer = () => true;
  }

  fake.injectFault({ kind: 'status', code: 503 }, 2, (r) => r.method === 'PATCH');
  const retried = await target.deploy(request(a, '41', spec({ forceConflicts: true })));
  assert.equal(retried.ok, true);

  fake.injectFault({ kind: 'drop' }, 3);
  await assert.rejects(target.deploy(request(a, '42', spec({ forceConflicts: true }))), (err: unknown) => {
    assert.ok(err instanceof ClusterUnavailableError, String(err));
    assert.match(err.message, /kept failing .* gave up after 3 tries/);
    return true;
  });
  fake.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 0 }, 3);
  await assert.rejects(target.rollout('shop', 'dev', spec()), /kept failing \(429 TooManyRequests: injected 429\) for list Deployments in namespace .*; gave up after 3 tries/);
  assert.deepEqual(fake.violations(), []);
});

test('stop deletes the environment\'s objects; status is absent afterwards', async () => {
  const stopped = await target.stop('shop', 'dev', spec());
  assert.deepEqual(stopped.ok && stopped.wasRunning, true);
  const st = await target.status('shop', 'dev', spec());
  assert.equal(st.state, 'absent');
});

test('without kubeconfigSetting the in-cluster service account (token and CA files, service host and port) is used', { skip: REAL_CLUSTER_SKIP }, async () => {
  const fake = cluster.fake!;
  const root = join(tmp, 'pod-root');
  const sa = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  await mkdir(sa, { recursive: true });
  await writeFile(join(sa, 'token'), fake.token);
  await writeFile(join(sa, 'ca.crt'), fake.caPem);
  await writeFile(join(sa, 'namespace'), ns);
  const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
  process.env['KUBERNETES_SERVICE_HOST'] = '127.0.0.1';
  process.env['KUBERNETES_SERVICE_PORT'] = new URL(fake.url).port;
  try {
    const inCluster = new KubernetesTarget({ kubeconfig: settingKubeconfig(() => undefined, (kc) => kc.loadFromCluster(root)) });
    const s = spec({ forceConflicts: true });
    delete s.kubeconfigSetting;
    const result = await inCluster.deploy(request(await artifact('a', DIGEST_A), '50', s));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal((await inCluster.status('shop', 'dev', s)).revision, 50);
  } finally {
    for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('a kubeconfig sealed into the pipeline file (kubeconfigSecret) is opened with the app\'s key where the target connects, and joins the redaction list', async () => {
  const keys = new SealedSecrets([await generateX25519Identity()]);
  const sealedText = await keys.seal('shop', cluster.kubeconfig);
  const redaction: string[] = [];
  const sealedTarget = new KubernetesTarget({ kubeconfig: settingKubeconfig(() => undefined, undefined, (v) => redaction.push(...v), (app, text, reference) => keys.open(app, text, reference)), retry: { attempts: 2, baseMs: 10, maxMs: 20 } });
  const s = spec({ kubeconfigSetting: undefined, kubeconfigSealed: { secret: 'kubeconfig', reference: 'secrets.kubeconfig (target.kubeconfigSecret)', sealed: sealedText } });
  const result = await sealedTarget.deploy(request(await artifact('sealed', DIGEST_A), '60', s));
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.ok(redaction.includes(cluster.kubeconfig), 'the opened kubeconfig is masked as a whole');
  assert.equal((await sealedTarget.status('shop', 'dev', s)).revision, 60);
  // Sealed for another app, it opens for nobody here: nothing is applied.
  const other = new KubernetesTarget({ kubeconfig: settingKubeconfig(() => undefined, undefined, undefined, (_app, text, reference) => keys.open('other-app', text, reference)) });
  const refused = await other.deploy(request(await artifact('sealed', DIGEST_A), '61', s));
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.reason, /secrets\.kubeconfig \(target\.kubeconfigSecret\)/);
  assert.equal((await sealedTarget.status('shop', 'dev', s)).revision, 60, 'nothing was applied');
});
