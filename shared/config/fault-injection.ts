/**
 * Test-only fault injection: at a named code point, the process kills itself with SIGKILL when
 * `CONVEYOR_TEST_KILL_AT` names that point (and pass), so crash tests stop the host exactly
 * between two steps (say, after the lock entity committed a grant and before the waiter's event
 * was raised) instead of after a guessed delay. The setting is refused unless the local host
 * runs with its test flag (shared/config/settings.ts), so outside the crash tests a point costs a
 * comparison.
 */
import { killPoint, type KillPoint } from './settings.js';

let armed: { point: KillPoint; remaining: number } | undefined | null = null;

/**
 * Passes kill point `point`: when it is the armed point and this is the armed pass, writes one
 * line to stderr and kills the process. Throws (once read, on every pass) when the setting is
 * set where it is refused, so a misconfiguration is never silently ignored.
 */
export function passKillPoint(point: KillPoint): void {
  if (armed === null) {
    const k = killPoint();
    armed = k ? { point: k.point, remaining: k.pass } : undefined;
  }
  if (armed === undefined || armed.point !== point) return;
  armed.remaining -= 1;
  if (armed.remaining > 0) return;
  process.stderr.write(`fault injection: SIGKILL at ${point}\n`);
  process.kill(process.pid, 'SIGKILL');
}
