/**
 * What runs where: for each environment of an app, the ledger's current revision (the system
 * of record) with the deploy target's own view beside it (is that revision up and healthy, and
 * what actually runs, for drift detection).
 */
import type { AppRecord } from '../apps/app-record.schema.js';
import type { DeploymentLedger } from '../ledger/deployment-ledger.js';
import type { RunStore } from '../ledger/run-store.js';
import type { TargetRegistry } from '../targets/target-registry.js';
import { evaluateGate, gateOf, type DeployWindowPolicy, type Freeze, type GateVerdict } from '../domain/windows.js';
import { deployWindowOf } from '../domain/policy.js';
import type { EnvironmentSync } from '../reconcile/drift.js';
import type { AppHeadsStatus } from '../reconcile/sync-store.js';

/** The reads the matrix needs (in-memory fakes implement them in tests). */
export interface MatrixSources {
  ledger: Pick<DeploymentLedger, 'environments' | 'current'>;
  runs: Pick<RunStore, 'list'>;
  targets: Pick<TargetRegistry, 'types' | 'get'>;
  /** Active freezes (optional: shown when given). */
  controls?: { freeze(app: string, env: string): Promise<Freeze | undefined> };
  /** Sync states written by the reconcile sweep (optional: shown when given), and whether it can read the app's repository. */
  syncStates?: { get(app: string, env: string): Promise<EnvironmentSync | undefined>; getHeads?(app: string): Promise<AppHeadsStatus | undefined> };
}

/**
 * `names` in promotion order: the order `order` declares first, then any others (environments
 * removed from the pipeline since) alphabetically.
 */
export function inPromotionOrder(names: readonly string[], order: readonly string[] | undefined): string[] {
  const rank = new Map((order ?? []).map((name, i) => [name, i]));
  return [...names].sort((a, b) => (rank.get(a) ?? Infinity) - (rank.get(b) ?? Infinity) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The environments of an app that have a ledger, in the promotion order its newest run declared. */
export async function environmentNames({ ledger, runs }: Pick<MatrixSources, 'ledger' | 'runs'>, app: string): Promise<string[]> {
  const [names, recent] = await Promise.all([ledger.environments(app), runs.list(app, { pageSize: 5 })]);
  return inPromotionOrder(names, recent.runs.find((r) => r.environmentOrder?.length)?.environmentOrder);
}

/** What the records say of one environment: the ledger's current revision, its freeze and its sync state. */
export interface RecordedEnvironment {
  name: string;
  revision: number;
  commit: string;
  digest: string;
  finishedAt: string;
  runId: string;
  status: string;
  kind: string;
  /** The active freeze: nothing but rollbacks enters until someone unfreezes. */
  freeze?: Freeze;
  /** Drift as the reconcile sweep last saw it: `in-sync | drifted | unknown`, why, since when. */
  sync?: { state: EnvironmentSync['sync']; reason: string; since: string; checkedAt: string; heal?: EnvironmentSync['heal'] };
}

/** One environment in the matrix. */
export interface EnvironmentView extends RecordedEnvironment {
  /** The target's view: is the recorded revision up and answering? */
  healthy: boolean;
  running: boolean;
  /** What the target reports actually runs (for drift detection). */
  actual?: { revision?: number; commit?: string; state: string };
  /** Whether promotions may enter now by its deploy windows and freeze, why not, and when it next opens (shown when a window policy or a freeze applies). */
  gate?: GateVerdict;
}

/** The gate verdict of an environment now, when a deploy window or a freeze applies to it. */
export function gateNow(window: DeployWindowPolicy | undefined, freeze: Freeze | undefined, now: Date): GateVerdict | undefined {
  return freeze || window?.windows.length ? evaluateGate(gateOf(window, freeze), now) : undefined;
}

/**
 * What the records (ledger, freezes, sync states) say of each environment of an app, in
 * promotion order, without asking any deploy target: the stored part of the matrix.
 */
export async function recordedEnvironments({ ledger, runs, controls, syncStates }: Omit<MatrixSources, 'targets'>, app: string): Promise<RecordedEnvironment[]> {
  const names = await environmentNames({ ledger, runs }, app);
  const views = await Promise.all(
    names.map(async (name): Promise<RecordedEnvironment | undefined> => {
      const [current, freeze, sync] = await Promise.all([
        ledger.current(app, name),
        controls?.freeze(app, name).catch(() => undefined),
        syncStates?.get(app, name).catch(() => undefined),
      ]);
      if (!current) return undefined;
      return {
        name,
        revision: current.revision,
        commit: current.commit,
        digest: current.digest,
        finishedAt: current.finishedAt,
        runId: current.runId,
        status: current.status,
        kind: current.kind,
        ...(freeze ? { freeze } : {}),
        ...(sync ? { sync: { state: sync.sync, reason: sync.reason, since: sync.since, checkedAt: sync.checkedAt, ...(sync.heal ? { heal: sync.heal } : {}) } } : {}),
      };
    }),
  );
  return views.filter((v): v is RecordedEnvironment => v !== undefined);
}

/** What runs in each environment of an app, in promotion order, with each target's live view. */
export async function environmentMatrix(sources: MatrixSources, app: string, record?: Pick<AppRecord, 'policy'>): Promise<EnvironmentView[]> {
  const recorded = await recordedEnvironments(sources, app);
  const now = new Date();
  return Promise.all(
    recorded.map(async (env): Promise<EnvironmentView> => {
      let actual: EnvironmentView['actual'];
      let healthy = false;
      let running = false;
      for (const type of sources.targets.types()) {
        const status = await sources.targets.get(type)!.status(app, env.name).catch(() => undefined);
        if (status && status.state !== 'absent') {
          actual = { revision: status.revision, commit: status.commit, state: status.state };
          running = status.running && status.revision === env.revision;
          healthy = running && status.healthy;
          break;
        }
      }
      const gate = gateNow(deployWindowOf(record, env.name), env.freeze, now);
      const { freeze, sync, ...rest } = env;
      return { ...rest, healthy, running, ...(actual ? { actual } : {}), ...(freeze ? { freeze } : {}), ...(gate ? { gate } : {}), ...(sync ? { sync } : {}) };
    }),
  );
}

/** An app with its environment matrix. */
export async function appView(sources: MatrixSources, app: AppRecord): Promise<AppRecord & { environments: EnvironmentView[]; reconcile?: { heads: Omit<AppHeadsStatus, 'app'> } }> {
  const [environments, heads] = await Promise.all([environmentMatrix(sources, app.name, app), sources.syncStates?.getHeads?.(app.name).catch(() => undefined)]);
  // Whether the reconcile sweep could read the repository's heads (a failing one is reported here).
  const reconcile = heads ? { heads: { repository: heads.repository, ok: heads.ok, ...(heads.error !== undefined ? { error: heads.error } : {}), since: heads.since } } : undefined;
  return { ...app, environments, ...(reconcile ? { reconcile } : {}) };
}

