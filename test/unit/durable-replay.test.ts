// Pure helpers of the durable backend: input decoding quirk, retry back-off, action signatures,
// leaf order, entity scheduler ids, status history formatting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeInput, leavesOf, parseSchedulerId, retryDelayMs, schedulerId, signatureOf } from '../../local/durable/replay.js';
import { formatHistory, statusTime } from '../../local/durable/http-api.js';
import { ActionType, EventType, type Action } from '../../local/durable/types.js';

describe('durable replay helpers', () => {
  const decodeCases: [string, number, unknown, unknown][] = [
    ['activity string input is JSON-encoded once more', ActionType.CallActivity, '"Tokyo"', 'Tokyo'],
    ['retry activity too', ActionType.CallActivityWithRetry, '"x"', 'x'],
    ['continueAsNew too', ActionType.ContinueAsNew, '{"a":1}', { a: 1 }],
    ['a string that is not JSON stays a string', ActionType.CallActivity, 'plain', 'plain'],
    ['objects are raw', ActionType.CallActivity, { a: 1 }, { a: 1 }],
    ['sub-orchestration strings are raw', ActionType.CallSubOrchestrator, '"quoted"', '"quoted"'],
    ['entity inputs are raw', ActionType.CallEntity, '"5"', '"5"'],
  ];
  for (const [name, type, input, want] of decodeCases) {
    test(`decodeInput: ${name}`, () => assert.deepEqual(decodeInput(type, input), want));
  }

  const delayCases: [string, Parameters<typeof retryDelayMs>[0], number, number][] = [
    ['first retry waits the first interval', { firstRetryIntervalInMilliseconds: 100, maxNumberOfAttempts: 3 }, 1, 100],
    ['no backoff: constant', { firstRetryIntervalInMilliseconds: 100, maxNumberOfAttempts: 3 }, 3, 100],
    ['backoff doubles', { firstRetryIntervalInMilliseconds: 100, maxNumberOfAttempts: 5, backoffCoefficient: 2 }, 3, 400],
    ['capped by maxRetryInterval', { firstRetryIntervalInMilliseconds: 100, maxNumberOfAttempts: 9, backoffCoefficient: 10, maxRetryIntervalInMilliseconds: 2500 }, 4, 2500],
  ];
  for (const [name, opts, attempts, want] of delayCases) {
    test(`retryDelayMs: ${name}`, () => assert.equal(retryDelayMs(opts, attempts), want));
  }

  test('leaves come depth-first, left to right; signatures ignore inputs', () => {
    const a: Action = { actionType: ActionType.CallActivity, functionName: 'a', input: 1 };
    const b: Action = { actionType: ActionType.CreateTimer, fireAt: new Date(0), isCanceled: false };
    const c: Action = { actionType: ActionType.WaitForExternalEvent, externalEventName: 'Go' };
    const tree: Action = { actionType: ActionType.WhenAny, compoundActions: [{ actionType: ActionType.WhenAll, compoundActions: [a, b] }, c] };
    assert.deepEqual(leavesOf(tree), [a, b, c]);
    assert.equal(signatureOf(tree), signatureOf({ ...tree, compoundActions: [{ actionType: ActionType.WhenAll, compoundActions: [{ ...a, input: 2 }, b] }, c] }));
    assert.notEqual(signatureOf(a), signatureOf({ ...a, functionName: 'b' }));
  });

  test('entity scheduler ids lower-case the name only', () => {
    assert.equal(schedulerId('Counter', 'MyKey'), '@counter@MyKey');
    assert.deepEqual(parseSchedulerId('@counter@a@b'), { name: 'counter', key: 'a@b' });
    assert.throws(() => parseSchedulerId('counter'));
  });

  test('status times have no fraction; history rows merge scheduled info', () => {
    assert.equal(statusTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05Z');
    const rows = formatHistory(
      [
        { EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: true, Timestamp: 't0', Input: '{"x":1}' },
        { EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: true, Timestamp: 't0' },
        { EventType: EventType.TaskScheduled, EventId: 0, IsPlayed: true, Timestamp: 't1', Name: 'hello', Input: '"Tokyo"' },
        { EventType: EventType.TaskCompleted, EventId: -1, IsPlayed: true, Timestamp: 't2', TaskScheduledId: 0, Result: '"Hello Tokyo!"' },
      ],
      true, true, 'chain',
    );
    assert.deepEqual(rows, [
      { EventType: 'ExecutionStarted', Timestamp: 't0', Input: { x: 1 }, FunctionName: 'chain' },
      { EventType: 'TaskCompleted', Timestamp: 't2', TaskScheduledId: 0, Result: 'Hello Tokyo!', FunctionName: 'hello', ScheduledTime: 't1', Input: 'Tokyo' },
    ]);
  });
});
