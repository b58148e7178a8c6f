import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideVerification, maxVerificationTries, type RetrySettings, type VerificationDecision } from '../../shared/domain/verification.js';

const P = { ok: true };
const F = { ok: false, reason: 'expected status 200, got 500' };

interface Case {
  name: string;
  settings: RetrySettings;
  tries: { ok: boolean; reason?: string }[];
  expect: { done: false; waitMs: number } | { done: true; passed: boolean; reasonMatches?: RegExp };
}

const cases: Case[] = [
  { name: 'no tries yet: try at once', settings: { retries: 3, intervalMs: 500, successes: 1 }, tries: [], expect: { done: false, waitMs: 0 } },
  { name: 'one pass is enough when one success is needed', settings: { retries: 0, intervalMs: 500, successes: 1 }, tries: [P], expect: { done: true, passed: true, reasonMatches: /^passed$/ } },
  { name: 'a failure with no retries fails the check', settings: { retries: 0, intervalMs: 500, successes: 1 }, tries: [F], expect: { done: true, passed: false, reasonMatches: /did not pass within 1 try \(1 failed\); last failure: .*got 500/ } },
  { name: 'a failure with retries left waits the interval', settings: { retries: 2, intervalMs: 750, successes: 1 }, tries: [F], expect: { done: false, waitMs: 750 } },
  { name: 'a pass on the last retry passes', settings: { retries: 2, intervalMs: 10, successes: 1 }, tries: [F, F, P], expect: { done: true, passed: true, reasonMatches: /^passed after 2 failed tries$/ } },
  { name: 'failing every try fails once the retries are used up', settings: { retries: 2, intervalMs: 10, successes: 1 }, tries: [F, F, F], expect: { done: true, passed: false, reasonMatches: /did not pass within 3 tries \(3 failed\)/ } },
  { name: 'passes must come in a row: a streak still short keeps going', settings: { retries: 4, intervalMs: 100, successes: 3 }, tries: [P, P], expect: { done: false, waitMs: 100 } },
  { name: 'enough passes in a row pass', settings: { retries: 4, intervalMs: 100, successes: 3 }, tries: [P, P, P], expect: { done: true, passed: true, reasonMatches: /^passed 3 times in a row$/ } },
  { name: 'a failure resets the streak', settings: { retries: 5, intervalMs: 100, successes: 3 }, tries: [P, P, F, P, P], expect: { done: false, waitMs: 100 } },
  { name: 'the streak after a failure counts from the failure', settings: { retries: 5, intervalMs: 100, successes: 3 }, tries: [P, P, F, P, P, P], expect: { done: true, passed: true, reasonMatches: /after 1 failed try$/ } },
  { name: 'it fails early once the tries left cannot complete the streak', settings: { retries: 4, intervalMs: 100, successes: 3 }, tries: [P, F, P, F], expect: { done: true, passed: false, reasonMatches: /could not pass 3 times in a row within 5 tries \(2 failed\)/ } },
  { name: 'it keeps going while the streak can still be completed', settings: { retries: 4, intervalMs: 100, successes: 3 }, tries: [P, F], expect: { done: false, waitMs: 100 } },
  { name: 'when every try must pass, the first failure ends it', settings: { retries: 2, intervalMs: 100, successes: 3 }, tries: [P, F], expect: { done: true, passed: false } },
  { name: 'out-of-range settings are clamped (successes 0 acts as 1)', settings: { retries: -4, intervalMs: -5, successes: 0 }, tries: [P], expect: { done: true, passed: true } },
  { name: 'negative interval is clamped to 0', settings: { retries: 3, intervalMs: -5, successes: 1 }, tries: [F], expect: { done: false, waitMs: 0 } },
  { name: 'more successes than tries gets enough tries to reach them', settings: { retries: 0, intervalMs: 1, successes: 2 }, tries: [P], expect: { done: false, waitMs: 1 } },
  { name: 'the last failure reason is reported', settings: { retries: 1, intervalMs: 0, successes: 1 }, tries: [{ ok: false, reason: 'first' }, { ok: false, reason: 'timed out after 50 ms' }], expect: { done: true, passed: false, reasonMatches: /last failure: timed out after 50 ms$/ } },
];

for (const c of cases) {
  test(`verification policy: ${c.name}`, () => {
    const got: VerificationDecision = decideVerification(c.settings, c.tries);
    assert.equal(got.done, c.expect.done);
    if (!c.expect.done) {
      assert.deepEqual(got, c.expect);
    } else if (got.done) {
      assert.equal(got.passed, c.expect.passed, got.reason);
      if (c.expect.reasonMatches) assert.match(got.reason, c.expect.reasonMatches);
    }
  });
}

test('verification policy: the loop always ends within maxVerificationTries, whatever the service does', () => {
  // Exhaustive over every pass/fail sequence up to the bound for small settings: the policy
  // must stop on or before the bound and never ask for a try after a verdict.
  for (const retries of [0, 1, 2, 4]) {
    for (const successes of [1, 2, 3]) {
      const settings = { retries, intervalMs: 1, successes };
      const bound = maxVerificationTries(settings);
      let sawPass = false;
      let sawFail = false;
      for (let mask = 0; mask < 1 << bound; mask++) {
        const tries: { ok: boolean }[] = [];
        let decision = decideVerification(settings, tries);
        while (!decision.done) {
          assert.ok(tries.length < bound, `more than ${bound} tries for retries=${retries} successes=${successes}`);
          tries.push({ ok: ((mask >> tries.length) & 1) === 1 });
          decision = decideVerification(settings, tries);
        }
        if (decision.passed) sawPass = true;
        else sawFail = true;
        // A pass always ends on a streak of exactly the needed length.
        if (decision.passed) assert.ok(tries.slice(-successes).every((t) => t.ok));
      }
      assert.ok(sawPass && sawFail);
    }
  }
});

test('verification policy: it is deterministic (same tries, same decision)', () => {
  const settings = { retries: 2, intervalMs: 300, successes: 2 };
  const tries = [F, P, F, P];
  assert.deepEqual(decideVerification(settings, tries), decideVerification(settings, [...tries]));
});
