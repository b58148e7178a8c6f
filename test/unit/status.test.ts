import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STATUSES, isTerminal } from '../../shared/domain/status.js';

test('only Pending and Running are non-terminal statuses', () => {
  const live = STATUSES.filter((s) => !isTerminal(s));
  assert.deepEqual(live, ['Pending', 'Running']);
});
