/**
 * Bounded concurrency and per-item deadlines for the reconcile sweeps: at most `concurrency`
 * items in flight, and an item that does not finish within its deadline is given up (and told
 * to stop through its AbortSignal) so it delays nobody else.
 */

/** The outcome of one item run under a deadline. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: string; timedOut: boolean };

/**
 * Runs `work(item, signal)` for every item, `concurrency` at a time, each under `timeoutMs`.
 * Resolves the outcomes in input order; never rejects.
 */
export async function mapBounded<I, T>(
  items: readonly I[],
  concurrency: number,
  timeoutMs: number,
  work: (item: I, signal: AbortSignal) => Promise<T>,
): Promise<Settled<T>[]> {
  const results: Settled<T>[] = new Array<Settled<T>>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await withDeadline(timeoutMs, (signal) => work(items[i]!, signal));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}

/** Runs `fn` under a deadline; on expiry its signal aborts and the outcome is a timeout. */
export function withDeadline<T>(timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<Settled<T>> {
  const controller = new AbortController();
  return new Promise<Settled<T>>((resolve) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      controller.abort();
      resolve({ ok: false, error: `no answer within ${Math.round(timeoutMs / 100) / 10} s`, timedOut: true });
    }, timeoutMs);
    let started: Promise<T>;
    try {
      started = fn(controller.signal);
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      (value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ ok: true, value });
      },
      (err: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ ok: false, error: err instanceof Error ? err.message : String(err), timedOut: false });
      },
    );
  });
}
