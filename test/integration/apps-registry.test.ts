import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppRegistry, tracksBranch, type AppInput } from '../../shared/apps/index.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
import { ConflictError, CorruptDataError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { withAzurite } from '../support/azurite.js';

let azurite: Awaited<ReturnType<typeof withAzurite>>;
let apps: AppRegistry;

before(async () => {
  azurite = await withAzurite();
  let t = Date.parse('2026-02-01T00:00:00Z');
  apps = new AppRegistry(containerClient(azurite.connectionString, CONTAINERS.state), { now: () => new Date((t += 1000)) });
});
after(async () => {
  await azurite.dispose();
});

const shop: AppInput = {
  name: 'shop',
  repoUrl: 'https://github.com/Acme/shop.git',
  provider: 'github',
  branches: ['main', 'release/*'],
  webhookSecretSetting: 'SHOP_WEBHOOK_SECRET',
};

test('create stores a validated record with defaults; a second create of the same name conflicts', async () => {
  const { value, etag } = await apps.create(shop, 'admin@example.com');
  assert.ok(etag);
  assert.equal(value.pipelinePath, '.conveyor/pipeline.yaml');
  assert.equal(value.createdBy, 'admin@example.com');
  assert.equal(value.createdAt, value.updatedAt);
  assert.deepEqual((await apps.get('shop')).value, value);
  await assert.rejects(apps.create({ ...shop, repoUrl: 'https://github.com/acme/other' }), ConflictError);
});

test('update is ETag-conditioned: a stale ETag is refused', async () => {
  const { etag } = await apps.get('shop');
  const updated = await apps.update('shop', { branches: ['main'] }, etag);
  assert.deepEqual(updated.value.branches, ['main']);
  assert.notEqual(updated.value.updatedAt, updated.value.createdAt);
  await assert.rejects(apps.update('shop', { branches: ['dev'] }, etag), ConflictError);
  await assert.rejects(apps.update('shop', { name: 'other' } as never, updated.etag), ValidationError);
  await assert.rejects(apps.update('nope', { branches: ['x'] }, updated.etag), NotFoundError);
});

test('findByRepository matches any spelling of the repository URL', async () => {
  await apps.create({ ...shop, name: 'shop-api', repoUrl: 'git@github.com:acme/shop.git', pipelinePath: 'api/.conveyor/pipeline.yaml' });
  await apps.create({ ...shop, name: 'blog', repoUrl: 'https://gitlab.com/acme/blog', provider: 'gitlab' });
  // Remote URLs compare case-insensitively (hosted providers treat owner/repo that way), so
  // every spelling finds both apps of the monorepo.
  for (const url of ['https://github.com/acme/shop', 'https://GITHUB.com/Acme/shop/', 'ssh://git@github.com/acme/shop.git', 'git@github.com:Acme/shop']) {
    assert.deepEqual((await apps.findByRepository(url)).map((a) => a.name).sort(), ['shop', 'shop-api'], url);
  }
  assert.deepEqual((await apps.findByRepository('https://gitlab.com/acme/blog.git')).map((a) => a.name), ['blog']);
  assert.deepEqual(await apps.findByRepository('https://github.com/acme/unknown'), []);
  assert.deepEqual(await apps.findByRepository('garbage'), []);
});

test('findByRepository reads only the apps whose repository matches (filtered by listing metadata)', async () => {
  // An unreadable blob tagged with another repository is never read, so it cannot break lookups.
  const c = containerClient(azurite.connectionString, CONTAINERS.state);
  await c.getBlockBlobClient('apps/zz-other.json').upload('not json', 8, { metadata: { repokey: 'another-repository' } });
  assert.deepEqual((await apps.findByRepository('https://gitlab.com/acme/blog')).map((a) => a.name), ['blog']);
  await c.getBlockBlobClient('apps/zz-other.json').delete();
  // Changing an app's repository moves it to the new lookup.
  const { etag } = await apps.get('blog');
  await apps.update('blog', { repoUrl: 'https://gitlab.com/acme/blog-v2' }, etag);
  assert.deepEqual(await apps.findByRepository('https://gitlab.com/acme/blog'), []);
  assert.deepEqual((await apps.findByRepository('https://gitlab.com/acme/blog-v2.git')).map((a) => a.name), ['blog']);
});

test('list returns every app by name; delete removes one (ETag-conditioned when given)', async () => {
  assert.deepEqual((await apps.list()).map((a) => a.name), ['blog', 'shop', 'shop-api']);
  const { etag } = await apps.get('blog');
  await apps.update('blog', { branches: ['trunk'] }, etag);
  await assert.rejects(apps.delete('blog', etag), ConflictError);
  await apps.delete('blog');
  await assert.rejects(apps.get('blog'), NotFoundError);
  await assert.rejects(apps.delete('blog'), NotFoundError);
});

test('invalid apps are rejected with every problem named', async () => {
  const table: [Partial<AppInput>, string][] = [
    [{ name: 'Shop!' }, 'name'],
    [{ repoUrl: 'https://bot:ghp_secret@github.com/acme/x' }, 'repoUrl'],
    [{ repoUrl: 'ftp://example.com/x' }, 'repoUrl'],
    [{ provider: 'bitbucket' as never }, 'provider'],
    [{ branches: [] }, 'branches'],
    [{ branches: ['main', 'bad..name'] }, 'branches.1'],
    [{ branches: ['-rf'] }, 'branches.0'],
    [{ webhookSecretSetting: 'whsec_8f7d6a5b4c3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a' }, 'webhookSecretSetting'],
    [{ webhookSecretSetting: 'has spaces and = signs' }, 'webhookSecretSetting'],
    [{ pipelinePath: '../outside.yaml' }, 'pipelinePath'],
  ];
  for (const [change, path] of table) {
    await assert.rejects(apps.create({ ...shop, name: 'bad-app', ...change }), (err: unknown) => {
      assert.ok(err instanceof ValidationError, `${path}: ${String(err)}`);
      assert.ok(err.issues.some((i) => i.path === path), `${path}: ${JSON.stringify(err.issues)}`);
      return true;
    });
  }
  await assert.rejects(apps.create({ ...shop, name: 'x', extra: 1 } as never), ValidationError);
});

test('a corrupt app blob is reported clearly', async () => {
  const c = containerClient(azurite.connectionString, CONTAINERS.state);
  await c.getBlockBlobClient('apps/broken.json').upload('{"name":"broken"}', 17);
  await assert.rejects(apps.get('broken'), (err: unknown) => err instanceof CorruptDataError && /apps\/broken\.json does not have the expected shape/.test(err.message));
  await assert.rejects(apps.list(), CorruptDataError);
});

test('tracked branches match exactly or by * pattern within one path segment', () => {
  const app = { branches: ['main', 'release/*'] };
  assert.equal(tracksBranch(app, 'main'), true);
  assert.equal(tracksBranch(app, 'release/1.2'), true);
  assert.equal(tracksBranch(app, 'release/1/hotfix'), false);
  assert.equal(tracksBranch(app, 'mainline'), false);
  assert.equal(tracksBranch(app, 'feature/x'), false);
});
