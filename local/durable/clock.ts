/**
 * The backend's notion of "now". In normal runs it is the wall clock. With the host's test
 * option it can be moved forward on demand, so a 24-hour approval timeout is exercised in
 * milliseconds: it drives the OrchestratorStarted timestamps (hence currentUtcDateTime) of new
 * episodes, createdTime/lastUpdatedTime, and when durable timers fire.
 */
export class DurableClock {
  private offsetMs = 0;

  constructor(readonly controllable: boolean) {}

  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Moves the clock forward (never back: replay requires monotonic episode times). */
  advance(ms: number): number {
    if (!this.controllable) throw new Error('the durable test clock is only available when the host runs with its test clock option');
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ms must be a finite number >= 0');
    this.offsetMs += ms;
    return this.now();
  }
}
