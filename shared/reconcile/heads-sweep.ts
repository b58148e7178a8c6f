/**
 * The heads half of the reconcile sweep: for every registered app, read the heads of its
 * tracked branches and start the run of any head commit that has none. This is how a push
 * whose webhook never arrived still gets deployed.
 *
 * - One head read per REPOSITORY (apps sharing a repository share the read), through the
 *   {@link HeadReader} port (production: one `git ls-remote --heads`, never a clone or fetch).
 * - At most `concurrency` repositories at a time, each under `timeoutMs`: a repository that
 *   hangs, refuses or rejects the credentials is reported on its apps and delays nobody else.
 * - A run's id is derived from app + commit by the launcher, so a webhook for the same commit
 *   arriving at the same moment starts nothing twice (the launcher reports `duplicate`).
 */
import { tracksBranch } from '../apps/app-record.schema.js';
import { normaliseRepoUrl, redactUrl } from '../git/repo-url.js';
import { mapBounded } from './pool.js';

/** What caused a run: a webhook, the reconcile poll, a drift heal, an API call. */
export type RunTrigger = 'webhook' | 'poll' | 'heal' | 'api';

/** The part of an app registration the sweep needs. */
export interface TrackedApp {
  name: string;
  repoUrl: string;
  /** Tracked branch names or `*` patterns. */
  branches: readonly string[];
  pipelinePath?: string;
}

/** Reads branch name -> commit of a repository; must stop when `signal` aborts. */
export type HeadReader = (repoUrl: string, signal: AbortSignal) => Promise<ReadonlyMap<string, string>>;

/** Starts runs (the pipeline orchestration) for commits. */
export interface RunLauncher {
  /** True when the app's commit already has a run (any state). */
  hasRun(app: string, commit: string): Promise<boolean>;
  /** Starts the run; `duplicate` when a concurrent starter (a webhook) won. */
  start(request: { app: TrackedApp; branch: string; commit: string; trigger: RunTrigger }): Promise<'started' | 'duplicate'>;
}

/** Options of {@link sweepHeads}. */
export interface HeadsSweepOptions {
  /** Repositories read at once. Default 8. */
  concurrency?: number;
  /** Per-repository deadline (read and starts). Default 20 s. */
  timeoutMs?: number;
}

/** What happened to one tracked head. */
export interface HeadOutcome {
  branch: string;
  commit: string;
  outcome: 'has-run' | 'started' | 'duplicate' | 'failed';
  reason?: string;
}

/** One app's part of a sweep. */
export interface AppHeadsReport {
  app: string;
  /** The repository, without credentials. */
  repository: string;
  ok: boolean;
  /** Why the heads could not be read (timeout, refused, credentials), redacted. */
  error?: string;
  heads: HeadOutcome[];
}

/** The whole heads sweep. */
export interface HeadsSweepReport {
  startedAt: string;
  finishedAt: string;
  /** Distinct repositories read. */
  repositories: number;
  /** Head reads made (one per repository). */
  headReads: number;
  /** Runs started by this sweep. */
  started: number;
  apps: AppHeadsReport[];
}

function repoKey(url: string): string {
  try {
    return normaliseRepoUrl(url);
  } catch {
    return url;
  }
}

function shown(url: string): string {
  try {
    return redactUrl(url);
  } catch {
    return '(unparseable repository URL)';
  }
}

/** Reads the tracked heads of every app and starts the runs that are missing. Never rejects. */
export async function sweepHeads(apps: readonly TrackedApp[], readHeads: HeadReader, launcher: RunLauncher, options: HeadsSweepOptions = {}): Promise<HeadsSweepReport> {
  const startedAt = new Date().toISOString();
  const groups = new Map<string, TrackedApp[]>();
  for (const app of apps) {
    const key = repoKey(app.repoUrl);
    const list = groups.get(key);
    if (list) list.push(app);
    else groups.set(key, [app]);
  }
  const entries = [...groups.values()];
  let headReads = 0;
  const outcomes = await mapBounded(entries, options.concurrency ?? 8, options.timeoutMs ?? 20_000, async (group, signal) => {
    headReads++;
    const heads = await readHeads(group[0]!.repoUrl, signal);
    const reports: AppHeadsReport[] = [];
    for (const app of group) {
      const report: AppHeadsReport = { app: app.name, repository: shown(app.repoUrl), ok: true, heads: [] };
      const tracked = [...heads].filter(([branch]) => tracksBranch({ branches: [...app.branches] }, branch)).sort(([a], [b]) => a.localeCompare(b));
      for (const [branch, commit] of tracked) {
        if (signal.aborted) break;
        try {
          if (await launcher.hasRun(app.name, commit)) {
            report.heads.push({ branch, commit, outcome: 'has-run' });
            continue;
          }
          const outcome = await launcher.start({ app, branch, commit, trigger: 'poll' });
          report.heads.push({ branch, commit, outcome });
        } catch (err) {
          report.heads.push({ branch, commit, outcome: 'failed', reason: err instanceof Error ? err.message : String(err) });
        }
      }
      reports.push(report);
    }
    return reports;
  });
  const reports: AppHeadsReport[] = [];
  outcomes.forEach((outcome, i) => {
    const group = entries[i]!;
    if (outcome.ok) reports.push(...outcome.value);
    else for (const app of group) reports.push({ app: app.name, repository: shown(app.repoUrl), ok: false, error: outcome.error, heads: [] });
  });
  reports.sort((a, b) => a.app.localeCompare(b.app));
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    repositories: entries.length,
    headReads,
    started: reports.reduce((n, r) => n + r.heads.filter((h) => h.outcome === 'started').length, 0),
    apps: reports,
  };
}
