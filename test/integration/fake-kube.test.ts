// The protocol-level fake Kubernetes API server (test/support/fake-kube) kept honest by two
// independent clients that talk to it unchanged: Debian's kubectl and @kubernetes/client-node.
// Every request it received must be one the API defines (paths, verbs, content types).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { FakeKube, type JsonObject } from '../support/fake-kube/server.js';

const execFileAsync = promisify(execFile);

let fake: FakeKube;
let dir: string;
let kc: k8s.KubeConfig;

before(async () => {
  fake = await FakeKube.start({
    namespaces: ['default', 'dev'],
    // Rollouts chosen per test through the image tag.
    rollout: (d) => {
      const image = JSON.stringify(d['spec']);
      if (image.includes(':stuck')) return { outcome: 'unavailable' };
      if (image.includes(':deadline')) return { outcome: 'deadline', afterMs: 50 };
      return { outcome: 'available', afterMs: 20 };
    },
  });
  dir = await mkdtemp(join(tmpdir(), 'fake-kube-'));
  await fake.writeKubeconfig(join(dir, 'kubeconfig'), 'dev');
  kc = new k8s.KubeConfig();
  kc.loadFromString(fake.kubeconfig('dev'));
});

after(async () => {
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

async function kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache') };
  const run = execFileAsync('kubectl', args, { env, timeout: 30_000 });
  if (input !== undefined) {
    run.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await run;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function deployment(name: string, image: string, replicas = 2): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'dev', labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image, env: [{ name: 'MODE', value: 'a' }] }] } },
    },
  };
}

function apiError(err: unknown): { code: number; body: JsonObject } {
  assert.ok(err instanceof k8s.ApiException, `expected an ApiException, got ${String(err)}`);
  const body = typeof err.body === 'string' ? (JSON.parse(err.body) as JsonObject) : (err.body as JsonObject);
  return { code: err.code, body };
}

test('kubectl applies server-side, reads back as YAML, waits for the rollout and deletes, with only well-formed requests', async () => {
  const yaml = JSON.stringify(deployment('kc-web', 'registry.test/web@sha256:' + 'a'.repeat(64)));
  const file = join(dir, 'kc-web.json');
  await writeFile(file, yaml);
  const applied = await kubectl(['apply', '--server-side', '-f', file]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /deployment.apps\/kc-web serverside-applied/);

  const rolled = await kubectl(['rollout', 'status', 'deployment/kc-web', '--timeout=20s']);
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.match(rolled.stdout, /successfully rolled out/);

  const got = await kubectl(['get', 'deployment', 'kc-web', '-o', 'yaml', '--show-managed-fields']);
  assert.equal(got.code, 0, got.stderr);
  const obj = parseYaml(got.stdout) as any;
  assert.equal(obj.spec.template.spec.containers[0].image, 'registry.test/web@sha256:' + 'a'.repeat(64));
  assert.equal(obj.status.availableReplicas, 2);
  assert.equal(obj.status.observedGeneration, obj.metadata.generation);
  assert.deepEqual(
    obj.metadata.managedFields.map((m: any) => [m.manager, m.operation]),
    [
      ['kubectl', 'Apply'],
      ['kube-controller-manager', 'Update'],
    ],
  );

  const deleted = await kubectl(['delete', 'deployment', 'kc-web']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(fake.get('apps/v1', 'Deployment', 'dev', 'kc-web'), undefined);
  assert.deepEqual(fake.violations(), []);
  assert.ok(fake.requests.some((r) => r.method === 'PATCH' && r.contentType === 'application/apply-patch+yaml' && r.query['fieldManager'] === 'kubectl'));
  assert.ok(fake.requests.some((r) => r.verb === 'watch'));
});

test('kubectl rollout status fails when the rollout exceeds its progress deadline', async () => {
  const file = join(dir, 'kc-late.json');
  await writeFile(file, JSON.stringify(deployment('kc-late', 'registry.test/web:deadline')));
  assert.equal((await kubectl(['apply', '--server-side', '-f', file])).code, 0);
  const rolled = await kubectl(['rollout', 'status', 'deployment/kc-late', '--timeout=20s']);
  assert.notEqual(rolled.code, 0);
  assert.match(rolled.stderr, /exceeded its progress deadline/);
  const live = fake.get('apps/v1', 'Deployment', 'dev', 'kc-late') as any;
  const progressing = live.status.conditions.find((c: any) => c.type === 'Progressing');
  assert.equal(progressing.status, 'False');
  assert.equal(progressing.reason, 'ProgressDeadlineExceeded');
});

test('a Job runs its command as a real process: kubectl logs shows its output (also followed), the exit code is the container\'s', async () => {
  const job = (name: string, script: string) => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'dev' },
    spec: {
      backoffLimit: 0,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'step', image: 'busybox', command: ['sh', '-c', script], env: [{ name: 'GREETING', value: 'hello from a pod' }] }] } },
    },
  });
  await writeFile(join(dir, 'job-ok.json'), JSON.stringify(job('job-ok', 'echo "$GREETING"; sleep 0.3; echo second line')));
  assert.equal((await kubectl(['apply', '--server-side', '-f', join(dir, 'job-ok.json')])).code, 0);
  const followed = await kubectl(['logs', '-f', 'job/job-ok']);
  assert.equal(followed.code, 0, followed.stderr);
  assert.equal(followed.stdout, 'hello from a pod\nsecond line\n');
  const waited = await kubectl(['wait', '--for=condition=complete', 'job/job-ok', '--timeout=20s']);
  assert.equal(waited.code, 0, waited.stderr);

  await writeFile(join(dir, 'job-bad.json'), JSON.stringify(job('job-bad', 'echo failing >&2; exit 3')));
  assert.equal((await kubectl(['apply', '--server-side', '-f', join(dir, 'job-bad.json')])).code, 0);
  const failed = await kubectl(['wait', '--for=condition=failed', 'job/job-bad', '--timeout=20s']);
  assert.equal(failed.code, 0, failed.stderr);
  const pods = fake.list('v1', 'Pod', 'dev').filter((p: any) => p.metadata.labels['job-name'] === 'job-bad') as any[];
  assert.equal(pods.length, 1);
  assert.equal(pods[0].status.phase, 'Failed');
  assert.equal(pods[0].status.containerStatuses[0].state.terminated.exitCode, 3);
  const logs = await kubectl(['logs', `pod/${pods[0].metadata.name}`]);
  assert.equal(logs.stdout, 'failing\n');

  const deleted = await kubectl(['delete', 'job', 'job-ok', 'job-bad']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(fake.list('v1', 'Pod', 'dev').filter((p: any) => String(p.metadata.name).startsWith('job-')).length, 0, 'kubectl deletes jobs in the background: their pods go too');
  assert.deepEqual(fake.violations(), []);
});

test('server-side apply: another manager\'s change is a 409 naming field and manager; force takes ownership; dropped fields are removed', async () => {
  const api = k8s.KubernetesObjectApi.makeApiClient(kc);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const mine = deployment('ssa', 'registry.test/web:v1');
  await api.patch(mine, undefined, undefined, 'conveyor', false, k8s.PatchStrategy.ServerSideApply);
  // Someone scales by hand (a merge patch: an Update by "kubectl-edit").
  await apps.patchNamespacedDeployment(
    { name: 'ssa', namespace: 'dev', body: { spec: { replicas: 5 } }, fieldManager: 'kubectl-edit' },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  // Re-applying the same intent now conflicts on the field the other manager changed.
  const err = await api.patch(mine, undefined, undefined, 'conveyor', false, k8s.PatchStrategy.ServerSideApply).then(
    () => undefined,
    (e: unknown) => e,
  );
  const { code, body } = apiError(err);
  assert.equal(code, 409);
  assert.equal(body['reason'], 'Conflict');
  assert.equal(body['message'], 'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas');
  assert.deepEqual((body['details'] as any).causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-edit" using apps/v1', field: '.spec.replicas' }]);
  // Applying the other manager's value shares the field instead of conflicting.
  const shared = structuredClone(mine) as any;
  shared.spec.replicas = 5;
  await api.patch(shared, undefined, undefined, 'conveyor', false, k8s.PatchStrategy.ServerSideApply);
  // Forcing takes the field over.
  const forced = (await api.patch(mine, undefined, undefined, 'conveyor', true, k8s.PatchStrategy.ServerSideApply)) as any;
  assert.equal(forced.spec.replicas, 2);
  assert.equal(forced.metadata.managedFields.find((m: any) => m.manager === 'kubectl-edit'), undefined, 'the other manager lost its only field');
  // A field dropped from the intent is removed (nobody else owns it); a field only another manager set stays.
  await apps.patchNamespacedDeployment(
    { name: 'ssa', namespace: 'dev', body: { metadata: { annotations: { 'team.example/owner': 'ops' } } }, fieldManager: 'ops-tool' },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
  );
  const lean = structuredClone(mine) as any;
  delete lean.spec.template.spec.containers[0].env;
  const after = (await api.patch(lean, undefined, undefined, 'conveyor', false, k8s.PatchStrategy.ServerSideApply)) as any;
  assert.equal(after.spec.template.spec.containers[0].env, undefined);
  assert.equal(after.metadata.annotations['team.example/owner'], 'ops');
  const conveyorFields = after.metadata.managedFields.find((m: any) => m.manager === 'conveyor' && m.operation === 'Apply').fieldsV1;
  assert.ok(conveyorFields['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"web"}']['f:image']);
  assert.equal(after.metadata.generation, 4, 'spec changes bumped the generation: scale, scale back, drop env');
  assert.deepEqual(fake.violations(), []);
});

test('watch from a resourceVersion sees later events; a too old one gets 410 Expired; status writes through the main resource are ignored', async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const created = await core.createNamespacedConfigMap({ namespace: 'dev', body: { metadata: { name: 'cm-watch' }, data: { a: '1' } } });
  const from = created.metadata!.resourceVersion!;
  await core.patchNamespacedConfigMap({ name: 'cm-watch', namespace: 'dev', body: { data: { a: '2' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  await core.deleteNamespacedConfigMap({ name: 'cm-watch', namespace: 'dev' });
  const events: string[] = [];
  const watch = new k8s.Watch(kc);
  await new Promise<void>((resolve, reject) => {
    let abort: AbortController | undefined;
    watch
      .watch(
        '/api/v1/namespaces/dev/configmaps',
        { resourceVersion: from, fieldSelector: 'metadata.name=cm-watch' },
        (type, obj: any) => {
          events.push(`${type}:${obj.data?.a}`);
          if (type === 'DELETED') {
            abort?.abort();
            resolve();
          }
        },
        (err) => (err && (err as Error).name !== 'AbortError' ? reject(err as Error) : undefined),
      )
      .then((a) => (abort = a), reject);
  });
  assert.deepEqual(events, ['MODIFIED:2', 'DELETED:2']);

  const tiny = await FakeKube.start({ historyLimit: 2 });
  try {
    const tkc = new k8s.KubeConfig();
    tkc.loadFromString(tiny.kubeconfig());
    const tcore = tkc.makeApiClient(k8s.CoreV1Api);
    const first = await tcore.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'x' } } });
    for (let i = 0; i < 4; i++) await tcore.patchNamespacedConfigMap({ name: 'x', namespace: 'default', body: { data: { i: String(i) } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    const errors: any[] = [];
    await new Promise<void>((resolve) => {
      void new k8s.Watch(tkc).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: first.metadata!.resourceVersion }, (type, obj) => errors.push({ type, obj }), () => resolve());
    });
    assert.equal(errors.length, 1);
    assert.equal(errors[0].type, 'ERROR');
    assert.equal(errors[0].obj.code, 410);
    assert.equal(errors[0].obj.reason, 'Expired');
  } finally {
    await tiny.stop();
  }

  const apps = kc.makeApiClient(k8s.AppsV1Api);
  await apps.createNamespacedDeployment({ namespace: 'dev', body: deployment('status-sub', 'registry.test/web:stuck', 1) as k8s.V1Deployment });
  const withStatus = { ...(deployment('status-sub', 'registry.test/web:stuck', 1) as any), status: { availableReplicas: 99 } };
  const applied = (await k8s.KubernetesObjectApi.makeApiClient(kc).patch(withStatus, undefined, undefined, 'conveyor', true, k8s.PatchStrategy.ServerSideApply)) as any;
  assert.notEqual(applied.status.availableReplicas, 99);
  const statusRead = await apps.readNamespacedDeploymentStatus({ name: 'status-sub', namespace: 'dev' });
  assert.equal(statusRead.status?.updatedReplicas, 1);
  assert.equal(statusRead.status?.availableReplicas, undefined, 'the stuck rollout never made a replica available');
  assert.deepEqual(fake.violations(), []);
});

test('authentication, authorization and faults answer with Kubernetes Status objects', async () => {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const badKc = new k8s.KubeConfig();
  badKc.loadFromString(fake.kubeconfig('dev').replace(fake.token, 'wrong-token'));
  const unauth = apiError(await badKc.makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({ namespace: 'dev' }).catch((e: unknown) => e));
  assert.equal(unauth.code, 401);

  fake.authorizer = (a) => !(a.verb === 'patch' && a.resource === 'deployments' && a.namespace === 'dev');
  try {
    const err = apiError(await k8s.KubernetesObjectApi.makeApiClient(kc).patch(deployment('denied', 'x:1'), undefined, undefined, 'conveyor', false, k8s.PatchStrategy.ServerSideApply).catch((e: unknown) => e));
    assert.equal(err.code, 403);
    assert.equal(err.body['message'], 'deployments.apps "denied" is forbidden: User "system:serviceaccount:conveyor:deployer" cannot patch resource "deployments" in API group "apps" in the namespace "dev"');
  } finally {
    fake.authorizer = () => true;
  }

  const missingNs = apiError(await k8s.KubernetesObjectApi.makeApiClient(kc).patch({ ...deployment('x', 'x:1'), metadata: { name: 'x', namespace: 'nowhere' } }, undefined, undefined, 'conveyor', false, k8s.PatchStrategy.ServerSideApply).catch((e: unknown) => e));
  assert.equal(missingNs.code, 404);
  assert.equal(missingNs.body['message'], 'namespaces "nowhere" not found');

  fake.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 1 });
  const throttled = apiError(await apps.listNamespacedDeployment({ namespace: 'dev' }).catch((e: unknown) => e));
  assert.equal(throttled.code, 429);
  assert.equal(throttled.body['reason'], 'TooManyRequests');
  fake.injectFault({ kind: 'drop' });
  await assert.rejects(apps.listNamespacedDeployment({ namespace: 'dev' }));
  assert.ok((await apps.listNamespacedDeployment({ namespace: 'dev' })).items.length > 0, 'the fault was one-shot');
  assert.deepEqual(fake.violations(), []);
});

test('requests outside the API are recorded as violations', async () => {
  const probe = await FakeKube.start();
  try {
    const pkc = new k8s.KubeConfig();
    pkc.loadFromString(probe.kubeconfig());
    const core = pkc.makeApiClient(k8s.CoreV1Api);
    // A PATCH with a content type the API does not accept.
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c' } } });
    await core.patchNamespacedConfigMap({ name: 'c', namespace: 'default', body: { data: { a: '1' } } }, k8s.setHeaderOptions('Content-Type', 'application/json')).catch(() => undefined);
    await new k8s.Watch(pkc).watch('/api/v1/namespaces/default/widgets', {}, () => undefined, () => undefined).catch(() => undefined);
    const v = probe.violations();
    assert.equal(v.length, 2, v.join('\n'));
    assert.match(v[0]!, /PATCH \/api\/v1\/namespaces\/default\/configmaps\/c: PATCH with content type "application\/json"/);
    assert.match(v[1]!, /widgets: no such API path/);
  } finally {
    await probe.stop();
  }
});
