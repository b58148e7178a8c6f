// Cluster credentials join the redaction list: every CONVEYOR_KUBECONFIG_* setting's tokens,
// passwords and client keys (and the steps kubeconfig's) are masked in a step's log and in
// messages from the moment Conveyor's services exist; kubeconfigs a target loads later (AKS
// credentials from ARM, Entra ID tokens) are added when they are obtained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { createServices } from '../../functions/composition-root.js';
import { readSettings } from '../../shared/config/settings.js';
import { MemoryLogSink } from '../../shared/executor/log-sink.js';
import { SecretRegistry } from '../../shared/secrets/index.js';
import { UnsandboxedStepRunner } from '../../shared/steps/unsandboxed.step-runner.js';
import { kubeconfigSecrets, settingKubeconfig } from '../../shared/targets/kubernetes/index.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.service-account-token-0123456789';
const PASSWORD = 'basic-auth-password-9876543210';
const KEY_PEM = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oqDMQSvF6n0ZoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n';
const KEY_DATA = Buffer.from(KEY_PEM).toString('base64');
const REFRESH = 'oidc-refresh-token-abcdef0123456789';
const EXEC_SECRET = 'exec-plugin-client-secret-5555555555';
const STEPS_TOKEN = 'steps-cluster-token-aaaabbbbccccdddd';

function kubeconfig(users: Array<{ name: string; user: object }>): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from('public CA').toString('base64') } }],
    users,
    contexts: users.map((u) => ({ name: u.name, context: { cluster: 'c', user: u.name } })),
    'current-context': users[0]!.name,
  });
}

const PROD = kubeconfig([
  { name: 'token', user: { token: TOKEN } },
  { name: 'basic', user: { username: 'deployer', password: PASSWORD } },
  { name: 'cert', user: { 'client-certificate-data': Buffer.from('public certificate').toString('base64'), 'client-key-data': KEY_DATA } },
  { name: 'oidc', user: { 'auth-provider': { name: 'oidc', config: { 'client-id': 'public-client', 'refresh-token': REFRESH } } } },
  { name: 'exec', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'get-token', env: [{ name: 'CLIENT_SECRET', value: EXEC_SECRET }] } } },
]);

test('kubeconfigSecrets lists tokens, passwords, client keys, auth-provider tokens and exec env values, not public parts', () => {
  const kc = new KubeConfig();
  kc.loadFromString(PROD);
  const found = kubeconfigSecrets(kc);
  for (const v of [TOKEN, PASSWORD, KEY_DATA, KEY_PEM, REFRESH, EXEC_SECRET]) assert.ok(found.includes(v), `lists ${v.slice(0, 20)}…`);
  for (const v of ['public-client', 'deployer', 'https://127.0.0.1:6443']) assert.ok(!found.includes(v), `does not list ${v}`);
});

test('a kubeconfig a target loads later hands its credentials to the redaction list', async () => {
  const registry = new SecretRegistry();
  const resolve = settingKubeconfig((name) => (name === 'CONVEYOR_KUBECONFIG_LATE' ? kubeconfig([{ name: 'u', user: { token: 'late-loaded-token-0000111122223333' } }]) : undefined), undefined, (values) => values.forEach((v) => registry.add(v)));
  await resolve({ type: 'kubernetes', kubeconfigSetting: 'CONVEYOR_KUBECONFIG_LATE', namespace: 'n', manifests: 'deploy', image: { name: 'r/web', digestFile: 'image.digest' }, forceConflicts: false, prune: false, rolloutTimeoutMs: 1000, rolloutPollMs: 100, url: 'https://x.example' });
  assert.equal(registry.redact('token=late-loaded-token-0000111122223333'), 'token=***');
});

test('a step printing kubeconfig credentials shows them redacted in its log', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kube-redact-'));
  try {
    const services = createServices(
      readSettings({
        CONVEYOR_STORAGE_CONNECTION: 'UseDevelopmentStorage=true',
        CONVEYOR_DATA_DIR: dataDir,
        CONVEYOR_KUBECONFIG_PROD: PROD,
        CONVEYOR_STEP_RUNNER: 'kubernetes',
        CONVEYOR_STEP_IMAGE: 'registry.test/steps:1',
        CONVEYOR_KUBECONFIG_STEPS: kubeconfig([{ name: 's', user: { token: STEPS_TOKEN } }]),
      }),
    );
    const log = new MemoryLogSink();
    const printed = [TOKEN, PASSWORD, KEY_DATA, REFRESH, EXEC_SECRET, STEPS_TOKEN];
    const outcome = await new UnsandboxedStepRunner().run({
      name: 'leaky',
      command: 'printf "%s\\n" "$A" "$B" "$C" "$D" "$E" "$F"; printf "%s" "$KEY"',
      workspace: { dir: dataDir },
      env: { A: printed[0]!, B: printed[1]!, C: printed[2]!, D: printed[3]!, E: printed[4]!, F: printed[5]!, KEY: KEY_PEM },
      conveyorVars: { app: 'shop', commit: 'c'.repeat(40) },
      redact: services.secrets,
      timeoutMs: 10_000,
      log,
    });
    assert.equal(outcome.exitCode, 0);
    for (const v of [...printed, 'MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oqDMQSvF6n0ZoAoGCCqGSM49']) assert.ok(!log.text.includes(v), `${v.slice(0, 16)}… is masked in the log:\n${log.text}`);
    assert.ok(!outcome.outputTail.includes(TOKEN));
    assert.equal(log.text.split('\n').filter((l) => l.includes('***')).length >= printed.length, true, log.text);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
