/**
 * `heal`: the reconcile sweep found an environment with `drift: heal` not running what the
 * ledger says, and redeploys the ledger's current revision through the normal path: the deploy
 * slot (it waits for a deployment in progress, never for an approval), the gate (a frozen
 * environment is not healed), a re-read of the ledger under the slot (if a deployment moved it
 * on since the sweep looked, there is nothing to heal), the pipeline file at that revision's
 * commit for the target and checks, then deploy, verify and record as kind `heal`. The heal is
 * also recorded as a run with trigger `heal` (run id = its instance id).
 */
import type * as df from 'durable-functions';
import type { HealInput, HealResult } from '../shared/contracts/activities.js';
import type { RunPatch } from '../shared/domain/run.js';
import { call, errorMessage, nowIso, type Call } from './activity-call.js';
import { deployVerifyRecord } from './deployment.js';
import { acquireSlot, releaseLock } from './environment-lock.js';

/** Custom status of a heal. */
export interface HealStatus {
  step: 'waiting-for-lock' | 'deploying' | 'verifying' | 'recording' | 'done';
  since: string;
  holder?: string;
}

/** Who a heal's records name as having asked for it. */
const HEALER = { id: 'system', name: 'reconcile heal' };

export function* healOrchestrator(context: df.OrchestrationContext): Generator<df.Task, HealResult, unknown> {
  const input = context.df.getInput<HealInput>();
  const env = input.environment;
  // The heal is recorded as a run of its own (id = instance id, trigger `heal`), so the runs API,
  // the run list and the run events show it beside the ledger's `heal` revision.
  const record = function* (patch: RunPatch): Call<void> {
    try {
      yield* call(context, 'recordRun', { app: input.app, runId: context.df.instanceId, patch: { trigger: 'heal', commit: input.commit, pusher: HEALER, ...patch } });
    } catch {
      // A run record that cannot be written does not stop the heal (the ledger records it).
    }
  };
  const started = nowIso(context);
  yield* record({ status: 'Running', startedAt: started, environmentOrder: [env], environments: { [env]: { status: 'Running', startedAt: started } } });
  const result = yield* heal(context, input);
  const finished = nowIso(context);
  yield* record({
    status: result.status,
    finishedAt: finished,
    ...(result.reason ? { reason: result.reason } : {}),
    environments: { [env]: { status: result.status, finishedAt: finished, ...(result.reason ? { reason: result.reason } : {}), ...(result.revision !== undefined ? { revision: result.revision } : {}) } },
  });
  return result;
}

function* heal(context: df.OrchestrationContext, input: HealInput): Generator<df.Task, HealResult, unknown> {
  const step = (s: HealStatus['step'], extra: Partial<HealStatus> = {}) => context.df.setCustomStatus({ step: s, since: nowIso(context), ...extra } satisfies HealStatus);
  const instanceId = context.df.instanceId;
  step('waiting-for-lock');
  const slot = yield* acquireSlot(
    context,
    input.app,
    input.environment,
    { instanceId, runId: instanceId, requestedAt: input.requestedAt, kind: 'heal', policy: 'queue' },
    (wait) => step('waiting-for-lock', { holder: wait.holder }),
  );
  if (!slot.acquired) return { status: 'Skipped', reason: `superseded by ${slot.supersededBy}` };
  try {
    const gate = yield* call(context, 'checkEnvironmentGate', { app: input.app, environment: input.environment, kind: 'heal' });
    if (gate.state !== 'open') return { status: 'Skipped', reason: `not healed: ${gate.reason}` };
    const current = yield* call(context, 'currentDeployment', { app: input.app, environment: input.environment });
    if (!current || current.revision !== input.revision) {
      return { status: 'Skipped', reason: `the ledger moved on from revision ${input.revision}${current ? ` to ${current.revision}` : ''} since the drift was seen; nothing to heal` };
    }
    const loaded = yield* call(context, 'loadPipeline', { app: input.app, repoUrl: input.repoUrl, commit: current.commit, pipelinePath: input.pipelinePath });
    if (!loaded.ok) return { status: 'Failed', reason: `the pipeline file at revision ${current.revision}'s commit cannot be used: ${loaded.reason}` };
    const env = loaded.spec.environments.find((e) => e.name === input.environment);
    if (!env) return { status: 'Failed', reason: `the pipeline file at commit ${current.commit.slice(0, 12)} has no environment ${input.environment}` };
    const result = yield* deployVerifyRecord(
      context,
      {
        app: input.app,
        environment: input.environment,
        runId: instanceId,
        commit: current.commit,
        digest: current.digest,
        kind: 'heal',
        rolledBackTo: current.revision,
        target: env.target,
        checks: env.verify,
        requestedBy: { id: 'system', name: 'reconcile heal' },
        note: `heal of revision ${current.revision}: ${input.reason}`,
      },
      (s) => step(s),
    );
    step('done');
    if (result.outcome === 'succeeded') return { status: 'Succeeded', reason: `revision ${current.revision} redeployed as revision ${result.revision}`, revision: result.revision };
    return { status: 'Failed', reason: `heal ${result.outcome === 'deploy-failed' ? 'deployment' : 'verification'} failed: ${result.reason}`, ...(result.revision !== undefined ? { revision: result.revision } : {}) };
  } catch (err) {
    return { status: 'Errored', reason: errorMessage(err) };
  } finally {
    yield* releaseLock(context, input.app, input.environment, instanceId);
  }
}
