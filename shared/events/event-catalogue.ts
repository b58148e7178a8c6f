/**
 * The catalogue of events Conveyor publishes: every CloudEvents `type`, when it is sent, its
 * `source` / `subject` shape and the zod schema of its `data`. The same schemas build and
 * validate each event (cloud-event.ts) and generate docs/events.md (events-doc.ts), so the
 * documentation cannot drift from what is sent.
 */
import { z } from 'zod';
import { STATUSES } from '../domain/status.js';

const status = z.enum(STATUSES);

/** `data` of run events. */
export const runEventData = z.object({
  app: z.string(),
  runId: z.string(),
  status,
  commit: z.string().optional().describe('full commit id, when the change carries it'),
  branch: z.string().optional(),
  reason: z.string().optional().describe('why the run ended the way it did (Failed, Errored, Aborted, Superseded)'),
  trigger: z.enum(['webhook', 'poll', 'heal', 'api']).optional().describe('what started the run, when the change carries it (heal: a drift heal of the reconcile sweep)'),
});

/** `data` of environment events (one environment of one run). */
export const environmentEventData = z.object({
  app: z.string(),
  environment: z.string(),
  runId: z.string(),
  status,
  reason: z.string().optional(),
  revision: z.number().int().optional().describe('ledger revision recorded for this deployment'),
  rolledBackTo: z.number().int().optional().describe('revision an automatic rollback redeployed'),
  trigger: z.enum(['webhook', 'poll', 'heal', 'api']).optional().describe('what started the run, when the change carries it (heal: a drift heal of the reconcile sweep)'),
});

/** `data` of approval events. */
export const approvalEventData = z.object({
  app: z.string(),
  environment: z.string(),
  runId: z.string(),
  approvers: z.array(z.string()),
  required: z.number().int(),
  until: z.string().describe('when the gate times out (ISO 8601)'),
  decisions: z.array(z.object({ decision: z.enum(['approve', 'reject']), by: z.string(), at: z.string(), comment: z.string().optional() })),
  outcome: z.enum(['approved', 'rejected', 'timed-out', 'superseded']).optional(),
});

/** `data` of deployment and rollback events (a ledger record was written). */
export const deploymentEventData = z.object({
  app: z.string(),
  environment: z.string(),
  runId: z.string(),
  revision: z.number().int(),
  kind: z.enum(['deploy', 'rollback', 'heal']).describe('heal: the reconcile sweep redeployed the recorded revision after drift'),
  status: z.enum(['Succeeded', 'Failed']),
  commit: z.string(),
  digest: z.string().describe('artifact digest, sha256:<hex>'),
  rolledBackTo: z.number().int().optional().describe('for rollbacks: the revision whose artifact was redeployed'),
  reason: z.string().optional(),
  requestedBy: z.object({ id: z.string().describe('e-mail or user name, or system'), name: z.string().optional() }).describe('who asked: a pusher, a rollback requester, or system'),
});

/** `data` of a refused approval message (the approvals queue). */
export const approvalRefusedData = z.object({
  messageId: z.string(),
  runId: z.string().optional(),
  environment: z.string().optional(),
  by: z.string().optional().describe('the verified identity, when the credential was valid'),
  reason: z.string(),
});

/** `data` of a change of an environment's sync state (the reconcile sweep, docs/reconcile.md). */
export const syncChangedData = z.object({
  app: z.string(),
  environment: z.string(),
  from: z.enum(['in-sync', 'drifted', 'unknown']).optional().describe('absent the first time the environment is seen'),
  to: z.enum(['in-sync', 'drifted', 'unknown']),
  reason: z.string(),
  at: z.string().describe('when the sweep saw it (ISO 8601)'),
});

/** Who did something: an id (e-mail or user name, or `system`) and the display name when known. */
const actorData = z.object({ id: z.string().describe('e-mail or user name, or system'), name: z.string().optional() });

/** `data` of a freeze or unfreeze of an environment. */
export const freezeEventData = z.object({
  app: z.string(),
  environment: z.string(),
  kind: z.enum(['manual', 'rollback']).describe('manual: through the API; rollback: set by a rollback that asked to freeze'),
  by: actorData.describe('who froze (for unfreeze: who lifted the freeze)'),
  at: z.string().describe('when (ISO 8601)'),
  reason: z.string(),
  frozenBy: actorData.optional().describe('for unfreeze: who had frozen the environment'),
});

/** `data` of a quarantine change: a digest quarantined in an environment, or a quarantine that refused a deployment. */
export const quarantineEventData = z.object({
  app: z.string(),
  environment: z.string(),
  digest: z.string().describe('the quarantined artifact digest, sha256:<hex>'),
  revision: z.number().int().describe('the revision that was rolled back'),
  commit: z.string(),
  by: actorData.describe('who rolled it back (system for an automatic rollback)'),
  at: z.string().describe('when it was quarantined (ISO 8601)'),
  reason: z.string(),
  refused: z.enum(['promotion', 'rollback', 'heal']).optional().describe('for quarantine.enforced: the kind of deployment it refused'),
});

/** One entry of the catalogue. */
export interface EventDefinition {
  type: string;
  when: string;
  source: string;
  subject: string;
  data: z.ZodType;
}

const runSource = '/apps/{app}';
const envSource = '/apps/{app}/environments/{environment}';

/** Every event type, in the order docs/events.md lists them. */
export const EVENT_CATALOGUE: readonly EventDefinition[] = [
  { type: 'dev.conveyor.run.running', when: 'a run starts working (build begins)', source: runSource, subject: 'runs/{runId}', data: runEventData },
  { type: 'dev.conveyor.run.succeeded', when: 'every environment of the run was deployed and verified', source: runSource, subject: 'runs/{runId}', data: runEventData },
  { type: 'dev.conveyor.run.failed', when: 'a verdict stopped the run: build or tests broke, verification failed, an approval was rejected or timed out', source: runSource, subject: 'runs/{runId}', data: runEventData },
  { type: 'dev.conveyor.run.errored', when: 'a technical fault stopped the run', source: runSource, subject: 'runs/{runId}', data: runEventData },
  { type: 'dev.conveyor.run.aborted', when: 'the run was aborted', source: runSource, subject: 'runs/{runId}', data: runEventData },
  { type: 'dev.conveyor.run.superseded', when: 'a newer push of the branch replaced the run', source: runSource, subject: 'runs/{runId}', data: runEventData },
  { type: 'dev.conveyor.environment.promoting', when: 'a run starts promoting to an environment (it may first wait for the environment\'s lock or an approval)', source: envSource, subject: 'runs/{runId}', data: environmentEventData },
  { type: 'dev.conveyor.environment.deployed', when: 'the environment runs the new revision and it passed verification', source: envSource, subject: 'runs/{runId}', data: environmentEventData },
  { type: 'dev.conveyor.environment.failed', when: 'deploying or verifying the environment failed (an automatic rollback follows when possible)', source: envSource, subject: 'runs/{runId}', data: environmentEventData },
  { type: 'dev.conveyor.environment.errored', when: 'a technical fault stopped the environment', source: envSource, subject: 'runs/{runId}', data: environmentEventData },
  { type: 'dev.conveyor.environment.aborted', when: 'the environment was not deployed because the run was aborted', source: envSource, subject: 'runs/{runId}', data: environmentEventData },
  { type: 'dev.conveyor.environment.superseded', when: 'a newer run took over before this environment was deployed', source: envSource, subject: 'runs/{runId}', data: environmentEventData },
  { type: 'dev.conveyor.environment.skipped', when: 'the environment was skipped (an earlier one failed, or its gate did not open)', source: envSource, subject: 'runs/{runId}', data: environmentEventData },
  { type: 'dev.conveyor.approval.requested', when: 'a promotion waits for approval', source: envSource, subject: 'runs/{runId}', data: approvalEventData },
  { type: 'dev.conveyor.approval.decided', when: 'the approval gate closed: approved, rejected, timed out or superseded (`data.outcome`)', source: envSource, subject: 'runs/{runId}', data: approvalEventData },
  { type: 'dev.conveyor.deployment.succeeded', when: 'a deployment was recorded in the ledger as good', source: envSource, subject: 'revisions/{revision}', data: deploymentEventData },
  { type: 'dev.conveyor.deployment.failed', when: 'a deployment was recorded as failed (and marked bad)', source: envSource, subject: 'revisions/{revision}', data: deploymentEventData },
  { type: 'dev.conveyor.rollback.succeeded', when: 'a rollback (automatic or requested) redeployed a known-good revision', source: envSource, subject: 'revisions/{revision}', data: deploymentEventData },
  { type: 'dev.conveyor.rollback.failed', when: 'a rollback was recorded as failed', source: envSource, subject: 'revisions/{revision}', data: deploymentEventData },
  { type: 'dev.conveyor.environment.sync-changed', when: 'the reconcile sweep saw an environment go in sync, drift (it does not run what the ledger says) or become unknown', source: envSource, subject: 'sync/{at}', data: syncChangedData },
  { type: 'dev.conveyor.environment.frozen', when: 'an environment was frozen (through the API, or by a rollback that asked to freeze); promotions and heals wait until it is lifted', source: envSource, subject: 'freeze/{at}', data: freezeEventData },
  { type: 'dev.conveyor.environment.unfrozen', when: 'the freeze of an environment was lifted', source: envSource, subject: 'freeze/{at}', data: freezeEventData },
  { type: 'dev.conveyor.quarantine.added', when: 'a rolled-back digest was quarantined in an environment (later runs carrying it are refused there)', source: envSource, subject: 'quarantine/{digest}', data: quarantineEventData },
  { type: 'dev.conveyor.quarantine.enforced', when: 'a deployment carrying a quarantined digest was refused in that environment', source: envSource, subject: 'quarantine/{digest}', data: quarantineEventData },
  { type: 'dev.conveyor.approval.refused', when: 'a message on the approvals queue could not be applied (bad credential, not an approver, not waiting, malformed)', source: '/approvals', subject: 'messages/{messageId}', data: approvalRefusedData },
];

/** The definition of an event type (undefined for types not in the catalogue). */
export function eventDefinition(type: string): EventDefinition | undefined {
  return EVENT_CATALOGUE.find((e) => e.type === type);
}
