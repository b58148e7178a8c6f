// Host keys: generated once and persisted, overridable by configuration, compared safely.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore, matchesAny, safeEqual, systemKeyEnvName } from '../../local/host/keys.js';

const dir = mkdtempSync(join(tmpdir(), 'conveyor-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('host keys', () => {
  it('generates master and default function keys on first use and keeps them', () => {
    const file = join(dir, 'a', 'host-keys.json');
    const first = new KeyStore(file, {});
    assert.match(first.masterKey, /^[A-Za-z0-9_-]{43}$/);
    assert.match(first.functionKey, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(first.masterKey, first.functionKey);
    const again = new KeyStore(file, {});
    assert.equal(again.masterKey, first.masterKey);
    assert.equal(again.functionKey, first.functionKey);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it('creates system keys on demand and persists them', () => {
    const file = join(dir, 'b', 'host-keys.json');
    const store = new KeyStore(file, {});
    const k = store.systemKey('durabletask_extension');
    assert.equal(store.systemKey('durabletask_extension'), k);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { systemKeys: Record<string, string> };
    assert.equal(stored.systemKeys.durabletask_extension, k);
    assert.equal(new KeyStore(file, {}).systemKey('durabletask_extension'), k);
  });

  it('lets configuration override the stored keys without rewriting the file', () => {
    const file = join(dir, 'c', 'host-keys.json');
    const stored = new KeyStore(file, {});
    const env = { CONVEYOR_HOST_MASTER_KEY: 'm-from-env', CONVEYOR_HOST_FUNCTION_KEY: 'f-from-env', [systemKeyEnvName('my_ext')]: 's-from-env' };
    const store = new KeyStore(file, env);
    assert.equal(store.masterKey, 'm-from-env');
    assert.equal(store.functionKey, 'f-from-env');
    assert.equal(store.systemKey('my_ext'), 's-from-env');
    assert.equal(systemKeyEnvName('my_ext'), 'CONVEYOR_HOST_SYSTEM_KEY_MY_EXT');
    assert.equal(new KeyStore(file, {}).masterKey, stored.masterKey);
  });

  it('accepts the right key per level', () => {
    const store = new KeyStore(join(dir, 'd', 'host-keys.json'), {});
    assert.equal(store.isMaster(store.masterKey), true);
    assert.equal(store.isMaster(store.functionKey), false);
    assert.equal(store.allowsFunction(store.functionKey), true);
    assert.equal(store.allowsFunction(store.masterKey), true, 'the master key works for function level');
    assert.equal(store.allowsFunction('nope'), false);
    assert.equal(store.allowsSystem('x', store.systemKey('x')), true);
    assert.equal(store.allowsSystem('x', store.functionKey), false);
    assert.equal(store.allowsSystem('x', store.masterKey), true);
  });

  it('compares in constant time, whatever the lengths', () => {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('abc', 'abcd'), false);
    assert.equal(safeEqual('', 'a'), false);
    assert.equal(matchesAny('b', ['a', 'b', 'c']), true);
    assert.equal(matchesAny('z', ['a', 'b']), false);
  });
});
