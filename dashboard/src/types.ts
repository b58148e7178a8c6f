/** The shapes of the API answers the dashboard reads (docs/api.md); extra fields are ignored. */

export interface Identity {
  id: string;
  name?: string;
  groups: string[];
}

export interface HeadCommit {
  message: string;
  author: string;
}

export interface EnvironmentView {
  name: string;
  revision: number;
  commit: string;
  finishedAt: string;
  runId: string;
  status: string;
  kind: string;
  healthy: boolean;
  running: boolean;
  actual?: { revision?: number; commit?: string; state: string };
  headCommit?: HeadCommit;
  /** The active freeze, if any (a requested rollback sets one; so can a person). */
  freeze?: { kind: 'manual' | 'rollback'; by: { id: string; name?: string }; at: string; reason: string };
  /** Drift as the reconcile sweep last saw it. */
  sync?: { state: 'in-sync' | 'drifted' | 'unknown'; reason: string; since: string; checkedAt: string };
  /** On the app page: what the signed-in caller may do here (the API's rules). */
  may?: { rollback: boolean; freeze: boolean; unfreeze: boolean; why?: { rollback?: string; freeze?: string; unfreeze?: string } };
  /** In the overview: health as the records tell it (the sweep's last verdict, else the deployment's verification). */
  health?: { state: 'healthy' | 'unhealthy' | 'unknown'; reason: string; at: string; source: 'sweep' | 'verification' };
}

export interface RunEnvSummary {
  status: string;
  waitingSince?: string;
  approvers?: string[];
  required?: number;
}

export interface RunSummary {
  runId: string;
  status: string;
  commit: string;
  createdAt: string;
  pusher?: { id: string; name?: string };
  headCommit?: HeadCommit;
  environmentOrder?: string[];
  environments: Record<string, RunEnvSummary>;
}

export interface OverviewApp {
  name: string;
  provider: string;
  repoUrl: string;
  environments: EnvironmentView[];
  runs: RunSummary[];
}

export interface Overview {
  apps: OverviewApp[];
  /** Apps registered in all (the answer may be one page of them). */
  total: number;
}

export interface ApprovalDecision {
  decision: 'approve' | 'reject';
  by: string;
  name?: string;
  comment?: string;
  at: string;
}

export interface RunApproval {
  waitingSince?: string;
  until?: string;
  approvers?: string[];
  required?: number;
  decisions?: ApprovalDecision[];
  outcome?: string;
  allowSelfApproval?: boolean;
}

export interface VerificationTry {
  [field: string]: unknown;
}

export interface RunStage {
  status: string;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  logName?: string;
}

export interface RunEnvironment extends RunStage {
  revision?: number;
  rolledBackTo?: number;
  verification?: VerificationTry[];
  approval?: RunApproval;
}

export interface Run {
  app: string;
  runId: string;
  status: string;
  reason?: string;
  commit: string;
  branch?: string;
  pusher?: { id: string; name?: string };
  headCommit?: HeadCommit;
  digest?: string;
  stages: Record<string, RunStage>;
  environments: Record<string, RunEnvironment>;
  environmentOrder?: string[];
  createdAt: string;
  progress?: Record<string, { step?: string; [k: string]: unknown }>;
}

export interface LedgerRecord {
  revision: number;
  kind: 'deploy' | 'rollback';
  status: 'Succeeded' | 'Failed';
  commit: string;
  runId: string;
  rolledBackTo?: number;
  reason?: string;
  requestedBy?: { id: string; name?: string };
  startedAt: string;
  finishedAt: string;
}

export interface EnvironmentMetrics {
  environment: string;
  deployments: { attempted: number; succeeded: number; perDay: number; perWeek: number };
  leadTime: { count: number; p50Seconds: number | null; p90Seconds: number | null };
  changeFailureRate: { failures: number; deployments: number; rate: number | null };
  timeToRestore: { count: number; p50Seconds: number | null; p90Seconds: number | null; unrestored: number };
  reworkRate: { rework: number; records: number; rate: number | null };
  daily: { date: string; deployments: number; failures: number }[];
}

export interface Operation {
  status: string;
  reason?: string;
  revision?: number;
  rolledBackTo?: number;
}
