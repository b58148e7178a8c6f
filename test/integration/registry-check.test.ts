// The registry check of an image digest, against a loopback fake of the OCI distribution API and
// its token handshake (test/support/fake-registry): anonymous and credentialed Bearer tokens,
// Basic, Azure Container Registry's Entra ID exchange, an unreachable registry; then the
// kubernetes target with the real client: a digest the registry lacks fails before anything is
// applied, a present one deploys, and `image.registryCheck: false` asks nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { KubernetesTargetSpec } from '../../shared/domain/pipeline.js';
import { ValidationError } from '../../shared/errors.js';
import { KubernetesTarget, settingKubeconfig } from '../../shared/targets/kubernetes/index.js';
import { kubernetesTargetFile } from '../../shared/targets/kubernetes/kubernetes-spec.schema.js';
import { ACR_SCOPE, OciRegistry, parseChallenge, parseImageName, parseRegistryAuth } from '../../shared/targets/kubernetes/oci-registry.js';
import { TestTokenCredential } from '../support/fake-arm/server.js';
import { FakeKube } from '../support/fake-kube/server.js';
import { FakeRegistry } from '../support/fake-registry/server.js';

const MISSING = `sha256:${'d'.repeat(64)}`;
let open: FakeRegistry;
let priv: FakeRegistry;
let kube: FakeKube;

before(async () => {
  open = await FakeRegistry.start({ publicRepositories: ['shop/web'] });
  priv = await FakeRegistry.start({ users: { robot: 's3cret-pw' } });
  kube = await FakeKube.start({ namespaces: ['shop'] });
});

after(async () => {
  await Promise.all([open.stop(), priv.stop(), kube.stop()]);
});

const trail = (r: FakeRegistry) => r.requests.map((q) => `${q.method} ${q.path.replace(/sha256:[0-9a-f]+/, 'sha256:…')} ${q.auth || '-'} ${q.status}`);

test('anonymous Bearer handshake: 401 with the challenge, a token from the realm, then 200 for a pushed digest and 404 for a missing one', async () => {
  const digest = open.push('shop/web');
  const registry = new OciRegistry();
  assert.deepEqual(await registry.check(`${open.host}/shop/web`, digest), { state: 'present' });
  assert.deepEqual(trail(open), ['HEAD /v2/shop/web/manifests/sha256:… - 401', 'GET /token - 200', 'HEAD /v2/shop/web/manifests/sha256:… Bearer 200']);
  const missing = await registry.check(`${open.host}/shop/web`, MISSING);
  assert.equal(missing.state, 'missing');
  assert.match(missing.state === 'missing' ? missing.detail : '', /HEAD http:\/\/127\.0\.0\.1:\d+\/v2\/shop\/web\/manifests\/sha256:d+ answered 404/);
  // The token is reused for the same scope until it expires.
  assert.deepEqual(trail(open).slice(3), ['HEAD /v2/shop/web/manifests/sha256:… Bearer 404']);
  // A repository nobody may pull anonymously cannot be checked: unverified, not missing.
  const closed = await registry.check(`${open.host}/shop/private`, MISSING);
  assert.equal(closed.state, 'unverified');
  assert.match(closed.state === 'unverified' ? closed.reason : '', /token service of registry 127\.0\.0\.1:\d+ refused anonymous access \(401\)/);
});

test('a private registry: the configured credential (a Docker config) is sent to the token realm as Basic; a wrong one leaves the digest unverified', async () => {
  const digest = priv.push('team/api');
  const auth = (password: string) => parseRegistryAuth(JSON.stringify({ auths: { [priv.host]: { auth: Buffer.from(`robot:${password}`).toString('base64') } } }));
  const good = new OciRegistry({ credentials: auth('s3cret-pw') });
  assert.deepEqual(await good.check(`${priv.host}/team/api`, digest), { state: 'present' });
  assert.equal((await good.check(`${priv.host}/team/api`, MISSING)).state, 'missing');
  assert.ok(priv.requests.some((r) => r.path === '/token' && r.auth === 'Basic' && r.status === 200));
  const wrong = await new OciRegistry({ credentials: auth('nope') }).check(`${priv.host}/team/api`, digest);
  assert.deepEqual(wrong, { state: 'unverified', reason: `the token service of registry ${priv.host} refused the configured credential (401)` });
  const none = await new OciRegistry().check(`${priv.host}/team/api`, digest);
  assert.equal(none.state, 'unverified');
});

test('a Basic-only registry gets the credential directly; without one the digest is unverified', async () => {
  const basic = await FakeRegistry.start({ auth: 'basic', users: { ci: 'pw' } });
  try {
    const digest = basic.push('app');
    const credentials = parseRegistryAuth(JSON.stringify({ auths: { [`http://${basic.host}`]: { username: 'ci', password: 'pw' } } }));
    assert.deepEqual(await new OciRegistry({ credentials }).check(`${basic.host}/app`, digest), { state: 'present' });
    assert.equal((await new OciRegistry({ credentials }).check(`${basic.host}/app`, MISSING)).state, 'missing');
    const none = await new OciRegistry().check(`${basic.host}/app`, digest);
    assert.match(none.state === 'unverified' ? none.reason : '', /asks for a password and none is configured \(CONVEYOR_REGISTRY_AUTH\)/);
  } finally {
    await basic.stop();
  }
});

test("Azure Container Registry: Conveyor's Entra ID token is exchanged for a refresh token, which buys the pull token at the realm", async () => {
  const credential = new TestTokenCredential();
  const scope = ACR_SCOPE;
  const acr = await FakeRegistry.start({ auth: 'acr', aadToken: credential.tokenFor(scope) });
  try {
    const digest = acr.push('shop/api');
    const registry = new OciRegistry({ azure: { credential, scope }, isAzureRegistry: (host) => host === acr.host });
    assert.deepEqual(await registry.check(`${acr.host}/shop/api`, digest), { state: 'present' });
    assert.deepEqual(trail(acr), ['HEAD /v2/shop/api/manifests/sha256:… - 401', 'POST /oauth2/exchange - 200', 'POST /oauth2/token - 200', 'HEAD /v2/shop/api/manifests/sha256:… Bearer 200']);
    assert.deepEqual(credential.requested, [scope]);
    // An identity the registry does not accept: unverified, naming the role.
    const stranger = new TestTokenCredential();
    const refused = await new OciRegistry({ azure: { credential: stranger, scope }, isAzureRegistry: () => true }).check(`${acr.host}/shop/api`, digest);
    assert.match(refused.state === 'unverified' ? refused.reason : '', /refused to exchange Conveyor's Entra ID token \(401\); grant the identity AcrPull/);
    // No identity at all (a laptop without Azure sign-in): unverified, saying so.
    const nobody = { getToken: async () => Promise.reject(new Error('CredentialUnavailableError: no managed identity endpoint')) };
    const unavailable = await new OciRegistry({ azure: { credential: nobody, scope }, isAzureRegistry: () => true }).check(`${acr.host}/shop/api`, digest);
    assert.deepEqual(unavailable, { state: 'unverified', reason: `no Entra ID token for registry ${acr.host} (CredentialUnavailableError: no managed identity endpoint)` });
  } finally {
    await acr.stop();
  }
});

test('an unreachable registry leaves the digest unverified (the deployment is not blocked by what cannot be asked)', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const result = await new OciRegistry({ timeoutMs: 2000 }).check(`127.0.0.1:${port}/shop/web`, MISSING);
  assert.equal(result.state, 'unverified');
  assert.match(result.state === 'unverified' ? result.reason : '', new RegExp(`registry 127\\.0\\.0\\.1:${port} is not reachable \\(ECONNREFUSED\\)`));
});

test('image names, challenges and Docker configs are read as the specifications say', () => {
  assert.deepEqual(parseImageName('nginx'), { host: 'registry-1.docker.io', repository: 'library/nginx' });
  assert.deepEqual(parseImageName('bitnami/redis'), { host: 'registry-1.docker.io', repository: 'bitnami/redis' });
  assert.deepEqual(parseImageName('myacr.azurecr.io/shop/web'), { host: 'myacr.azurecr.io', repository: 'shop/web' });
  assert.deepEqual(parseImageName('localhost:5000/web'), { host: 'localhost:5000', repository: 'web' });
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } });
  assert.throws(() => parseRegistryAuth('{"auths": {"r.example": {"auth": "bm9jb2xvbg=="}}}'), (err: unknown) => err instanceof ValidationError && /CONVEYOR_REGISTRY_AUTH/.test(err.message) && !err.message.includes('bm9jb2xvbg'));
  assert.throws(() => parseRegistryAuth('not json'), ValidationError);
  assert.equal(parseRegistryAuth(undefined).size, 0);
});

function spec(image: string, registryCheck?: boolean): KubernetesTargetSpec {
  return kubernetesTargetFile.parse({
    type: 'kubernetes',
    kubeconfigSetting: 'CONVEYOR_KUBECONFIG_SHOP',
    namespace: 'shop',
    manifests: 'k8s',
    image: { name: image, digestFile: 'image.digest', ...(registryCheck === undefined ? {} : { registryCheck }) },
    url: 'https://shop.example',
  });
}

test('the kubernetes target asks the registry before applying: a digest it lacks fails with nothing applied; a present one deploys; registryCheck: false asks nothing', async () => {
  const image = `${open.host}/shop/web`;
  const pushed = open.push('shop/web');
  const registry = new OciRegistry();
  const target = new KubernetesTarget({ kubeconfig: settingKubeconfig(() => kube.kubeconfig()), imageExists: (name, digest) => registry.check(name, digest), retry: { attempts: 1, baseMs: 5, maxMs: 5 } });
  const deploy = (s: KubernetesTargetSpec, digest: string, revision: string) =>
    target.deploy({
      app: 'shop',
      environment: 'dev',
      revision: Number(revision),
      commit: 'a'.repeat(40),
      digest: `sha256:${revision.repeat(64).slice(0, 64)}`,
      spec: s,
      materialize: async (dest) => {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(`${dest}/image.digest`, `${digest}\n`);
      },
      readRepository: async () => [{ file: 'web.yaml', text: `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  selector: { matchLabels: { app: web } }\n  template:\n    metadata: { labels: { app: web } }\n    spec: { containers: [{ name: web, image: "${image}:dev" }] }\n` }],
    });

  assert.equal(spec(image).image.registryCheck, undefined, 'on by default');
  const missing = await deploy(spec(image), MISSING, '1');
  assert.equal(missing.ok, false);
  assert.match(missing.ok ? '' : missing.reason, new RegExp(`the registry has no image ${image.replace(/\./g, '\\.')}@${MISSING}: the build reported a digest that was never pushed there; nothing was applied`));
  assert.equal(kube.get('apps/v1', 'Deployment', 'shop', 'web'), undefined, 'nothing was applied');

  const present = await deploy(spec(image), pushed, '2');
  assert.equal(present.ok, true, JSON.stringify(present));
  assert.equal(present.ok ? present.details['registryCheck'] : '', 'present');
  assert.ok(kube.get('apps/v1', 'Deployment', 'shop', 'web'));

  const asked = open.requests.length;
  const off = await deploy(spec(image, false), MISSING, '3');
  assert.equal(off.ok, true, 'registryCheck: false deploys without asking');
  assert.equal(off.ok ? off.details['registryCheck'] : '', 'off (image.registryCheck: false)');
  assert.equal(open.requests.length, asked, 'no request reached the registry');
});
