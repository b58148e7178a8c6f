/**
 * The backend's notion of "now". In normal runs it is the wall clock. With the host's test
 * option it can be moved forward on demand, so a 24-hour approval timeout is exercised in
 * milliseconds: it drives the OrchestratorStarted timestamps (hence currentUtcDateTime) of new
 * episodes, createdTime/lastUpdatedTime, and when durable timers fire.
 */
export class DurableClock {
  private offsetMs = 0;

  /**
   * @param controllable whether advance() is allowed (test option only)
   * @param persist where the offset is kept, so a restarted test host resumes at the moved time
   *   (timers and episode timestamps stay consistent across a crash)
   */
  constructor(
    readonly controllable: boolean,
    private readonly persist?: { load(): number; save(offsetMs: number): void },
  ) {
    if (controllable && persist) this.offsetMs = persist.load();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Moves the clock forward (never back: replay requires monotonic episode times). */
  advance(ms: number): number {
    if (!this.controllable) throw new Error('the durable test clock is only available when the host runs with its test clock option');
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ms must be a finite number >= 0');
    this.offsetMs += ms;
    this.persist?.save(this.offsetMs);
    return this.now();
  }
}
