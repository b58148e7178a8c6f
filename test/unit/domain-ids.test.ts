import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appOfRunId,
  isLoggedStep,
  isName,
  isOperationId,
  lockEntityKey,
  logBlobName,
  promotionInstanceId,
  rollbackOperationId,
  runIdFor,
  workspaceFolderName,
} from '../../shared/domain/ids.js';

test('app and environment names: lowercase letters, digits and "-", starting with a letter, at most 32', () => {
  for (const ok of ['a', 'shop', 'shop-api-2', 'a'.repeat(32)]) assert.ok(isName(ok), ok);
  for (const bad of ['', 'Shop', '1shop', '-shop', 'shop.api', 'shop_api', 'a'.repeat(33), '../x', 'shop/x']) assert.ok(!isName(bad), bad);
});

test('a run id is <app>.<commit> with the commit lower-cased, and gives its app back', () => {
  const id = runIdFor('shop', 'ABCDEF0123456789');
  assert.equal(id, 'shop.abcdef0123456789');
  assert.equal(appOfRunId(id), 'shop');
  for (const bad of ['shop', 'shop.', 'shop.xyz1234', 'Shop.abcdef0', 'shop.abc', `shop.${'a'.repeat(65)}`, 'rollback.shop.dev.x']) assert.equal(appOfRunId(bad), undefined, bad);
});

test("a promotion's instance id is the run id and the environment", () => {
  assert.equal(promotionInstanceId('shop.abcdef0', 'prod'), 'shop.abcdef0.prod');
});

test('rollback operation ids are recognised only in their own form', () => {
  const id = rollbackOperationId('shop', 'prod', '123e4567-e89b-12d3-a456-426614174000');
  assert.equal(id, 'rollback.shop.prod.123e4567-e89b-12d3-a456-426614174000');
  assert.ok(isOperationId(id));
  for (const bad of ['rollback.shop.prod.x', 'shop.abcdef0', `${id}x`, id.replace('shop', 'Shop')]) assert.ok(!isOperationId(bad), bad);
});

test('the lock entity key, log blob names and workspace folders', () => {
  assert.equal(lockEntityKey('shop', 'prod'), 'shop.prod');
  assert.equal(logBlobName('shop', 'shop.abcdef0', 'build'), 'shop/shop.abcdef0/build.log');
  assert.equal(workspaceFolderName('shop.abcdef0'), 'shop.abcdef0');
  assert.equal(workspaceFolderName('a/b c'), 'a_b_c');
  assert.ok(isLoggedStep('build-for-test'));
  assert.ok(!isLoggedStep('deploy'));
});
