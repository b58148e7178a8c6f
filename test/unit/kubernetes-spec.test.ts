// `target: { type: kubernetes }` in the pipeline file, manifest rendering and rollout reading:
// pure functions, no cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePipelineSpec } from '../../shared/pipeline/parse-pipeline.js';
import { ValidationError } from '../../shared/errors.js';
import { contentHash, imageName, parseManifests, parseRendered, renderManifests, type ManifestObject } from '../../shared/targets/kubernetes/manifests.js';
import { deploymentRollout, environmentRollout } from '../../shared/targets/kubernetes/rollout.js';

const pipeline = (target: string, artifact = '[dist, deploy, image.digest]') => `version: 1
build:
  command: make image
  artifact: ${artifact}
environments:
  - name: dev
    target:
${target
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;

test('a kubernetes target is parsed with its defaults', () => {
  const spec = parsePipelineSpec(
    pipeline(`type: kubernetes
namespace: shop-dev
manifests: deploy/k8s
image: { name: myregistry.azurecr.io/shop/web, digestFile: image.digest }
kubeconfigSetting: CONVEYOR_KUBECONFIG_DEV
url: https://dev.shop.example`),
  );
  assert.deepEqual(spec.environments[0]!.target, {
    type: 'kubernetes',
    namespace: 'shop-dev',
    manifests: 'deploy/k8s',
    image: { name: 'myregistry.azurecr.io/shop/web', digestFile: 'image.digest' },
    kubeconfigSetting: 'CONVEYOR_KUBECONFIG_DEV',
    forceConflicts: false,
    prune: false,
    rolloutTimeoutMs: 600_000,
    rolloutPollMs: 5_000,
    url: 'https://dev.shop.example',
  });
});

test('kubernetes target errors name the field with line and column', () => {
  const text = pipeline(
    `type: kubernetes
namespace: Shop_Dev
manifests: ../outside
image: { name: "myregistry.azurecr.io/shop/web:1.0", digestFile: out/image.digest }
kubeconfigSetting: CONVEYOR_STORAGE_CONNECTION
url: https://dev.shop.example`,
    '[dist]',
  );
  assert.throws(
    () => parsePipelineSpec(text),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      const got = err.issues.map((i) => `${i.path}@${i.line}:${i.column}`);
      assert.deepEqual(got.sort(), [
        'environments[0].target.image.digestFile@11:72',
        'environments[0].target.image.name@11:22',
        'environments[0].target.kubeconfigSetting@12:26',
        'environments[0].target.manifests@10:18',
        'environments[0].target.namespace@9:18',
      ]);
      return true;
    },
  );
  // With valid fields, a digest file the build does not pack is reported where it is written
  // (the manifests come from the repository at the commit, so they need no packing).
  assert.throws(
    () =>
      parsePipelineSpec(
        pipeline(
          `type: kubernetes
namespace: shop-dev
manifests: deploy/k8s
image: { name: myregistry.azurecr.io/shop/web, digestFile: out/image.digest }
url: https://dev.shop.example`,
          '[dist]',
        ),
      ),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.deepEqual(
        err.issues.map((i) => [i.path, i.message]),
        [
          ['environments[0].target.image.digestFile', 'out/image.digest is not packed with the artifact: add it (or a folder holding it) to build.artifact'],
        ],
      );
      return true;
    },
  );
});

const web = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: { tier: front }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      initContainers: [{ name: migrate, image: "registry.test/shop/web:1.0", command: [migrate] }]
      containers:
        - { name: web, image: "registry.test/shop/web:latest" }
        - { name: sidecar, image: "registry.test/envoy:1.30" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: cfg }
data: { A: "1" }
`;

const ctx = (revision: string) => ({
  app: 'shop',
  environment: 'dev',
  namespace: 'shop-dev',
  revision,
  commit: 'c'.repeat(40),
  runId: 'run-1',
  digest: `sha256:${'f'.repeat(64)}`,
  imageName: 'registry.test/shop/web',
  imageDigest: `sha256:${'a'.repeat(64)}`,
});

test('rendering pins only the build image by digest, adds labels and annotations, orders config first, and hashes content independent of the revision', () => {
  const sources = parseManifests([{ file: 'app.yaml', text: web }], 'shop-dev');
  const r1 = renderManifests(sources, ctx('1'));
  const r2 = renderManifests(sources, ctx('2'));
  assert.deepEqual(r1.objects.map((o) => o['kind']), ['ConfigMap', 'Deployment']);
  const d = r1.objects[1] as any;
  assert.equal(d.metadata.namespace, 'shop-dev');
  assert.equal(d.spec.template.spec.containers[0].image, `registry.test/shop/web@sha256:${'a'.repeat(64)}`);
  assert.equal(d.spec.template.spec.initContainers[0].image, `registry.test/shop/web@sha256:${'a'.repeat(64)}`);
  assert.equal(d.spec.template.spec.containers[1].image, 'registry.test/envoy:1.30', 'other images are left alone');
  assert.deepEqual(d.metadata.labels, { tier: 'front', 'app.kubernetes.io/managed-by': 'conveyor', 'conveyor.dev/app': 'shop', 'conveyor.dev/environment': 'dev', 'conveyor.dev/revision': '1' });
  assert.equal(d.metadata.annotations['conveyor.dev/run'], 'run-1');
  assert.equal(d.metadata.annotations['conveyor.dev/commit'], 'c'.repeat(40));
  assert.equal(r1.hash, r2.hash, 'the same content at another revision has the same hash');
  assert.notEqual(r1.yaml, r2.yaml);
  assert.deepEqual(parseRendered(r1.yaml), r1.objects);
  const other = renderManifests(sources, { ...ctx('1'), imageDigest: `sha256:${'b'.repeat(64)}` });
  assert.notEqual(other.hash, r1.hash);
  assert.equal(contentHash(r1.objects[1]!), contentHash(r2.objects[1]!));
});

test('rendering refuses a non-digest and manifests that never use the image', () => {
  const sources = parseManifests([{ file: 'app.yaml', text: web }], 'shop-dev');
  assert.throws(() => renderManifests(sources, { ...ctx('1'), imageDigest: 'latest' }), /is not a sha256 digest: nothing was applied/);
  assert.throws(() => renderManifests(sources, { ...ctx('1'), imageName: 'registry.test/other' }), /no container in the manifests uses the image registry.test\/other/);
});

test('manifest validation reports every problem with file, document, line and column', () => {
  const text = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec: { template: { spec: { containers: [] } }, replicas: -1 }
---
apiVersion: v1
kind: Service
metadata: { name: web }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: other }
---
- just a list
`;
  assert.throws(
    () => parseManifests([{ file: 'k8s/app.yaml', text }], 'shop-dev'),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.deepEqual(
        err.issues.map((i) => `${i.path} ${i.line}:${i.column} ${i.message}`),
        [
          'k8s/app.yaml#1 spec.template.spec.containers 4:41 Required: at least one container',
          'k8s/app.yaml#1 spec.replicas 4:59 must be a whole number of at least 0',
          'k8s/app.yaml#3 metadata.namespace 12:35 namespace "other" differs from the environment\'s namespace "shop-dev" (leave it out, or write "shop-dev")',
          'k8s/app.yaml#3 metadata.name 12:19 Service/web is already defined at k8s/app.yaml#2',
          'k8s/app.yaml#4 (document) 14:1 a manifest must be a map (an object)',
        ],
      );
      return true;
    },
  );
  assert.throws(() => parseManifests([{ file: 'only.yaml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n' }], 'ns'), /problem/);
});

test('image names drop tag and digest but keep a registry port', () => {
  assert.equal(imageName('registry:5000/team/web:1.2'), 'registry:5000/team/web');
  assert.equal(imageName('registry:5000/team/web'), 'registry:5000/team/web');
  assert.equal(imageName(`web@sha256:${'a'.repeat(64)}`), 'web');
});

const dep = (status: object, generation = 2, replicas = 2): ManifestObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', generation }, spec: { replicas }, status: status as any });

test('rollout reading follows kubectl rollout status', () => {
  const cases: Array<[string, ManifestObject, string, RegExp]> = [
    ['generation not observed', dep({ observedGeneration: 1, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }), 'progressing', /observe generation 2/],
    ['replicas not updated', dep({ observedGeneration: 2, updatedReplicas: 1, replicas: 3, availableReplicas: 2 }), 'progressing', /1 of 2 replicas updated/],
    ['old replicas left', dep({ observedGeneration: 2, updatedReplicas: 2, replicas: 4, availableReplicas: 2 }), 'progressing', /2 old replicas pending termination/],
    ['not yet available', dep({ observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 }), 'progressing', /1 of 2 updated replicas available/],
    ['complete', dep({ observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }), 'complete', /2 of 2 replicas available/],
    [
      'deadline exceeded',
      dep({ observedGeneration: 2, updatedReplicas: 2, replicas: 4, availableReplicas: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-1" has timed out progressing.' }] }),
      'failed',
      /exceeded its progress deadline \(ReplicaSet "web-1" has timed out progressing.\)/,
    ],
  ];
  for (const [label, d, state, message] of cases) {
    const r = deploymentRollout(d);
    assert.equal(r.state, state, label);
    assert.match(r.message, message, label);
  }
  const failedOne = environmentRollout([cases[4]![1], cases[5]![1]]);
  assert.equal(failedOne.state, 'failed');
  assert.equal(environmentRollout([cases[4]![1], cases[3]![1]]).state, 'progressing');
});

test('an aks target names subscription, resource group and cluster', () => {
  const spec = parsePipelineSpec(
    pipeline(`type: aks
subscription: 11111111-2222-3333-4444-555555555555
resourceGroup: rg-apps
cluster: aks-prod
namespace: shop
manifests: deploy
image: { name: shopacr.azurecr.io/shop/web, digestFile: image.digest }
rolloutTimeout: 15m
url: https://shop.example`),
  );
  assert.deepEqual(spec.environments[0]!.target, {
    type: 'aks',
    subscription: '11111111-2222-3333-4444-555555555555',
    resourceGroup: 'rg-apps',
    cluster: 'aks-prod',
    namespace: 'shop',
    manifests: 'deploy',
    image: { name: 'shopacr.azurecr.io/shop/web', digestFile: 'image.digest' },
    forceConflicts: false,
    prune: false,
    rolloutTimeoutMs: 900_000,
    rolloutPollMs: 5_000,
    url: 'https://shop.example',
  });
  assert.throws(() => parsePipelineSpec(pipeline('type: aks\nsubscription: nope\nresourceGroup: rg\ncluster: c\nnamespace: shop\nmanifests: deploy\nimage: { name: a/b, digestFile: image.digest }\nurl: https://x.example')), /subscription/);
});

test('an edit the kubernetes target sees on the cluster makes the environment drifted', async () => {
  const { assessDrift } = await import('../../shared/reconcile/drift.js');
  const current = { app: 'shop', environment: 'dev', revision: 4, commit: 'c'.repeat(40), digest: `sha256:${'f'.repeat(64)}`, finishedAt: '2026-01-01T00:00:00Z', runId: 'r', status: 'Succeeded' as const, kind: 'deploy' as const };
  const status = { app: 'shop', environment: 'dev', state: 'running' as const, running: true, healthy: true, revision: 4, commit: 'c'.repeat(40), digest: current.digest, details: {} };
  assert.equal(assessDrift(current, { status }).sync, 'in-sync');
  const edited = assessDrift(current, { status: { ...status, details: { drift: 'Deployment web has 5 replicas instead of 2' } } });
  assert.deepEqual(edited, { sync: 'drifted', reason: `revision 4 (commit ${'c'.repeat(12)}) was changed on the target: Deployment web has 5 replicas instead of 2` });
});

test('the step runner is chosen by settings: local by default, Kubernetes Jobs with a namespace and an image', async () => {
  const { readSettings } = await import('../../shared/config/settings.js');
  const base = { CONVEYOR_STORAGE_CONNECTION: 'UseDevelopmentStorage=true' };
  assert.deepEqual(readSettings(base).stepRunner, { kind: 'local' });
  assert.deepEqual(readSettings({ ...base, CONVEYOR_STEP_RUNNER: 'kubernetes', CONVEYOR_STEP_IMAGE: 'mcr.microsoft.com/devcontainers/base:debian', CONVEYOR_KUBECONFIG_STEPS: 'apiVersion: v1' }).stepRunner, {
    kind: 'kubernetes',
    namespace: 'conveyor-steps',
    image: 'mcr.microsoft.com/devcontainers/base:debian',
    kubeconfig: 'apiVersion: v1',
  });
  assert.throws(() => readSettings({ ...base, CONVEYOR_STEP_RUNNER: 'kubernetes' }), /CONVEYOR_STEP_IMAGE: required when CONVEYOR_STEP_RUNNER is kubernetes/);
  assert.throws(() => readSettings({ ...base, CONVEYOR_STEP_RUNNER: 'docker' }), /CONVEYOR_STEP_RUNNER: must be local or kubernetes/);
  // A step image alone offers Kubernetes Jobs to the pipelines that ask (the default stays local).
  const offered = readSettings({ ...base, CONVEYOR_STEP_IMAGE: 'registry.test/steps:1' });
  assert.deepEqual(offered.stepRunner, { kind: 'local' });
  assert.deepEqual(offered.kubernetesSteps, { namespace: 'conveyor-steps', image: 'registry.test/steps:1', source: 'git' });
  assert.equal(readSettings({ ...base, CONVEYOR_STEP_IMAGE: 'i', CONVEYOR_STEP_SOURCE: 'upload' }).kubernetesSteps?.source, 'upload');
  assert.throws(() => readSettings({ ...base, CONVEYOR_STEP_SOURCE: 'ftp' }), /CONVEYOR_STEP_SOURCE: must be git or upload/);
  assert.equal(readSettings(base).kubernetesSteps, undefined);
  // Only CONVEYOR_KUBECONFIG_* settings can be named by a pipeline's kubeconfigSetting.
  const s = readSettings({ ...base, CONVEYOR_KUBECONFIG_DEV: 'kc', OTHER_SECRET: 'x' });
  assert.equal(s.kubeconfig('CONVEYOR_KUBECONFIG_DEV'), 'kc');
  assert.equal(s.kubeconfig('OTHER_SECRET'), undefined);
});

test('build.image (ACR Tasks): defaults filled, command and artifact optional, the digest file packed, and each environment must pin the built image', () => {
  const file = (imageName: string, build = '') => `version: 1
build:
${build}  image: { subscription: 11111111-2222-3333-4444-555555555555, resourceGroup: rg-shop, registry: ShopAcr, repository: shop/web }
environments:
  - name: dev
    target: { type: kubernetes, namespace: shop-dev, manifests: deploy, image: { name: ${imageName}, digestFile: image.digest }, url: https://dev.shop.example }
`;
  const spec = parsePipelineSpec(file('shopacr.azurecr.io/shop/web'));
  assert.deepEqual(spec.build.image, {
    type: 'acr',
    subscription: '11111111-2222-3333-4444-555555555555',
    resourceGroup: 'rg-shop',
    registry: 'shopacr',
    repository: 'shop/web',
    dockerfile: 'Dockerfile',
    context: '.',
    timeoutMs: 1_800_000,
    pollMs: 5000,
    digestFile: 'image.digest',
  });
  assert.equal(spec.build.command, ':');
  assert.deepEqual(spec.build.artifact, ['image.digest']);
  // With a command and artifact of its own, the digest file joins the artifact.
  assert.deepEqual(parsePipelineSpec(file('shopacr.azurecr.io/shop/web', '  command: make\n  artifact: [dist]\n')).build.artifact, ['dist', 'image.digest']);
  assert.throws(
    () => parsePipelineSpec(file('otheracr.azurecr.io/shop/web')),
    (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path === 'environments[0].target.image.name' && /the build's image is shopacr.<registry domain>\/shop\/web/.test(i.message)),
  );
  // Without an image build, command and artifact stay required.
  assert.throws(
    () => parsePipelineSpec('version: 1\nbuild: { timeout: 5m }\nenvironments: [{ name: dev, target: { type: process, start: x, port: 4000 } }]\n'),
    (err: unknown) => err instanceof ValidationError && ['build.command', 'build.artifact'].every((p) => err.issues.some((i) => i.path === p && i.message === 'is required')),
  );
});

test('runner: at the top fills in build and test; a step may choose its own runner and Job image', () => {
  const spec = parsePipelineSpec(`version: 1
runner: kubernetes
build: { command: make, artifact: [dist], jobImage: mcr.microsoft.com/devcontainers/javascript-node:22 }
test: { command: make test, runner: local }
environments: [{ name: dev, target: { type: process, start: x, port: 4000 } }]
`);
  assert.equal(spec.build.runner, 'kubernetes');
  assert.equal(spec.build.jobImage, 'mcr.microsoft.com/devcontainers/javascript-node:22');
  assert.equal(spec.test?.runner, 'local');
  const plain = parsePipelineSpec('version: 1\nbuild: { command: make, artifact: [dist] }\nenvironments: [{ name: dev, target: { type: process, start: x, port: 4000 } }]\n');
  assert.equal(plain.build.runner, undefined, "no runner: the installation's default");
  assert.throws(() => parsePipelineSpec('version: 1\nrunner: docker\nbuild: { command: make, artifact: [dist] }\nenvironments: [{ name: dev, target: { type: process, start: x, port: 4000 } }]\n'), (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path === 'runner'));
});

test('kubeconfigSecret names a sealed secret of the file: its ciphertext travels in the spec; undeclared or beside kubeconfigSetting it is refused', () => {
  const armored = '-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n-----END AGE ENCRYPTED FILE-----';
  const file = (target: string, secrets = `secrets:\n  prod-kubeconfig: |\n${armored.split('\n').map((l) => `    ${l}`).join('\n')}\n`) => `version: 1
${secrets}build: { command: make, artifact: [image.digest] }
environments:
  - name: prod
    target: { type: kubernetes, namespace: shop, manifests: deploy, image: { name: r.example/shop/web, digestFile: image.digest }, url: https://shop.example, ${target} }
`;
  const spec = parsePipelineSpec(file('kubeconfigSecret: prod-kubeconfig'));
  const target = spec.environments[0]!.target;
  assert.equal(target.type, 'kubernetes');
  assert.deepEqual(target.type === 'kubernetes' ? { ...target.kubeconfigSealed, sealed: target.kubeconfigSealed?.sealed.trim() } : undefined, { secret: 'prod-kubeconfig', reference: 'secrets.prod-kubeconfig (target.kubeconfigSecret)', sealed: armored });
  assert.throws(() => parsePipelineSpec(file('kubeconfigSecret: nope')), (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path === 'environments[0].target.kubeconfigSecret' && /"nope" is not declared/.test(i.message)));
  assert.throws(() => parsePipelineSpec(file('kubeconfigSecret: prod-kubeconfig, kubeconfigSetting: CONVEYOR_KUBECONFIG_PROD')), (err: unknown) => err instanceof ValidationError && err.issues.some((i) => /either kubeconfigSetting or kubeconfigSecret/.test(i.message)));
});

test("a kubernetes environment's secrets: are refused (Conveyor does not hand them to the cluster), not silently dropped", () => {
  const armored = '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----';
  assert.throws(
    () =>
      parsePipelineSpec(`version: 1
secrets:
  db: |
${armored.split('\n').map((l) => `    ${l}`).join('\n')}
build: { command: make, artifact: [image.digest] }
environments:
  - name: prod
    secrets: { DB_PASSWORD: db }
    target: { type: kubernetes, namespace: shop, manifests: deploy, image: { name: r.example/shop/web, digestFile: image.digest }, url: https://shop.example }
`),
    (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path === 'environments[0].secrets' && /does not receive sealed secrets from Conveyor/.test(i.message)),
  );
});
