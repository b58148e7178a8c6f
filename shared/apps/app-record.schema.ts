/**
 * An application registered with Conveyor: which repository, which provider sends its
 * webhooks, which branches are tracked, the NAME of the setting holding its webhook secret
 * (never the secret itself) and where its pipeline file lives.
 */
import { PROVIDER_NAMES } from '../webhooks/webhook-provider.js';
import { z } from 'zod';
import type { AppPolicy, ApprovalPolicy, EnvironmentPolicy } from '../domain/policy.js';
import { parseRepoUrl } from '../git/repo-url.js';
import { DEFAULT_PIPELINE_PATH, safeName } from '../pipeline/pipeline-spec.schema.js';
import { deployWindowPolicySchema, type DeployWindowPolicy } from '../domain/windows.js';
import { feedbackConfigSchema } from '../feedback/feedback-config.schema.js';

/** Default pipeline file location in an application's repository. */
export { DEFAULT_PIPELINE_PATH };

/** Webhook providers Conveyor understands: the webhook registry's own list (one home). */
export const PROVIDERS = PROVIDER_NAMES;

/** A webhook provider. */
export type Provider = (typeof PROVIDERS)[number];

const repoUrl = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((value, ctx) => {
    try {
      const parsed = parseRepoUrl(value);
      if (parsed.password !== undefined || (parsed.username !== undefined && parsed.protocol !== 'ssh')) {
        ctx.addIssue({ code: 'custom', message: 'must not contain credentials; put the token in a setting' });
      }
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an https://, ssh://, git@host:path or file:// repository URL' });
    }
  });

/**
 * A tracked branch: a git branch name, optionally with `*` wildcards (`release/*`).
 * Mirrors `git check-ref-format` rules that matter: no spaces, `..`, `~^:?[\`, leading `-`
 * or `/`, trailing `/` or `.lock`.
 */
const branch = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (b) =>
      !/[\s~^:?[\\]/.test(b) &&
      ![...b].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) &&
      !b.includes('..') &&
      !b.includes('//') &&
      !b.includes('@{') &&
      !b.startsWith('-') &&
      !b.startsWith('/') &&
      !b.endsWith('/') &&
      !b.endsWith('.') &&
      !b.endsWith('.lock'),
    'must be a valid branch name (wildcards * allowed)',
  );

/**
 * Catches the likely mistake of pasting the secret instead of the setting name: known token
 * prefixes, or a long run of letters mixed with digits (setting names are words joined by `_`).
 */
export function looksLikeSecret(value: string): boolean {
  if (/^(whsec_|ghp_|gho_|ghs_|ghu_|github_pat_|glpat-|xox[bp]-)/i.test(value)) return true;
  return (value.match(/[A-Za-z0-9]{16,}/g) ?? []).some((run) => /[0-9]/.test(run) && /[A-Za-z]/.test(run));
}

/** App setting names: letters, digits and `_` (Azure app settings; `__` nests). */
export const SETTING_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const pipelinePath = z
  .string()
  .min(1)
  .max(512)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\'), 'must be a repository-relative path without ".."');

const approverEntry = z.string().regex(/^(group:[A-Za-z0-9._-]{1,64}|[^\s@]{1,64}@[^\s@]{1,255})$/, 'must be an e-mail address or group:<name>');

/** The approval an administrator requires for an environment (shared/domain/policy.ts). */
export const approvalPolicySchema = z
  .strictObject({
    approvers: z.array(approverEntry).min(1).max(100),
    minApprovals: z.number().int().min(1).default(1),
    allowSelfApproval: z.boolean().default(false),
  })
  .superRefine((v, ctx) => {
    if (v.minApprovals > v.approvers.length) ctx.addIssue({ code: 'custom', path: ['minApprovals'], message: `cannot need ${v.minApprovals} approvals from ${v.approvers.length} approver(s)` });
  }) satisfies z.ZodType<ApprovalPolicy, unknown>;

/**
 * Policy of one environment. An object so that later rules (deploy windows, ...) become new
 * optional fields; strict, because a misspelt rule must not silently be no rule.
 */
export const environmentPolicySchema = z.strictObject({
  approval: approvalPolicySchema.optional(),
  branches: z.array(branch).min(1).max(50).optional(),
  rollback: z.array(approverEntry).min(1).max(100).optional(),
  /**
   * Deploy windows: allow/deny windows as iCalendar recurrence rules in an IANA zone, whether
   * rollbacks may enter closed windows, and who may break the glass (shared/domain/windows.ts).
   */
  deployWindow: deployWindowPolicySchema.optional(),
}) satisfies z.ZodType<EnvironmentPolicy, unknown>;

/**
 * The policy with the windows of the old top-level `deployWindows` field (registrations made
 * before windows moved into `policy.environments.<env>.deployWindow`) folded in: each fills the
 * environment's `deployWindow` where the policy has none (the policy's own wins).
 */
export function foldDeployWindows(policy: AppPolicy | undefined, legacy: Record<string, DeployWindowPolicy> | undefined): AppPolicy | undefined {
  if (!legacy || Object.keys(legacy).length === 0) return policy;
  const environments: Record<string, EnvironmentPolicy> = { ...(policy?.environments ?? {}) };
  for (const [env, window] of Object.entries(legacy)) {
    if (!environments[env]?.deployWindow) environments[env] = { ...environments[env], deployWindow: window };
  }
  return { environments };
}

/** A stored record as written before the move: its `deployWindows` folded into `policy` (upgrade on read). */
function upgradeStoredRecord(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || !('deployWindows' in raw)) return raw;
  const { deployWindows, ...rest } = raw as Record<string, unknown> & { deployWindows?: unknown; policy?: unknown };
  const legacy = deployWindowsSchema.safeParse(deployWindows);
  const policy = appPolicySchema.optional().safeParse(rest.policy);
  // Unreadable old windows are left for the record schema to reject (a corrupt record).
  if (!legacy.success || !policy.success) return raw;
  const folded = foldDeployWindows(policy.data, legacy.data);
  return { ...rest, ...(folded ? { policy: folded } : {}) };
}

const deployWindowsSchema = z.record(safeName, deployWindowPolicySchema);

/** Environment policy of an app: what a push cannot weaken (docs/security.md). */
export const appPolicySchema = z.strictObject({
  environments: z.record(safeName, environmentPolicySchema),
}) satisfies z.ZodType<AppPolicy, unknown>;

/** What an administrator supplies to register an app. */
export const appInputSchema = z.strictObject({
  name: safeName,
  repoUrl,
  provider: z.enum(PROVIDERS),
  branches: z.array(branch).min(1).max(50),
  webhookSecretSetting: z
    .string()
    .regex(SETTING_NAME_PATTERN, 'must be the NAME of a setting (letters, digits, _), not the secret')
    .refine((v) => !looksLikeSecret(v), 'looks like a secret value; give the NAME of the setting that holds it'),
  pipelinePath: pipelinePath.default(DEFAULT_PIPELINE_PATH),
  policy: appPolicySchema.optional(),
  /**
   * Deprecated: deploy windows per environment, as registrations gave them before windows moved
   * into `policy.environments.<env>.deployWindow`. Still accepted; folded into the policy when
   * the app is stored (never stored as is).
   */
  deployWindows: deployWindowsSchema.optional(),
  /** Opt-in: report each run back to the Git host (commit statuses or deployments). See shared/feedback. */
  feedback: feedbackConfigSchema.optional(),
});

/** Input accepted by `AppRegistry.create` (pipelinePath optional). */
export type AppInput = z.input<typeof appInputSchema>;

/** A stored app record (a record stored before deploy windows moved into the policy is upgraded on read). */
export const appRecordSchema = z.preprocess(
  upgradeStoredRecord,
  appInputSchema.omit({ deployWindows: true }).extend({
    createdAt: z.string(),
    updatedAt: z.string(),
    createdBy: z.string().max(320).optional(),
  }),
);

/** A stored app record. */
export type AppRecord = z.output<typeof appRecordSchema>;

/** Fields `AppRegistry.update` may change (name is the identity and cannot). */
export const appChangesSchema = appInputSchema.omit({ name: true }).partial();

/** A partial update of an app. */
export type AppChanges = z.input<typeof appChangesSchema>;

/** True when `branch` (a plain name such as `main`) is tracked by `app` (exact or `*` pattern). */
export function tracksBranch(app: Pick<AppRecord, 'branches'>, branch: string): boolean {
  return app.branches.some((pattern) => {
    if (!pattern.includes('*')) return pattern === branch;
    const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    return re.test(branch);
  });
}
