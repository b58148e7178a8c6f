/**
 * The one module that registers Conveyor's functions with the Functions host
 * (`package.json` main). Every trigger lives behind a thin adapter in functions/; the
 * orchestrators live in orchestrations/ and the activities' logic in shared/.
 *
 * How to add something (small, additive edits: everyone registers here):
 * - An activity: declare its name, input and output in shared/contracts/activities.ts and its
 *   input schema in shared/contracts/activity-inputs.schema.ts (parsed before it runs), write
 *   `functions/activities/<verb-object>.activity.ts` exporting a factory that takes the
 *   collaborators it needs (`Pick<Services, ...>`, see functions/composition-root.ts) and
 *   returns the handler, and add `name: bind(factory)` to `activities` below. Orchestrators call
 *   it with `yield* call(context, 'name', input)` (orchestrations/activity-call.ts).
 * - An HTTP function: the same factory shape, registered with `app.http(..., handler: bind(factory))`.
 * - A new collaborator (a client, a store): a field of `Services`, built in `createServices`.
 * - A new setting: an entry in shared/config/settings.ts (and the README table), read from `Settings`.
 * - Ids and names: shared/domain/ids.ts. Event names and orchestration contracts:
 *   shared/contracts/orchestrations.ts.
 * Handlers that need no collaborators (health, openapi, getOperation, verifyEnvironment,
 * notifySuperseded) are registered as they are.
 */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { pipelineOrchestrator } from '../orchestrations/pipeline.orchestrator.js';
import { promotionOrchestrator } from '../orchestrations/promotion.orchestrator.js';
import { rollbackOrchestrator } from '../orchestrations/rollback.orchestrator.js';
import { lockWaiterOrchestrator } from '../orchestrations/environment-lock.js';
import type { ActivityContracts, ActivityName } from '../shared/contracts/activities.js';
import { buildArtifact } from './activities/build-artifact.activity.js';
import { readImageBuild, startImageBuild } from './activities/image-build.activity.js';
import { deployArtifact } from './activities/deploy-artifact.activity.js';
import { findRollbackTarget } from './activities/find-rollback-target.activity.js';
import { loadPipeline } from './activities/load-pipeline.activity.js';
import { recordDeployment } from './activities/record-deployment.activity.js';
import { recordRun } from './activities/record-run.activity.js';
import { runTests } from './activities/run-tests.activity.js';
import { verifyEnvironment } from './activities/verify-environment.activity.js';
import { notifySuperseded } from './activities/notify-superseded.activity.js';
import { wakeLockParty } from './activities/wake-lock-party.activity.js';
import { currentDeployment } from './activities/current-deployment.activity.js';
import { healOrchestrator } from '../orchestrations/heal.orchestrator.js';
import { reconcile } from './reconcile.function.js';
import { reconcileSchedule } from '../shared/config/settings.js';
import { checkEnvironmentGate, freezeAfterRollback } from './activities/environment-gate.activity.js';
import { readRollout } from './activities/read-rollout.activity.js';
import { bind } from './composition-root.js';
import { withValidInput } from './activities/valid-input.js';
import { environmentLockEntity } from './entities/environment-lock.entity.js';
import { deleteApp, getApp, listApps, putApp } from './http/apps.function.js';
import { getRun } from './http/runs.function.js';
import { decideApproval } from './http/approval.function.js';
import { breakGlassRollback, getOperation, requestRollback } from './http/rollback.function.js';
import { freezeEnvironment, unfreezeEnvironment } from './http/freeze.function.js';
import { breakGlass } from './http/break-glass.function.js';
import { getHistory, getLog, listRuns } from './http/read.function.js';
import { getOpenApi } from './http/openapi.function.js';
import { getMetrics } from './http/metrics.function.js';
import { getMe, getOverview, serveDashboard } from './http/dashboard.function.js';
import { withEtag } from './http/etag.js';
import { receiveWebhook } from './http/webhook.function.js';
import { getPublicKey } from './http/public-key.function.js';
import { APPROVALS_QUEUE, receiveApprovalMessage } from './events/approval-queue.function.js';
import { flushEvents } from './events/flush-events.function.js';
import { FEEDBACK_SUBSCRIPTION, reportToGitHost } from './events/git-feedback.function.js';
import { SETTLED_BY_FUNCTION } from './events/service-bus-sdk.js';
import { eventsTopic } from '../shared/config/settings.js';

// Activities: the map is typed by the contract module, so a missing or mistyped activity is a
// compile error rather than a run that waits forever.
const activities: { [K in ActivityName]: (input: ActivityContracts[K]['input'], context: InvocationContext) => Promise<ActivityContracts[K]['output']> } = {
  loadPipeline: bind(loadPipeline),
  startImageBuild: bind(startImageBuild),
  readImageBuild: bind(readImageBuild),
  buildArtifact: bind(buildArtifact),
  runTests: bind(runTests),
  deployArtifact: bind(deployArtifact),
  readRollout: bind(readRollout),
  verifyEnvironment,
  recordDeployment: bind(recordDeployment),
  findRollbackTarget: bind(findRollbackTarget),
  recordRun: bind(recordRun),
  notifySuperseded,
  wakeLockParty,
  checkEnvironmentGate: bind(checkEnvironmentGate),
  freezeAfterRollback: bind(freezeAfterRollback),
  currentDeployment: bind(currentDeployment),
};
const durableClient = df.input.durableClient();
// Each activity's input is parsed against its schema where it enters (withValidInput).
for (const name of Object.keys(activities) as ActivityName[]) {
  df.app.activity(name, { extraInputs: [durableClient], handler: withValidInput(name, activities[name] as (input: unknown, context: InvocationContext) => Promise<never>) });
}

df.app.orchestration('pipeline', pipelineOrchestrator);
df.app.orchestration('promotion', promotionOrchestrator);
df.app.orchestration('rollback', rollbackOrchestrator);
df.app.orchestration('heal', healOrchestrator);
df.app.orchestration('environmentLockWaiter', lockWaiterOrchestrator);
df.app.entity('environmentLock', environmentLockEntity);


// The reconcile loop (missed pushes, drift, heals); `CONVEYOR_RECONCILE_SCHEDULE=off` turns it off.
const reconcileEvery = reconcileSchedule();
if (reconcileEvery) app.timer('reconcile', { schedule: reconcileEvery, extraInputs: [durableClient], handler: bind(reconcile) });

app.http('health', {
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async () => ({ status: 200, jsonBody: { status: 'ok', service: 'conveyor' } }),
});

app.http('webhook', {
  route: 'webhooks/{provider}',
  methods: ['POST'],
  authLevel: 'anonymous',
  extraInputs: [durableClient],
  handler: bind(receiveWebhook),
});

app.http('listApps', { route: 'apps', methods: ['GET'], authLevel: 'function', handler: bind(listApps) });
app.http('getApp', { route: 'apps/{app}', methods: ['GET'], authLevel: 'function', handler: bind(getApp) });
app.http('putApp', { route: 'apps/{app}', methods: ['PUT'], authLevel: 'admin', handler: bind(putApp) });
app.http('deleteApp', { route: 'apps/{app}', methods: ['DELETE'], authLevel: 'admin', handler: bind(deleteApp) });
app.http('getRun', { route: 'runs/{runId}', methods: ['GET'], authLevel: 'function', extraInputs: [durableClient], handler: withEtag(bind(getRun)) });
app.http('listRuns', { route: 'apps/{app}/runs', methods: ['GET'], authLevel: 'function', handler: withEtag(bind(listRuns)) });
app.http('getHistory', { route: 'apps/{app}/environments/{env}/history', methods: ['GET'], authLevel: 'function', handler: withEtag(bind(getHistory)) });
app.http('requestRollback', { route: 'apps/{app}/environments/{env}/rollback', methods: ['POST'], authLevel: 'function', extraInputs: [durableClient], handler: bind(requestRollback) });
app.http('breakGlass', { route: 'runs/{runId}/environments/{env}/break-glass', methods: ['POST'], authLevel: 'function', extraInputs: [durableClient], handler: bind(breakGlass) });
app.http('freezeEnvironment', { route: 'apps/{app}/environments/{env}/freeze', methods: ['POST'], authLevel: 'function', handler: bind(freezeEnvironment) });
app.http('unfreezeEnvironment', { route: 'apps/{app}/environments/{env}/unfreeze', methods: ['POST'], authLevel: 'function', extraInputs: [durableClient], handler: bind(unfreezeEnvironment) });
app.http('getOperation', { route: 'operations/{operationId}', methods: ['GET'], authLevel: 'function', extraInputs: [durableClient], handler: getOperation });
app.http('rollbackBreakGlass', { route: 'operations/{operationId}/break-glass', methods: ['POST'], authLevel: 'function', extraInputs: [durableClient], handler: bind(breakGlassRollback) });
app.http('decideApproval', { route: 'runs/{runId}/environments/{env}/approval', methods: ['POST'], authLevel: 'function', extraInputs: [durableClient], handler: bind(decideApproval) });
app.http('getLog', { route: 'runs/{runId}/logs/{step}', methods: ['GET'], authLevel: 'function', handler: bind(getLog) });
app.http('getMetrics', { route: 'apps/{app}/metrics', methods: ['GET'], authLevel: 'function', handler: withEtag(bind(getMetrics)) });
app.http('dashboard', { route: 'dashboard/{*path}', methods: ['GET'], authLevel: 'anonymous', handler: serveDashboard() });
app.http('getMe', { route: 'me', methods: ['GET'], authLevel: 'function', handler: bind(getMe) });
app.http('getOverview', { route: 'overview', methods: ['GET'], authLevel: 'function', handler: withEtag(bind(getOverview)) });
app.http('getPublicKey', { route: 'public-key', methods: ['GET'], authLevel: 'function', handler: bind(getPublicKey) });
app.http('openApi', { route: 'openapi.json', methods: ['GET'], authLevel: 'function', handler: getOpenApi });

// Events out (docs/events.md): the outbox is flushed by a timer when the topic was unreachable.
app.timer('flushEvents', { schedule: '0 */1 * * * *', handler: bind(flushEvents) });
// Approval decisions in, from the Service Bus queue (connection: CONVEYOR_SERVICEBUS). Both
// Service Bus triggers get the SDK message and settle it themselves (dead-letter with a reason).
app.serviceBusQueue('approvalQueue', { connection: 'CONVEYOR_SERVICEBUS', queueName: APPROVALS_QUEUE, ...SETTLED_BY_FUNCTION, extraInputs: [durableClient], handler: bind(receiveApprovalMessage) });
// Git host feedback: a subscriber of the events topic (docs/events.md, "Git host feedback").
app.serviceBusTopic('gitFeedback', { connection: 'CONVEYOR_SERVICEBUS', topicName: eventsTopic(), subscriptionName: FEEDBACK_SUBSCRIPTION, ...SETTLED_BY_FUNCTION, handler: bind(reportToGitHost) });
