import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseRepoUrl, parseRepoUrl, redactUrl, repoCacheKey, sameRepository } from '../../shared/git/index.js';
import { ValidationError } from '../../shared/errors.js';

test('the usual spellings of one repository normalise to the same identity', () => {
  const same = [
    'https://github.com/acme/shop',
    'https://github.com/acme/shop.git',
    'https://GitHub.com/acme/shop/',
    'https://github.com:443/acme/shop.git/',
    'git@github.com:acme/shop.git',
    'ssh://git@github.com/acme/shop.git',
    'ssh://git@github.com:22/acme/shop',
    'https://x-access-token:ghs_abc@github.com/acme/shop.git',
  ];
  for (const url of same) assert.equal(normaliseRepoUrl(url), 'github.com/acme/shop', url);
  assert.equal(repoCacheKey(same[0]!), repoCacheKey(same[4]!));
});

test('different repositories, hosts and ports stay different', () => {
  assert.equal(sameRepository('https://github.com/acme/shop', 'https://github.com/acme/shop2'), false);
  assert.equal(sameRepository('https://github.com/acme/shop', 'https://gitlab.com/acme/shop'), false);
  assert.equal(sameRepository('https://git.local:8443/acme/shop', 'https://git.local/acme/shop'), false);
  assert.equal(sameRepository('not a url', 'not a url'), false);
  assert.equal(sameRepository('https://github.com/Acme/Shop.git', 'git@github.com:acme/shop'), true, 'remote paths compare case-insensitively');
  assert.equal(sameRepository('/srv/git/Shop', '/srv/git/shop'), false, 'local paths keep their case');
});

test('Azure DevOps and file URLs normalise too', () => {
  assert.equal(normaliseRepoUrl('https://dev.azure.com/org/proj/_git/repo'), 'dev.azure.com/org/proj/_git/repo');
  assert.equal(normaliseRepoUrl('file:///srv/git/shop.git/'), 'file:///srv/git/shop');
  assert.equal(normaliseRepoUrl('/srv/git/shop'), 'file:///srv/git/shop');
});

test('credentials in a URL are moved out of the fetch URL', () => {
  const p = parseRepoUrl('https://bot:t0ken-value@git.example.com/acme/shop.git');
  assert.equal(p.fetchUrl, 'https://git.example.com/acme/shop.git');
  assert.equal(p.username, 'bot');
  assert.equal(p.password, 't0ken-value');
});

test('redactUrl hides userinfo of http(s) URLs but keeps ssh account names', () => {
  assert.equal(redactUrl('https://bot:t0ken@host/x.git'), 'https://***@host/x.git');
  assert.equal(redactUrl('https://ghp_token@host/x.git'), 'https://***@host/x.git');
  assert.equal(redactUrl('ssh://git@host/x.git'), 'ssh://git@host/x.git');
  assert.equal(redactUrl('https://host/x.git'), 'https://host/x.git');
});

test('unsupported schemes are rejected', () => {
  assert.throws(() => parseRepoUrl('ftp://host/x'), ValidationError);
  assert.throws(() => parseRepoUrl('ext::sh -c touch% /tmp/pwned'), ValidationError);
});
