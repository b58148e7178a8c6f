// The seeded randomness that timing-varying tests use: repeatable from a seed, and a failure names it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rng, seededRandom } from '../support/seeded-random.js';

describe('seeded randomness', () => {
  it('gives the same sequence for the same seed, and another for another seed', () => {
    const a = rng(42);
    const b = rng(42);
    const c = rng(43);
    const first = Array.from({ length: 5 }, () => a());
    assert.deepEqual(Array.from({ length: 5 }, () => b()), first);
    assert.notDeepEqual(Array.from({ length: 5 }, () => c()), first);
    assert.ok(first.every((x) => x >= 0 && x < 1));
  });

  it('takes its seed from CONVEYOR_TEST_SEED and draws integers in the asked range', () => {
    const r1 = seededRandom({ CONVEYOR_TEST_SEED: '1234' });
    const r2 = seededRandom({ CONVEYOR_TEST_SEED: ' 1234 ' });
    assert.equal(r1.seed, 1234);
    const draws = Array.from({ length: 50 }, () => r1.int(300, 2800));
    assert.deepEqual(Array.from({ length: 50 }, () => r2.int(300, 2800)), draws);
    assert.ok(draws.every((d) => Number.isInteger(d) && d >= 300 && d < 2800));
  });

  it('draws a seed when none is given', () => {
    const seeds = new Set(Array.from({ length: 5 }, () => seededRandom({}).seed));
    assert.ok(seeds.size > 1);
  });

  it('names the seed in the error of a failing body, and passes results through', async () => {
    const r = seededRandom({ CONVEYOR_TEST_SEED: '77' });
    assert.equal(await r.reportingSeed(async () => 5), 5);
    await assert.rejects(
      r.reportingSeed(async () => assert.equal(1, 2, 'one is not two')),
      (err: Error) => err.message.startsWith('one is not two') && err.message.includes('random seed 77: repeat with CONVEYOR_TEST_SEED=77'),
    );
    await assert.rejects(r.reportingSeed(() => Promise.reject('plain')), /plain\n\(random seed 77/);
  });
});
