/**
 * DORA metrics from real events: the deployment ledger of one environment (every deployment and
 * rollback, in revision order) and, for lead time, when the run that made the change started.
 * Pure: no I/O, no clock; every instant comes in as an argument. Definitions (and how they
 * compare with the DORA report's and the Four Keys project's) are in docs/metrics.md.
 */
import type { DeploymentKind, DeploymentStatus } from '../domain/deployment.js';
import type { TimeWindow } from './window.js';

/** What the metrics need of one ledger record (a compact copy kept by the metrics index). */
export interface MetricsEntry {
  revision: number;
  kind: DeploymentKind;
  status: DeploymentStatus;
  commit: string;
  runId: string;
  /** For rollbacks: the revision whose artifact was redeployed. */
  rolledBackTo?: number;
  /** Epoch ms the deployment started. */
  startedAt: number;
  /** Epoch ms it finished (verified, or failed verification). */
  finishedAt: number;
  /**
   * Epoch ms the change entered Conveyor: when the push that made the run was received (the
   * run record's `createdAt`). Absent for rollbacks and when the run record is gone.
   */
  changeAt?: number;
}

/** Median and 90th percentile of a set of durations (seconds), or nulls when the set is empty. */
export interface Percentiles {
  count: number;
  p50Seconds: number | null;
  p90Seconds: number | null;
}

/** One day of the daily series (UTC), for small charts. */
export interface DailyPoint {
  /** `YYYY-MM-DD` (UTC). */
  date: string;
  /** Successful deployments (kind deploy) finished that day. */
  deployments: number;
  /** Deployments finished that day that failed verification or were later rolled back. */
  failures: number;
}

/** The metrics of one environment over one window. */
export interface EnvironmentMetrics {
  environment: string;
  /** Deployment frequency. */
  deployments: {
    /** Deployments (kind deploy) that finished in the window, whatever their verdict. */
    attempted: number;
    /** Of those, the ones verified (Succeeded). */
    succeeded: number;
    /** Succeeded per day of the window. */
    perDay: number;
    /** Succeeded per week of the window. */
    perWeek: number;
  };
  /** Lead time for changes: push received -> verified in this environment, over succeeded deployments. */
  leadTime: Percentiles;
  /** Change failure rate: failed or rolled-back deployments over all deployments attempted. */
  changeFailureRate: { failures: number; deployments: number; rate: number | null };
  /** Time to restore: failed or rolled-back deployment -> the next good record of the environment. */
  timeToRestore: Percentiles & {
    /** Failures in the window with no good record after them yet. */
    unrestored: number;
  };
  /** Rework rate: rollbacks and fix-forward deployments over every record (deploys and rollbacks). */
  reworkRate: { rework: number; records: number; rate: number | null };
  daily: DailyPoint[];
}

/** Tuning of the definitions. */
export interface DoraOptions {
  /**
   * A deployment that starts within this long after a failure in the same environment counts as
   * rework (a fix forward). Default 24 hours.
   */
  reworkWindowMs?: number;
}

/** The default fix-forward window of the rework rate. */
export const DEFAULT_REWORK_WINDOW_MS = 24 * 3_600_000;

const DAY_MS = 86_400_000;

/** Nearest-rank percentile of sorted values (p in (0, 100]). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1]!;
}

function percentiles(durationsMs: number[]): Percentiles {
  const sorted = durationsMs.map((ms) => ms / 1000).sort((a, b) => a - b);
  return { count: sorted.length, p50Seconds: percentile(sorted, 50), p90Seconds: percentile(sorted, 90) };
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

/**
 * Which records are failures: a deployment that failed verification, or one that the
 * environment's next record rolled back (a rollback recorded right after it). A failed rollback
 * is a failure too (the environment still is not restored).
 */
export function failures(entries: readonly MetricsEntry[]): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.status === 'Failed') out.add(e.revision);
    else if (e.kind === 'deploy' && entries[i + 1]?.kind === 'rollback') out.add(e.revision);
  }
  return out;
}

/**
 * Computes the metrics of one environment. `entries` are its ledger records in revision order
 * (gap-free, oldest first); a record belongs to the window when it finished inside it.
 */
export function environmentMetrics(environment: string, entries: readonly MetricsEntry[], window: TimeWindow, options: DoraOptions = {}): EnvironmentMetrics {
  const reworkWindow = options.reworkWindowMs ?? DEFAULT_REWORK_WINDOW_MS;
  const failed = failures(entries);
  const inWindow = (e: MetricsEntry): boolean => e.finishedAt >= window.from && e.finishedAt < window.to;

  let attempted = 0;
  let succeeded = 0;
  let failedDeploys = 0;
  let records = 0;
  let rework = 0;
  let unrestored = 0;
  const leadTimes: number[] = [];
  const restoreTimes: number[] = [];
  // One point per UTC day the window touches, found by day number (no date formatting per record).
  const windowDays = (window.to - window.from) / DAY_MS;
  const firstDay = Math.floor(window.from / DAY_MS);
  const days: DailyPoint[] = [];
  for (let d = firstDay; d * DAY_MS < window.to; d++) days.push({ date: new Date(d * DAY_MS).toISOString().slice(0, 10), deployments: 0, failures: 0 });

  // For each record, when the next good record after it finished (a backward pass, so a long
  // run of failures stays linear).
  const nextGoodAt: (number | undefined)[] = new Array<number | undefined>(entries.length);
  let goodAt: number | undefined;
  for (let i = entries.length - 1; i >= 0; i--) {
    nextGoodAt[i] = goodAt;
    const e = entries[i]!;
    if (e.status === 'Succeeded' && !failed.has(e.revision)) goodAt = e.finishedAt;
  }

  // The last failure seen so far (in revision order), for fix-forward detection.
  let lastFailureAt: number | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const isFailure = failed.has(e.revision);
    if (inWindow(e)) {
      records++;
      const day = days[Math.floor(e.finishedAt / DAY_MS) - firstDay];
      if (e.kind === 'rollback') {
        rework++;
      } else {
        attempted++;
        if (e.status === 'Succeeded') {
          succeeded++;
          if (day) day.deployments++;
          if (e.changeAt !== undefined && e.finishedAt >= e.changeAt) leadTimes.push(e.finishedAt - e.changeAt);
        }
        if (isFailure) {
          failedDeploys++;
          if (day) day.failures++;
        }
        if (lastFailureAt !== undefined && e.startedAt >= lastFailureAt && e.startedAt - lastFailureAt <= reworkWindow) rework++;
      }
      if (isFailure) {
        // Restored by the next good record: a Succeeded one that is not itself a failure.
        const restoredAt = nextGoodAt[i];
        if (restoredAt !== undefined) restoreTimes.push(Math.max(0, restoredAt - e.finishedAt));
        else unrestored++;
      }
    }
    if (isFailure) lastFailureAt = e.finishedAt;
  }

  return {
    environment,
    deployments: { attempted, succeeded, perDay: windowDays > 0 ? succeeded / windowDays : 0, perWeek: windowDays > 0 ? (succeeded / windowDays) * 7 : 0 },
    leadTime: percentiles(leadTimes),
    changeFailureRate: { failures: failedDeploys, deployments: attempted, rate: ratio(failedDeploys, attempted) },
    timeToRestore: { ...percentiles(restoreTimes), unrestored },
    reworkRate: { rework, records, rate: ratio(rework, records) },
    daily: days,
  };
}
