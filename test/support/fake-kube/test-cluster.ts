// The cluster a Kubernetes test runs against: the protocol-level fake by default, or a real
// cluster when CONVEYOR_TEST_KUBECONFIG names a kubeconfig file (docs/kubernetes.md). Tests that
// need what only the fake can do (choosing how a rollout goes, injecting faults, reading the
// request log) ask `cluster.fake` and skip, saying why, on a real cluster.
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { FakeKube, type FakeKubeOptions } from './server.js';

/** A cluster for one test file. */
export interface TestCluster {
  /** kubeconfig YAML to hand to Conveyor. */
  kubeconfig: string;
  /** The fake, when the test runs against it. */
  fake?: FakeKube;
  /** Creates a fresh namespace (a unique name on a real cluster) and returns its name. */
  namespace(base: string): Promise<string>;
  /** Deletes what the test created (namespaces on a real cluster) and stops the fake. */
  dispose(): Promise<void>;
}

/** Why fake-only tests skip on a real cluster. */
export const REAL_CLUSTER_SKIP = process.env['CONVEYOR_TEST_KUBECONFIG'] ? 'needs the fake API server (rollout plans, fault injection, request log): CONVEYOR_TEST_KUBECONFIG points at a real cluster' : false;

/** Starts the fake (or connects to the real cluster named by CONVEYOR_TEST_KUBECONFIG). */
export async function testCluster(options: FakeKubeOptions = {}): Promise<TestCluster> {
  const file = process.env['CONVEYOR_TEST_KUBECONFIG'];
  if (file) {
    const kubeconfig = await readFile(file, 'utf8');
    const kc = new k8s.KubeConfig();
    kc.loadFromString(kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const created: string[] = [];
    return {
      kubeconfig,
      async namespace(base) {
        const name = `${base}-${randomBytes(3).toString('hex')}`;
        await core.createNamespace({ body: { metadata: { name, labels: { 'conveyor.dev/test': 'true' } } } });
        created.push(name);
        return name;
      },
      async dispose() {
        for (const name of created) await core.deleteNamespace({ name }).catch(() => undefined);
      },
    };
  }
  const fake = await FakeKube.start(options);
  return {
    kubeconfig: fake.kubeconfig(),
    fake,
    async namespace(base) {
      fake.ensureNamespace(base);
      return base;
    },
    dispose: () => fake.stop(),
  };
}
