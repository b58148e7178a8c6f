/** `verifyEnvironment`: one try of one check (the loop and its waits are durable, in the orchestrator). */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { runHttpCheck } from '../../shared/verify/http-check.js';

export async function verifyEnvironment(input: ActivityInput<'verifyEnvironment'>): Promise<ActivityOutput<'verifyEnvironment'>> {
  const result = await runHttpCheck(input.baseUrl, input.check);
  return {
    check: input.checkIndex,
    attempt: input.attempt,
    ok: result.ok,
    at: result.at,
    durationMs: result.durationMs,
    ...(result.status !== undefined ? { status: result.status } : {}),
    ...(result.reason !== undefined ? { reason: result.reason } : {}),
  };
}
