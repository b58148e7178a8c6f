/**
 * Environment policy: what an administrator registered for an app's environments (approval,
 * allowed branches, who may roll back), and the one rule that combines it with what the
 * pipeline file at the pushed commit asks for. The repository proposes, the registration
 * disposes (ARCHITECTURE.md principle 10): the file may tighten the policy, never loosen it.
 *
 * Pure functions, so the loader, the HTTP API and tests apply exactly the same rule. Every
 * outcome comes with the decisions that produced it, in words, for the run record.
 *
 * The per-environment policy is an open object: further rules (deploy windows, ...) are added
 * as new optional fields of {@link EnvironmentPolicy} and new decisions, without changing these.
 */
import type { ApprovalSpec, PipelineSpec } from './pipeline.js';
import type { DeployWindowPolicy } from './windows.js';
import type { PolicyDecision } from './policy-decision.js';

// Re-exported for the modules that read policy decisions alongside the rules.
export type { PolicyDecision } from './policy-decision.js';

/** The approval an administrator requires for an environment. */
export interface ApprovalPolicy {
  /** Users (e-mail) or `group:<name>` allowed to approve. */
  approvers: string[];
  /** Distinct approvals needed. */
  minApprovals: number;
  /** Whether the pusher may approve their own change. */
  allowSelfApproval: boolean;
}

/** Policy of one environment, from the app registration. */
export interface EnvironmentPolicy {
  /** An approval gate the file cannot remove or weaken. */
  approval?: ApprovalPolicy;
  /** Branches (wildcard `*` within a path segment) allowed to deploy here. */
  branches?: string[];
  /** Who may roll this environment back, and unfreeze it (users or `group:<name>`); default: its approvers. */
  rollback?: string[];
  /** When deploys may enter (allow/deny windows), and who may break the glass (shared/domain/windows.ts). */
  deployWindow?: DeployWindowPolicy;
}

/** Policy of an app: per environment name. */
export interface AppPolicy {
  environments: Record<string, EnvironmentPolicy>;
}

/** The deploy-window policy of `environment` in an app's registration, if any. */
export function deployWindowOf(app: { policy?: AppPolicy } | undefined, environment: string): DeployWindowPolicy | undefined {
  return app?.policy?.environments[environment]?.deployWindow;
}

/** Every environment's deploy-window policy of an app (absent when none has one). */
export function deployWindowsOf(app: { policy?: AppPolicy } | undefined): Record<string, DeployWindowPolicy> | undefined {
  const found = Object.entries(app?.policy?.environments ?? {}).flatMap(([env, p]) => (p.deployWindow ? [[env, p.deployWindow] as const] : []));
  return found.length ? Object.fromEntries(found) : undefined;
}

/** The policy outcome for one environment of one run. */
export interface EnvironmentGate {
  /** The approval to wait for (undefined: none). */
  approval?: ApprovalSpec;
  /** Set when the environment must not be deployed by this run at all (e.g. its branch is not allowed). */
  refusal?: string;
  /** Every rule that applied, in order. */
  decisions: PolicyDecision[];
}

/** Default approval timeout when only the policy asks for an approval (the file's own applies otherwise). */
export const POLICY_APPROVAL_TIMEOUT_MS = 24 * 3_600_000;

/** True when `branch` matches `pattern` (exact, or `*` matching within one path segment). */
export function branchMatches(pattern: string, branch: string): boolean {
  if (!pattern.includes('*')) return pattern === branch;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
  return re.test(branch);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const norm = (l: readonly string[]) => [...new Set(l.map((x) => x.toLowerCase()))].sort().join('\n');
  return norm(a) === norm(b);
}

/** Whether `who` is on `list` (by id, or through a `group:<name>` entry). */
export function isListed(list: readonly string[], who: { id: string; groups: readonly string[] }): boolean {
  const id = who.id.toLowerCase();
  return list.some((entry) =>
    entry.startsWith('group:') ? who.groups.some((g) => g.toLowerCase() === entry.slice('group:'.length).toLowerCase()) : entry.toLowerCase() === id,
  );
}

/**
 * The gate of one environment for one run.
 *
 * - `policy.branches`: a run from another branch is refused for this environment.
 * - `policy.approval`: an approval is required whatever the file says; only the policy's
 *   approvers count; the file may add a narrower list (approvers must then be on both), more
 *   approvals (the larger number wins) and forbid self-approval (allowed only if both allow it).
 * - no policy approval, but `previousApprovers` (the approvers of the environment's current
 *   deployment) and a file whose list differs: a commit may not approve itself with a list it
 *   changed, so approvers must be on the previous list as well.
 */
export function environmentGate(input: {
  environment: string;
  branch: string | undefined;
  policy: EnvironmentPolicy | undefined;
  file: ApprovalSpec | undefined;
  previousApprovers?: readonly string[];
}): EnvironmentGate {
  const { environment, policy, file } = input;
  const decisions: PolicyDecision[] = [];
  if (policy?.branches && policy.branches.length > 0) {
    const branch = input.branch ?? '';
    if (!policy.branches.some((p) => branchMatches(p, branch))) {
      const refusal = `branch ${JSON.stringify(branch)} may not deploy to ${environment} (the app's policy allows ${policy.branches.join(', ')})`;
      return { refusal, decisions: [{ rule: 'branches.refused', why: refusal }] };
    }
    decisions.push({ rule: 'branches.allowed', why: `branch ${JSON.stringify(branch)} is allowed to deploy to ${environment} by the app's policy` });
  }

  const required = policy?.approval;
  if (required) {
    const approval: ApprovalSpec = {
      approvers: required.approvers,
      required: Math.max(required.minApprovals, file?.required ?? 0),
      timeoutMs: file?.timeoutMs ?? POLICY_APPROVAL_TIMEOUT_MS,
      allowSelfApproval: required.allowSelfApproval && (file ? file.allowSelfApproval : true),
    };
    if (!file) {
      decisions.push({ rule: 'approval.required-by-policy', why: `the pipeline file asks for no approval of ${environment}; the app's policy requires ${required.minApprovals} from ${required.approvers.join(', ')}` });
      return { approval, decisions };
    }
    decisions.push({ rule: 'approval.policy-approvers', why: `only the policy's approvers (${required.approvers.join(', ')}) may approve ${environment}, whatever the pipeline file lists` });
    if (!sameList(file.approvers, required.approvers)) {
      approval.alsoApprovers = file.approvers;
      decisions.push({ rule: 'approval.narrowed-by-file', why: `the pipeline file lists ${file.approvers.join(', ')}: an approver must be on both lists` });
    }
    if (file.required < required.minApprovals) {
      decisions.push({ rule: 'approval.minimum-from-policy', why: `the pipeline file asks for ${file.required} approval(s); the policy's minimum of ${required.minApprovals} applies` });
    } else if (file.required > required.minApprovals) {
      decisions.push({ rule: 'approval.minimum-from-file', why: `the pipeline file asks for ${file.required} approvals, more than the policy's ${required.minApprovals}` });
    }
    if (file.allowSelfApproval && !required.allowSelfApproval) {
      decisions.push({ rule: 'approval.self-approval-forbidden', why: 'the pipeline file allows self-approval; the policy does not' });
    }
    return { approval, decisions };
  }

  if (!file) return { decisions };
  const previous = input.previousApprovers;
  if (previous && previous.length > 0 && !sameList(previous, file.approvers)) {
    decisions.push({
      rule: 'approval.changed-list-not-self-approving',
      why: `this commit changes ${environment}'s approvers from ${previous.join(', ')} to ${file.approvers.join(', ')}: an approver must be on the list deployed before as well`,
    });
    return { approval: { ...file, alsoApprovers: [...previous] }, decisions };
  }
  return { approval: file, decisions };
}

/**
 * Why `who` may not roll `environment` back, or undefined when they may. Rights come from the
 * policy (`rollback`, else its approvers), else from the approvers of the environment's current
 * deployment; where no approval is configured anywhere, any identified caller may.
 */
export function rollbackRefusal(input: {
  environment: string;
  policy: EnvironmentPolicy | undefined;
  currentApprovers: readonly string[] | undefined;
  who: { id: string; groups: readonly string[] };
}): string | undefined {
  const { policy, environment, who } = input;
  const [list, source] = policy?.rollback && policy.rollback.length > 0
    ? [policy.rollback, "the app's policy (rollback)"]
    : policy?.approval
      ? [policy.approval.approvers, "the app's policy (the environment's approvers)"]
      : input.currentApprovers && input.currentApprovers.length > 0
        ? [input.currentApprovers, "the approvers of the environment's current deployment"]
        : [undefined, ''];
  if (!list) return undefined;
  if (isListed(list, who)) return undefined;
  return `${who.id} may not roll ${environment} back: ${source} allows ${list.join(', ')}`;
}

/**
 * The spec with every environment's gate applied: `approval` becomes the effective one, and
 * `policy` records the decisions (and a refusal, if this run may not deploy there). Files with
 * no policy and nothing changed come back with only the file's own approvals.
 */
export function applyEnvironmentPolicy(
  spec: PipelineSpec,
  input: { policy: AppPolicy | undefined; branch: string | undefined; previousApprovers: Readonly<Record<string, readonly string[]>> },
): PipelineSpec {
  return {
    ...spec,
    environments: spec.environments.map((env) => {
      const gate = environmentGate({
        environment: env.name,
        branch: input.branch,
        policy: input.policy?.environments[env.name],
        file: env.approval,
        previousApprovers: input.previousApprovers[env.name],
      });
      const { approval: _fileApproval, ...rest } = env;
      return {
        ...rest,
        ...(gate.approval ? { approval: gate.approval } : {}),
        ...(gate.decisions.length > 0 || gate.refusal ? { policy: { decisions: gate.decisions, ...(gate.refusal ? { refusal: gate.refusal } : {}) } } : {}),
      };
    }),
  };
}
