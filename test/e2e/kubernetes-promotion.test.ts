// Conveyor deploying to Kubernetes end to end: a signed push webhook starts the durable pipeline
// on the local host; the build step builds the image and reports its digest; dev, staging and
// prod (three namespaces of the fake Kubernetes API server) get the same digest in order, each
// verified by its rollout (a durable timer loop); a commit whose image never becomes available
// is rolled back by re-applying the previous manifests; an edit made directly on the cluster is
// reported as drift by the reconcile loop, and healed where the environment says `drift: heal`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesTargetSpec } from '../../shared/domain/pipeline.js';
import { DeploymentLedger } from '../../shared/ledger/index.js';
import { assessDrift } from '../../shared/reconcile/drift.js';
import { CONTAINERS, containerClient } from '../../shared/storage/blob-store.js';
import { KubernetesTarget, settingKubeconfig } from '../../shared/targets/kubernetes/index.js';
import { FakeArm, TestTokenCredential } from '../support/fake-arm/server.js';
import { FakeKube } from '../support/fake-kube/server.js';
import { FakeRegistry } from '../support/fake-registry/server.js';
import { createSampleService, type SampleService } from '../support/sample-service.js';
import { startConveyor, type ConveyorUnderTest } from './conveyor-support.js';

const SECRET = 'e2e-k8s-webhook-secret-0123456';
const ENVS = ['dev', 'staging', 'prod'] as const;
// The images' registries are not loopback servers, so the pipelines turn the registry check off
// (test/integration/registry-check covers it against a fake registry).
const IMAGE = 'registry.test/shop/web';

const target = (env: string) => `${env === 'staging' ? '    drift: heal\n' : ''}    target:
      type: kubernetes
      namespace: shop-${env}
      manifests: deploy
      image: { name: ${IMAGE}, digestFile: image.digest, registryCheck: false }
      kubeconfigSetting: CONVEYOR_KUBECONFIG_E2E
      rolloutTimeout: 30s
      rolloutPoll: 100ms
      url: https://${env}.shop.example
`;
// The build "builds and pushes" the image and reports its digest (a digest of the source, so
// the same commit always gives the same image). The manifests are not packed: Conveyor reads
// them from the repository at the run's commit.
const PIPELINE = `version: 1
build:
  command: mkdir -p dist && cp server.js dist/ && printf 'sha256:%s\\n' "$(sha256sum server.js | cut -d' ' -f1)" > image.digest
  artifact: [dist, image.digest]
environments:
${ENVS.map((e) => `  - name: ${e}\n${target(e)}`).join('')}`;

const MANIFESTS = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: web
          image: ${IMAGE}:dev
          ports: [{ containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
`;

// A second app whose image Azure Container Registry builds (ACR Tasks, on the fake ARM endpoint).
const SUB = '11111111-2222-3333-4444-555555555555';
const ACR_IMAGE = 'shopacr.azurecr.io/shop/api';
const ACR_PIPELINE = `version: 1
build:
  image: { subscription: ${SUB}, resourceGroup: rg-shop, registry: shopacr, repository: shop/api, poll: 100ms }
environments:
${ENVS.map(
  (e) => `  - name: ${e}
    target:
      type: kubernetes
      namespace: api-${e}
      manifests: deploy
      image: { name: ${ACR_IMAGE}, digestFile: image.digest, registryCheck: false }
      kubeconfigSetting: CONVEYOR_KUBECONFIG_E2E
      rolloutTimeout: 30s
      rolloutPoll: 100ms
      url: https://${e}.api.example
`,
).join('')}`;

// A third app whose build and test steps run as Kubernetes Jobs (`runner: kubernetes`) on the
// fake, whose pods run them as real local processes; the build's Job fetches the commit from git.
const JOBS_PIPELINE = `version: 1
runner: kubernetes
build:
  command: mkdir -p dist && cp server.js dist/ && printf 'sha256:%s\\n' "$(sha256sum server.js | cut -d' ' -f1)" > image.digest && echo "built in $HOSTNAME"
  artifact: [dist, image.digest]
test:
  command: test -f dist/server.js && grep -q '^sha256:' image.digest && echo "tests passed in $HOSTNAME"
environments:
  - name: dev
    target:
      type: kubernetes
      namespace: jobs-dev
      manifests: deploy
      image: { name: ${IMAGE}, digestFile: image.digest, registryCheck: false }
      kubeconfigSetting: CONVEYOR_KUBECONFIG_E2E
      rolloutTimeout: 30s
      rolloutPoll: 100ms
      url: https://dev.jobs.example
`;

// A fourth app whose image is on a loopback registry, so the registry check runs (on by default).
const PINNED_PIPELINE = (image: string) => `version: 1
build:
  command: mkdir -p dist && cp server.js dist/ && printf 'sha256:%s\\n' "$(sha256sum server.js | cut -d' ' -f1)" > image.digest
  artifact: [dist, image.digest]
environments:
  - name: dev
    target:
      type: kubernetes
      namespace: pinned-dev
      manifests: deploy
      image: { name: ${image}, digestFile: image.digest }
      kubeconfigSetting: CONVEYOR_KUBECONFIG_E2E
      rolloutTimeout: 30s
      rolloutPoll: 100ms
      url: https://dev.pinned.example
`;

let registry: FakeRegistry;
let pinnedSample: SampleService;
let fake: FakeKube;
let arm: FakeArm;
let jobsSample: SampleService;
let acrSample: SampleService;
let conveyor: ConveyorUnderTest;
let sample: SampleService;
let ledger: DeploymentLedger;
let kc: k8s.KubeConfig;
let tmp: string;
/** Images that never become available (the broken commit's). */
const broken = new Set<string>();

async function digestOf(commit: string, repo: SampleService = sample): Promise<string> {
  const dir = join(tmp, commit);
  await repo.exportCommit(commit, dir);
  return `sha256:${createHash('sha256').update(await readFile(join(dir, 'server.js'))).digest('hex')}`;
}

/** Registers an app (the other apps are registered by their tests, so their runs do not slow the first ones). */
async function register(app: string, repo: SampleService): Promise<void> {
  const res = await conveyor.api(`/api/apps/${app}`, { method: 'PUT', key: 'admin', json: { repoUrl: repo.url, provider: 'github', branches: ['main'], webhookSecretSetting: 'SAMPLE_WEBHOOK_SECRET' } });
  assert.equal(res.status, 201, await res.text());
}

async function push(commit: string, repo: SampleService = sample): Promise<any> {
  const hook = await repo.pushWebhook({ secret: SECRET, commit });
  const res = await fetch(`${conveyor.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const body = (await res.json()) as any;
  // The reconcile loop (a 2-second schedule here) may have started the run for the pushed head first.
  assert.ok(res.status === 202 || (res.status === 200 && body.status === 'duplicate'), JSON.stringify(body));
  return conveyor.waitForRun(body.runId, undefined, 120_000);
}

const liveImage = (env: string) => (fake.get('apps/v1', 'Deployment', `shop-${env}`, 'web') as any)?.spec.template.spec.containers[0].image as string | undefined;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'k8s-e2e-'));
  fake = await FakeKube.start({
    namespaces: [...ENVS.flatMap((e) => [`shop-${e}`, `api-${e}`]), 'jobs-dev', 'pinned-dev', 'conveyor-steps'],
    rollout: (d) => ([...broken].some((b) => JSON.stringify(d['spec']).includes(b)) ? { outcome: 'deadline', afterMs: 300 } : { outcome: 'available', afterMs: 150 }),
  });
  kc = new k8s.KubeConfig();
  kc.loadFromString(fake.kubeconfig());
  sample = await createSampleService({ pipelineYaml: PIPELINE });
  await mkdir(join(sample.dir, 'deploy'), { recursive: true });
  await writeFile(join(sample.dir, 'deploy', 'web.yaml'), MANIFESTS);
  await sample.git('add', '-A');
  await sample.git('commit', '-q', '-m', 'Kubernetes manifests');
  const credential = new TestTokenCredential();
  arm = await FakeArm.start(credential);
  acrSample = await createSampleService({ pipelineYaml: ACR_PIPELINE });
  await mkdir(join(acrSample.dir, 'deploy'), { recursive: true });
  await writeFile(join(acrSample.dir, 'Dockerfile'), 'FROM node:22-alpine\nCOPY server.js /srv/\nCMD ["node", "/srv/server.js"]\n');
  await writeFile(join(acrSample.dir, 'deploy', 'api.yaml'), MANIFESTS.replaceAll(`${IMAGE}:dev`, `${ACR_IMAGE}:latest`));
  await acrSample.git('add', '-A');
  await acrSample.git('commit', '-q', '-m', 'Dockerfile and manifests');
  registry = await FakeRegistry.start({ publicRepositories: ['shop/pinned'] });
  pinnedSample = await createSampleService({ pipelineYaml: PINNED_PIPELINE(`${registry.host}/shop/pinned`) });
  await mkdir(join(pinnedSample.dir, 'deploy'), { recursive: true });
  await writeFile(join(pinnedSample.dir, 'deploy', 'web.yaml'), MANIFESTS.replaceAll(`${IMAGE}:dev`, `${registry.host}/shop/pinned:dev`));
  await pinnedSample.git('add', '-A');
  await pinnedSample.git('commit', '-q', '-m', 'Kubernetes manifests');
  jobsSample = await createSampleService({ pipelineYaml: JOBS_PIPELINE });
  await mkdir(join(jobsSample.dir, 'deploy'), { recursive: true });
  await writeFile(join(jobsSample.dir, 'deploy', 'web.yaml'), MANIFESTS);
  await jobsSample.git('add', '-A');
  await jobsSample.git('commit', '-q', '-m', 'Kubernetes manifests');
  conveyor = await startConveyor({
    env: {
      // The installation offers Kubernetes Jobs (the default runner stays local).
      CONVEYOR_STEP_IMAGE: 'registry.test/conveyor-steps:1',
      CONVEYOR_KUBECONFIG_STEPS: fake.kubeconfig('conveyor-steps'),
      SAMPLE_WEBHOOK_SECRET: SECRET,
      CONVEYOR_KUBECONFIG_E2E: fake.kubeconfig(),
      CONVEYOR_RECONCILE_SCHEDULE: '*/2 * * * * *',
      // Conveyor's identity and ARM: the fake's managed-identity endpoint, its HTTPS endpoint and CA.
      ...(await arm.identityEndpoint()),
      CONVEYOR_ARM_ENDPOINT: arm.url,
      CONVEYOR_ARM_CA: arm.caPem,
    },
  });
  arm.acr.registries.push({ subscription: SUB, resourceGroup: 'rg-shop', name: 'shopacr', storage: containerClient(conveyor.host.storage!.connectionString, 'fake-acr') });
  await register('shop', sample);
  ledger = new DeploymentLedger(containerClient(conveyor.host.storage!.connectionString, CONTAINERS.state));
});

after(async () => {
  await conveyor?.dispose();
  await sample?.dispose();
  await acrSample?.dispose();
  await jobsSample?.dispose();
  await pinnedSample?.dispose();
  await registry?.stop();
  await arm?.stop();
  await fake?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('push to Kubernetes', () => {
  let good: string;
  let goodDigest: string;

  test('a push builds the image once and promotes the same digest to dev, staging and prod in order, each verified by its rollout', async () => {
    good = await sample.head();
    goodDigest = await digestOf(good);
    const run = await push(good);
    assert.equal(run.status, 'Succeeded', JSON.stringify(run, null, 2));
    for (const env of ENVS) assert.equal(liveImage(env), `${IMAGE}@${goodDigest}`, `${env} runs the built image by digest`);
    const t = (env: string, k: 'startedAt' | 'finishedAt') => Date.parse(run.environments[env][k]);
    assert.ok(t('dev', 'finishedAt') <= t('staging', 'startedAt') && t('staging', 'finishedAt') <= t('prod', 'startedAt'), 'in order');
    // The rollout was read more than once: the orchestrator waited on durable timers between reads.
    const reads = fake.requests.filter((r) => r.verb === 'list' && r.path === '/apis/apps/v1/namespaces/shop-dev/deployments');
    assert.ok(reads.length >= 2, `dev's rollout was polled (${reads.length} reads)`);
    for (const env of ENVS) {
      const [record] = (await ledger.history('shop', env)).records;
      assert.equal(record!.status, 'Succeeded');
      assert.equal(record!.target?.['imageDigest'], goodDigest, `the ledger records ${env}'s image digest`);
      assert.match(String(record!.target?.['renderedManifests']), new RegExp(`image: ${IMAGE}@${goodDigest}`));
      assert.match(String(record!.target?.['renderedManifests']), /conveyor.dev\/revision: "1"/);
    }
    assert.deepEqual(fake.violations(), []);
  });

  test('an image that never becomes available fails its rollout in dev and is rolled back to the previous manifests; staging and prod are untouched', async () => {
    const bad = await sample.commitChange('a release whose pods never become ready');
    broken.add(await digestOf(bad));
    const run = await push(bad);
    assert.equal(run.status, 'Failed');
    assert.match(run.reason, /verification failed in dev: rollout: Deployment web exceeded its progress deadline/);
    assert.match(run.reason, /rolled back to revision 1/);
    assert.equal(run.environments.staging.status, 'Skipped');
    assert.equal(liveImage('dev'), `${IMAGE}@${goodDigest}`, 'dev runs the previous image again');
    assert.equal(liveImage('staging'), `${IMAGE}@${goodDigest}`);
    assert.equal(liveImage('prod'), `${IMAGE}@${goodDigest}`);
    const dev = (await ledger.history('shop', 'dev')).records;
    assert.deepEqual(
      dev.map((r) => [r.revision, r.kind, r.status]),
      [
        [3, 'rollback', 'Succeeded'],
        [2, 'deploy', 'Failed'],
        [1, 'deploy', 'Succeeded'],
      ],
    );
    assert.equal(dev[0]!.target?.['manifestsHash'], dev[2]!.target?.['manifestsHash'], 'the rollback applied the recorded manifests of revision 1');
    const live = fake.get('apps/v1', 'Deployment', 'shop-dev', 'web') as any;
    assert.equal(live.metadata.labels['conveyor.dev/revision'], '3');
  });

  test('an edit made directly on the cluster is reported as drift', async () => {
    const spec: KubernetesTargetSpec = { type: 'kubernetes', namespace: 'shop-prod', manifests: 'deploy', image: { name: IMAGE, digestFile: 'image.digest' }, kubeconfigSetting: 'CONVEYOR_KUBECONFIG_E2E', forceConflicts: false, prune: false, rolloutTimeoutMs: 30_000, rolloutPollMs: 100, url: 'https://prod.shop.example' };
    const observer = new KubernetesTarget({ kubeconfig: settingKubeconfig(() => fake.kubeconfig()) });
    const current = await ledger.current('shop', 'prod');
    assert.equal(assessDrift(current, { status: await observer.status('shop', 'prod', spec) }).sync, 'in-sync');
    await kc.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment(
      { name: 'web', namespace: 'shop-prod', fieldManager: 'kubectl-edit', body: { spec: { replicas: 7 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const drift = assessDrift(current, { status: await observer.status('shop', 'prod', spec) });
    assert.equal(drift.sync, 'drifted');
    assert.match(drift.reason, /revision 1 .* was changed on the target: Deployment web has 7 replicas instead of 2/);
    // The reconcile loop (a 2-second schedule here) reports it through the API.
    const until = Date.now() + 30_000;
    let prod: any;
    while (Date.now() < until) {
      prod = ((await (await conveyor.api('/api/apps/shop')).json()) as any).environments.find((e: any) => e.name === 'prod');
      if (prod?.sync?.state === 'drifted') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(prod?.sync?.state, 'drifted', JSON.stringify(prod));
    assert.match(prod.sync.reason, /was changed on the target: Deployment web has 7 replicas instead of 2/);
    const [record] = (await ledger.history('shop', 'prod')).records;
    const report = await observer.drift('shop', 'prod', spec, String(record!.target?.['renderedManifests']));
    assert.deepEqual(report.items.map((i) => [i.object, i.field, i.recorded, i.live]), [['Deployment/web', 'spec.replicas', '2', '7']]);
  });

  test('staging (drift: heal) edited on the cluster is re-applied from the recorded manifests by the reconcile loop, recorded as a heal', async () => {
    const before = (await ledger.history('shop', 'staging')).records;
    assert.deepEqual(before.map((r) => [r.revision, r.kind]), [[1, 'deploy']]);
    await kc.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment(
      { name: 'web', namespace: 'shop-staging', fieldManager: 'kubectl-edit', body: { spec: { replicas: 5 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const until = Date.now() + 60_000;
    let records = before;
    while (Date.now() < until) {
      records = (await ledger.history('shop', 'staging')).records;
      if (records[0]?.kind === 'heal' && records[0].status !== undefined) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const heal = records[0]!;
    assert.equal(heal.kind, 'heal', JSON.stringify(records.map((r) => [r.revision, r.kind, r.status])));
    assert.equal(heal.status, 'Succeeded', heal.reason);
    assert.equal(heal.revision, 2);
    assert.equal(heal.rolledBackTo, 1);
    assert.equal(heal.target?.['manifestsHash'], before[0]!.target?.['manifestsHash'], 'the heal applied the manifests recorded for revision 1');
    const live = fake.get('apps/v1', 'Deployment', 'shop-staging', 'web') as any;
    assert.equal(live.spec.replicas, 2, 'the edited replica count is taken back');
    assert.equal(live.metadata.labels['conveyor.dev/revision'], '2');
    assert.equal(liveImage('staging'), `${IMAGE}@${goodDigest}`);
    // Still reported drift-free afterwards (prod, drift: report, is left as it was edited).
    assert.equal((fake.get('apps/v1', 'Deployment', 'shop-prod', 'web') as any).spec.replicas, 7);
  });

  test('an image built by ACR Tasks from the pushed commit is promoted by its digest to dev, staging and prod', async () => {
    await register('api', acrSample);
    const commit = await acrSample.head();
    const run = await push(commit, acrSample);
    assert.equal(run.status, 'Succeeded', JSON.stringify(run, null, 2));
    const digest = arm.acr.pushed().get(`${ACR_IMAGE}:${commit}`);
    assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/, 'the registry pushed the commit\'s image');
    for (const env of ENVS) {
      assert.equal((fake.get('apps/v1', 'Deployment', `api-${env}`, 'web') as any)?.spec.template.spec.containers[0].image, `${ACR_IMAGE}@${digest}`, `${env} runs the image ACR built, by digest`);
      const [record] = (await ledger.history('api', env)).records;
      assert.equal(record!.target?.['imageDigest'], digest);
    }
    // One image build for the run, polled durably; its log is the run's `image` log.
    assert.equal([...arm.acr.runs.values()].filter((r) => (r.request['imageNames'] as string[])[0] === `shop/api:${commit}`).length, 1);
    assert.ok(arm.requests.filter((r) => r.method === 'GET' && /\/runs\/[^/]+$/.test(r.path)).length >= 4, 'the run was read until it ended');
    const log = await (await conveyor.api(`/api/runs/${encodeURIComponent(run.runId)}/logs/image`)).text();
    assert.match(log, new RegExp(`pushed ${ACR_IMAGE}:${commit} digest: ${digest}`));
    assert.deepEqual(arm.acr.violations, []);
    assert.deepEqual(fake.violations(), []);
  });

  test('a pipeline with runner: kubernetes builds and tests as Jobs (the build fetching the commit from git inside its Job), then deploys', async () => {
    await register('jobs', jobsSample);
    const commit = await jobsSample.head();
    const run = await push(commit, jobsSample);
    assert.equal(run.status, 'Succeeded', JSON.stringify(run, null, 2));
    // Only this app's steps run as Jobs (the others' run locally).
    assert.equal(fake.requests.filter((r) => r.method === 'POST' && r.path === '/apis/batch/v1/namespaces/conveyor-steps/jobs').length, 2, 'one Job for the build, one for the tests');
    const log = async (step: string) => (await conveyor.api(`/api/runs/${encodeURIComponent(run.runId)}/logs/${step}`)).text();
    const build = await log('build');
    assert.match(build, new RegExp(`the source is commit ${commit}, fetched from git inside the Job`));
    assert.match(build, /built in conveyor-build-[0-9a-f]{8}-/, 'the build ran in the Job\'s pod');
    const tests = await log('test');
    assert.match(tests, /the workspace is handed over by a read-only SAS URL/);
    assert.match(tests, /tests passed in conveyor-test-[0-9a-f]{8}-/, 'the tests ran in their Job\'s pod, on the built workspace');
    const jobs = await kc.makeApiClient(k8s.BatchV1Api).listNamespacedJob({ namespace: 'conveyor-steps' });
    assert.deepEqual(jobs.items.map((j) => j.metadata?.name), [], 'the Jobs are deleted afterwards');
    assert.equal((fake.get('apps/v1', 'Deployment', 'jobs-dev', 'web') as any)?.spec.template.spec.containers[0].image, `${IMAGE}@${await digestOf(commit, jobsSample)}`);
    assert.deepEqual(fake.violations(), []);
  });

  test('a digest the build reported but never pushed fails the run before dev is deployed; once the registry has it, the next push deploys', async () => {
    await register('pinned', pinnedSample);
    const first = await pinnedSample.head();
    const run = await push(first, pinnedSample);
    assert.equal(run.status, 'Failed', JSON.stringify(run, null, 2));
    const digest = await digestOf(first, pinnedSample);
    assert.match(run.reason, new RegExp(`the registry has no image ${registry.host.replace(/\./g, '\\.')}/shop/pinned@${digest}: the build reported a digest that was never pushed there; nothing was applied`));
    assert.equal(fake.get('apps/v1', 'Deployment', 'pinned-dev', 'web'), undefined, 'nothing reached the cluster');
    assert.ok(registry.requests.some((r) => r.method === 'HEAD' && r.status === 404), 'the registry was asked (after the token handshake)');

    // The build now pushes what it reports: the registry holds the next commit's digest.
    const next = await pinnedSample.commitChange('a release that is pushed');
    const dir = join(tmp, `pinned-${next}`);
    await pinnedSample.exportCommit(next, dir);
    const pushed = registry.push('shop/pinned', await readFile(join(dir, 'server.js'), 'utf8'));
    assert.equal(pushed, await digestOf(next, pinnedSample));
    const ok = await push(next, pinnedSample);
    assert.equal(ok.status, 'Succeeded', JSON.stringify(ok, null, 2));
    assert.equal((fake.get('apps/v1', 'Deployment', 'pinned-dev', 'web') as any)?.spec.template.spec.containers[0].image, `${registry.host}/shop/pinned@${pushed}`);
    const [record] = (await ledger.history('pinned', 'dev')).records;
    assert.equal(record!.target?.['registryCheck'], 'present');
  });
});
