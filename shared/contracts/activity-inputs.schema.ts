/**
 * Schemas of every activity's input, parsed where the input enters (functions/index.ts wraps
 * each registered activity): an input that does not match its contract is refused before the
 * activity touches anything. The `satisfies` clause ties each schema to its contract type in
 * ./activities.ts, so a field added to a contract without its schema is a compile error.
 *
 * Enumerations come from the domain's own lists (`DEPLOYMENT_KINDS`, `STATUSES`) so a value added
 * there is accepted here too; a hand-written enum here would refuse it at run time.
 *
 * Objects are loose (unknown fields pass through unchanged) so a newer orchestrator's extra field
 * reaches the activity as sent. Pipeline spec objects (build, test, target, checks) are checked
 * with the schemas the pipeline file's own schema ends in (shared/pipeline/pipeline-spec.schema.ts):
 * the same rules the loaded file passed, so a spec altered or hand-made on the way is refused
 * naming the field (`build.timeoutMs: ...`).
 */
import { z } from 'zod';
import { DEPLOYMENT_KINDS, upgradeStoredNames } from '../domain/deployment.js';
import { upgradeStoredActor } from '../domain/run.js';
import { NAME_PATTERN } from '../domain/ids.js';
import { buildStepSpec, commandStepSpec, targetSpec, verifySpec } from '../pipeline/pipeline-spec.schema.js';
import { acrImageBuildSpec } from '../targets/kubernetes/kubernetes-spec.schema.js';
import type { RunPatch } from '../domain/run.js';
import { STATUSES } from '../domain/status.js';
import type { ActivityInput, ActivityName } from './activities.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const name = z.string().regex(NAME_PATTERN, 'must be an app or environment name');
const text = z.string().min(1);
const iso = z.string().min(1);
const revision = z.number().int().positive();
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');
const actor = z.looseObject({ id: text, name: z.string().optional() });
const command = commandStepSpec;
const buildStep = buildStepSpec;
const target = targetSpec;
const check = verifySpec;
const imageBuild = acrImageBuildSpec;
const patch = z.custom<RunPatch>((v) => isObject(v) && (v.status === undefined || (STATUSES as readonly unknown[]).includes(v.status)), 'must be a run patch with a known status');
const subject = z.looseObject({ app: name, runId: text, requestedAt: iso, repoUrl: text, commit: text, branch: z.string().optional(), pusher: actor });
const attempt = z.looseObject({ check: z.number().int(), attempt: z.number().int(), ok: z.boolean(), at: iso, durationMs: z.number(), status: z.number().optional(), reason: z.string().optional() });

/** Input schema of every activity, by name. */
export const activityInputSchemas = {
  loadPipeline: z.looseObject({ app: name, repoUrl: text, commit: text, pipelinePath: text }),
  startImageBuild: z.looseObject({ subject, image: imageBuild }),
  readImageBuild: z.looseObject({ subject, image: imageBuild, buildRunId: text, logOffset: z.number().int().nonnegative() }),
  buildArtifact: z.looseObject({ subject, build: buildStep, keepWorkspace: z.boolean(), imageDigest: digest.optional() }),
  runTests: z.looseObject({ subject, build: buildStep, test: command }),
  // Inputs scheduled before the vocabulary was unified (kept in a durable history across an
  // upgrade) may say `rollbackOf`: renamed, not dropped.
  deployArtifact: z.preprocess(
    upgradeStoredNames,
    z.looseObject({ app: name, environment: name, runId: text, commit: text, digest, kind: z.enum(DEPLOYMENT_KINDS), rolledBackTo: revision.optional(), target }),
  ),
  readRollout: z.looseObject({ app: name, environment: name, target, revision }),
  verifyEnvironment: z.looseObject({ baseUrl: text, check, checkIndex: z.number().int().nonnegative(), attempt: z.number().int().positive() }),
  // As deployArtifact: `rollbackOf` in an input scheduled before the rename is read as `rolledBackTo`.
  recordDeployment: z.preprocess(
    upgradeStoredNames,
    z.looseObject({
      app: name,
      environment: name,
      runId: text,
      commit: text,
      digest,
      kind: z.enum(DEPLOYMENT_KINDS),
      rolledBackTo: revision.optional(),
      requestedBy: actor,
      revision,
      status: z.enum(['Succeeded', 'Failed']),
      reason: z.string().optional(),
      verification: z.array(attempt),
      targetDetails: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
      startedAt: iso,
      finishedAt: iso,
    }),
  ),
  findRollbackTarget: z.looseObject({ app: name, environment: name, toRevision: revision.optional(), force: z.boolean().optional() }),
  notifySuperseded: z.looseObject({ instanceId: text, by: text }),
  checkEnvironmentGate: z.looseObject({
    app: name,
    environment: name,
    kind: z.enum(['promotion', 'rollback', 'heal']),
    digest: z.string().optional(),
    now: iso.optional(),
    breakGlass: z.looseObject({ by: text, name: z.string().optional(), groups: z.array(z.string()), reason: text, at: iso }).optional(),
    force: z.boolean().optional(),
  }),
  freezeAfterRollback: z.looseObject({
    app: name,
    environment: name,
    // Scheduled before actors were whole (still in a history): the id string, upgraded here.
    by: z.preprocess(upgradeStoredActor, actor),
    reason: z.string(),
    freeze: z.boolean(),
    quarantine: z.union([z.literal('current'), z.looseObject({ revision, commit: text, digest: text })]).optional(),
    keepDigest: z.string().optional(),
  }),
  currentDeployment: z.looseObject({ app: name, environment: name }),
  wakeLockParty: z.looseObject({ instanceId: text, event: z.enum(['granted', 'superseded']).optional(), what: z.enum(['turn', 'slot']).optional(), by: z.string().optional(), raiseOn: text.optional() }),
  recordRun: z.looseObject({ app: name, runId: text, patch }),
} satisfies { [K in ActivityName]: z.ZodType<ActivityInput<K>> };

