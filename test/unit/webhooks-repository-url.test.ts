import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalRepositoryUrl, canonicalRepositoryKeys, pickRepositoryUrl, repositoryMatches } from '../../shared/webhooks/repository-url.js';

const canonical: [string, string | undefined][] = [
  ['https://github.com/Acme/Shop.git', 'github.com/acme/shop'],
  ['https://github.com/acme/shop', 'github.com/acme/shop'],
  ['https://github.com/acme/shop/', 'github.com/acme/shop'],
  ['git@github.com:acme/shop.git', 'github.com/acme/shop'],
  ['ssh://git@github.com/acme/shop', 'github.com/acme/shop'],
  ['ssh://git@github.com:22/acme/shop.git', 'github.com/acme/shop'],
  ['git://github.com/acme/shop.git', 'github.com/acme/shop'],
  ['https://user:token@GitHub.com:443/acme/shop.git', 'github.com/acme/shop'],
  ['https://gitlab.example.com:8443/acme/platform/shop.git', 'gitlab.example.com:8443/acme/platform/shop'],
  ['https://fabrikam@dev.azure.com/fabrikam/Fabrikam/_git/Fabrikam-Fiber-Git', 'dev.azure.com/fabrikam/fabrikam/_git/fabrikam-fiber-git'],
  ['git@ssh.dev.azure.com:v3/fabrikam/Fabrikam/Fabrikam-Fiber-Git', 'ssh.dev.azure.com/v3/fabrikam/fabrikam/fabrikam-fiber-git'],
  ['/tmp/Repos/shop', 'file:/tmp/Repos/shop'],
  ['/tmp/Repos/shop/', 'file:/tmp/Repos/shop'],
  ['/tmp/Repos/shop/.git', 'file:/tmp/Repos/shop'],
  ['file:///tmp/Repos/shop', 'file:/tmp/Repos/shop'],
  ['file:///tmp/Repos/my%20shop.git', 'file:/tmp/Repos/my shop'],
  ['', undefined],
  ['not a url', undefined],
  ['ftp://example.com/x', undefined],
  ['https://github.com/', undefined],
];

for (const [input, expected] of canonical) {
  test(`canonical repository URL of ${JSON.stringify(input)} is ${JSON.stringify(expected)}`, () => {
    assert.equal(canonicalRepositoryUrl(input), expected);
  });
}

test('a webhook repository matches the app registered with any of its URL forms', () => {
  const repo = { urls: ['https://github.com/acme/shop.git', 'https://github.com/acme/shop', 'git@github.com:acme/shop.git'] };
  assert.equal(repositoryMatches(repo, 'git@github.com:Acme/Shop'), true);
  assert.equal(repositoryMatches(repo, 'https://github.com/acme/shop'), true);
  assert.equal(repositoryMatches(repo, 'https://github.com/acme/shop-admin'), false);
  assert.equal(repositoryMatches(repo, 'https://gitlab.com/acme/shop'), false);
  assert.equal(repositoryMatches(repo, 'garbage'), false);
  assert.deepEqual(canonicalRepositoryKeys(repo), ['github.com/acme/shop']);
});

test('local repositories match by exact path and case', () => {
  const repo = { urls: ['/tmp/x/Repo'] };
  assert.equal(repositoryMatches(repo, 'file:///tmp/x/Repo'), true);
  assert.equal(repositoryMatches(repo, '/tmp/x/repo'), false);
});

test('pickRepositoryUrl prefers an HTTPS or local URL', () => {
  assert.equal(pickRepositoryUrl({ urls: ['git@github.com:a/b.git', 'https://github.com/a/b.git'] }), 'https://github.com/a/b.git');
  assert.equal(pickRepositoryUrl({ urls: ['git@github.com:a/b.git'] }), 'git@github.com:a/b.git');
  assert.equal(pickRepositoryUrl({ urls: ['/tmp/repo'] }), '/tmp/repo');
  assert.equal(pickRepositoryUrl({ urls: [] }), undefined);
});

test('canonicalRepositoryUrl never throws, and its result for web URLs is a fixed point (property)', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(
    fc.property(fc.string(), (text) => {
      const key = canonicalRepositoryUrl(text);
      assert.ok(key === undefined || typeof key === 'string');
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.webUrl({ withQueryParameters: false, withFragments: false }), (url) => {
      const key = canonicalRepositoryUrl(url);
      if (key !== undefined) assert.equal(canonicalRepositoryUrl(`https://${key}`), key);
    }),
    { numRuns: 500 },
  );
});
