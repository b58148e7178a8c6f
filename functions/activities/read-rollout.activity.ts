/**
 * `readRollout`: where a deployed revision's rollout stands, read once (the orchestrator polls
 * with durable timers). Targets without rollouts (process) are complete as soon as deploy
 * returned. An unreachable cluster throws (transient: retried, then the run ends Errored).
 */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { hasRollout } from '../../shared/targets/kubernetes/index.js';
import type { Services } from '../composition-root.js';

/** The `readRollout` activity, given its collaborators. */
export function readRollout({ targets }: Pick<Services, 'targets'>) {
  return async (input: ActivityInput<'readRollout'>): Promise<ActivityOutput<'readRollout'>> => {
    const target = targets.forSpec(input.target);
    if (!hasRollout(target)) return { state: 'complete', message: `the ${input.target.type} target has no rollout to wait for` };
    const report = await target.rollout(input.app, input.environment, input.target, input.revision);
    return { state: report.state, message: report.message };
  };
}
