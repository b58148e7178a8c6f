// Seeded randomness for tests and benches. Tests that vary timing on purpose draw from a seed
// taken from CONVEYOR_TEST_SEED (or drawn at random), and name it when they fail so the same
// run can be repeated.
import { randomInt } from 'node:crypto';

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded source of random numbers that knows its seed. */
export interface SeededRandom {
  readonly seed: number;
  /** An integer in [min, max). */
  int(min: number, max: number): number;
  /** Runs `fn`; if it throws, the error's message ends with the seed and how to repeat the run. */
  reportingSeed<T>(fn: () => Promise<T>): Promise<T>;
}

/** A source seeded from CONVEYOR_TEST_SEED when set (an unsigned 32-bit integer), else at random. */
export function seededRandom(env: NodeJS.ProcessEnv = process.env): SeededRandom {
  const given = env.CONVEYOR_TEST_SEED;
  const seed = given !== undefined && /^\d+$/.test(given.trim()) ? Number(given.trim()) >>> 0 : randomInt(0, 2 ** 32);
  const next = rng(seed);
  const note = `(random seed ${seed}: repeat with CONVEYOR_TEST_SEED=${seed})`;
  return {
    seed,
    int: (min, max) => min + Math.floor(next() * (max - min)),
    async reportingSeed(fn) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof Error) err.message = `${err.message}\n${note}`;
        else throw new Error(`${String(err)}\n${note}`, { cause: err });
        throw err;
      }
    },
  };
}
