// The test-only kill point setting: refused unless the local host runs with its test flag (so it
// can never take effect in Azure, where start-up fails naming it), and only named points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_TEST_MODE_VARIABLE, killPoint, readSettings } from '../../shared/config/settings.js';

const base = { AzureWebJobsStorage: 'UseDevelopmentStorage=true' };

test('unset or off: no kill point', () => {
  assert.equal(killPoint({}), undefined);
  assert.equal(killPoint({ CONVEYOR_TEST_KILL_AT: 'off', [HOST_TEST_MODE_VARIABLE]: 'true' }), undefined);
});

test('refused without the local host test flag, at start-up too', () => {
  assert.throws(() => killPoint({ CONVEYOR_TEST_KILL_AT: 'lock.acquire' }), /CONVEYOR_TEST_KILL_AT: test-only .*--test-clock/);
  assert.throws(() => killPoint({ CONVEYOR_TEST_KILL_AT: 'lock.acquire', [HOST_TEST_MODE_VARIABLE]: '1' }), /test-only/);
  assert.throws(() => readSettings({ ...base, CONVEYOR_TEST_KILL_AT: 'lock.acquire' }), /CONVEYOR_TEST_KILL_AT/);
});

test('with the flag: a named point and pass; anything else is refused', () => {
  const env = (v: string) => ({ CONVEYOR_TEST_KILL_AT: v, [HOST_TEST_MODE_VARIABLE]: 'true' });
  assert.deepEqual(killPoint(env('lock.wake.before-raise')), { point: 'lock.wake.before-raise', pass: 1 });
  assert.deepEqual(killPoint(env('lock.acquire#2')), { point: 'lock.acquire', pass: 2 });
  for (const bad of ['lock.nowhere', 'lock.acquire#0', 'lock.acquire#x', 'LOCK.ACQUIRE']) assert.throws(() => killPoint(env(bad)), /must be one of/, bad);
  assert.doesNotThrow(() => readSettings({ ...base, ...env('lock.release') }));
});
