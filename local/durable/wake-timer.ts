/**
 * One process timer for all durable timers: durable timers are inbox messages with a future
 * "visible at" time, and this wakes the dispatcher when the earliest of them is due.
 */
import type { DurableClock } from './clock.js';

/** Node's setTimeout fires at once beyond 2^31-1 ms; re-arm instead. */
const MAX_TIMER_DELAY = 2 ** 31 - 1 - 1000;

export class WakeTimer {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;

  constructor(
    private readonly clock: DurableClock,
    /** Called when the armed time is reached (or the clock moved): look for due messages. */
    private readonly onWake: () => void,
  ) {}

  /** Wakes at `at` unless an earlier wake-up is already armed. */
  arm(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_DELAY);
    this.timer = setTimeout(() => this.fire(), delay);
    // A far-away timer alone must not keep the process alive.
    this.timer.unref();
  }

  /** Disarms and wakes now (the armed time came, or the test clock moved). */
  fire(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.onWake();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
