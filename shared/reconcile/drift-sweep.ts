/**
 * The drift half of the reconcile sweep: for every app and environment, compare the ledger's
 * current deployment with what the target reports (shared/reconcile/drift.ts), store the sync
 * state with "since when", record every change, and heal drifted environments whose policy says
 * `heal` (through the normal promotion path, started by the {@link HealLauncher}), within the
 * back-off. Bounded concurrency per app and a deadline per app, like the heads sweep.
 */
import type { CurrentDeployment } from '../domain/deployment.js';
import type { TargetSpec } from '../domain/pipeline.js';
import { assessDrift, DEFAULT_HEAL_BACKOFF, healDecision, healDelayMs, nextSync, type DriftPolicy, type EnvironmentSync, type HealBackoff, type Observation, type SyncChange } from './drift.js';
import { mapBounded } from './pool.js';

/** An environment as the drift sweep needs it (from the pipeline of the ledger's current commit). */
export interface DriftEnvironment {
  name: string;
  drift: DriftPolicy;
  /** The target spec, when the pipeline file could be read (else the target is found by asking each kind). */
  target?: TargetSpec;
}

/** Which environments an app has. */
export interface EnvironmentCatalog {
  environments(app: string): Promise<readonly DriftEnvironment[]>;
}

/** The ledger's `current` pointer. */
export interface LedgerReader {
  current(app: string, environment: string): Promise<CurrentDeployment | undefined>;
}

/** Asks the environment's target what runs (and whether a deployment holds it). */
export interface TargetObserver {
  observe(app: string, environment: DriftEnvironment): Promise<Observation>;
}

/** Where sync states and their changes are kept. */
export interface SyncStore {
  get(app: string, environment: string): Promise<EnvironmentSync | undefined>;
  put(sync: EnvironmentSync): Promise<void>;
  /** Appends a change of state (create-only history). */
  recordChange(change: SyncChange): Promise<void>;
}

/** Starts heals and reports how they ended. */
export interface HealLauncher {
  /** Starts redeploying the ledger's current revision; resolves the instance id. */
  start(request: { app: string; environment: string; current: CurrentDeployment; attempt: number; reason: string }): Promise<string>;
  /** How a started heal is doing. */
  outcome(instanceId: string): Promise<{ state: 'running' } | { state: 'succeeded' } | { state: 'failed'; reason: string }>;
}

/** The collaborators of {@link sweepDrift}. */
export interface DriftSweepPorts {
  catalog: EnvironmentCatalog;
  ledger: LedgerReader;
  observer: TargetObserver;
  store: SyncStore;
  healer: HealLauncher;
  now?: () => Date;
}

/** Options of {@link sweepDrift}. */
export interface DriftSweepOptions {
  /** Apps checked at once. Default 8. */
  concurrency?: number;
  /** Per-app deadline. Default 30 s. */
  timeoutMs?: number;
  backoff?: HealBackoff;
}

/** One environment's part of a sweep. */
export interface EnvironmentDriftReport {
  environment: string;
  sync: EnvironmentSync['sync'];
  reason: string;
  since: string;
  changed: boolean;
  /** `started`: a heal was started now; otherwise why not (when drifted). */
  heal?: { started: true; instanceId: string } | { started: false; why: string };
}

/** One app's part of a sweep. */
export interface AppDriftReport {
  app: string;
  ok: boolean;
  error?: string;
  environments: EnvironmentDriftReport[];
}

/** Checks every app's environments for drift, records changes, starts heals. Never rejects. */
export async function sweepDrift(apps: readonly string[], ports: DriftSweepPorts, options: DriftSweepOptions = {}): Promise<AppDriftReport[]> {
  const now = ports.now ?? (() => new Date());
  const backoff = options.backoff ?? DEFAULT_HEAL_BACKOFF;
  const outcomes = await mapBounded(apps, options.concurrency ?? 8, options.timeoutMs ?? 30_000, async (app, signal) => {
    const environments = await ports.catalog.environments(app);
    const reports: EnvironmentDriftReport[] = [];
    for (const env of environments) {
      if (signal.aborted) break;
      reports.push(await checkEnvironment(app, env, ports, now, backoff));
    }
    return reports;
  });
  return apps.map((app, i) => {
    const o = outcomes[i]!;
    return o.ok ? { app, ok: true, environments: o.value } : { app, ok: false, error: o.error, environments: [] };
  });
}

async function checkEnvironment(app: string, env: DriftEnvironment, ports: DriftSweepPorts, now: () => Date, backoff: HealBackoff): Promise<EnvironmentDriftReport> {
  const previous = await ports.store.get(app, env.name);
  const current = await ports.ledger.current(app, env.name);
  let observation: Observation;
  try {
    observation = await ports.observer.observe(app, env);
  } catch (err) {
    observation = { error: err instanceof Error ? err.message : String(err) };
  }
  const { sync, change } = nextSync(previous, app, env.name, current, assessDrift(current, observation), now());

  // Learn how a running heal ended before deciding on another.
  if (sync.heal?.outcome === 'running' && sync.heal.instanceId) {
    const o = await ports.healer.outcome(sync.heal.instanceId).catch((err: unknown) => ({ state: 'failed' as const, reason: `heal status unknown: ${err instanceof Error ? err.message : String(err)}` }));
    if (o.state !== 'running') sync.heal = { ...sync.heal, outcome: o.state, ...(o.state === 'failed' ? { reason: o.reason } : {}) };
  }

  let heal: EnvironmentDriftReport['heal'];
  if (sync.sync === 'drifted') {
    const decision = healDecision(env.drift, sync, current, now());
    if (decision.heal && current) {
      const attempt = (sync.heal?.attempts ?? 0) + 1;
      const at = now();
      try {
        const instanceId = await ports.healer.start({ app, environment: env.name, current, attempt, reason: sync.reason });
        sync.heal = { attempts: attempt, instanceId, startedAt: at.toISOString(), outcome: 'running', nextAllowedAt: new Date(at.getTime() + healDelayMs(attempt, backoff)).toISOString() };
        heal = { started: true, instanceId };
      } catch (err) {
        const reason = `the heal could not be started: ${err instanceof Error ? err.message : String(err)}`;
        sync.heal = { attempts: attempt, startedAt: at.toISOString(), outcome: 'failed', reason, nextAllowedAt: new Date(at.getTime() + healDelayMs(attempt, backoff)).toISOString() };
        heal = { started: false, why: reason };
      }
    } else if (!decision.heal) heal = { started: false, why: decision.why };
  }

  if (change) await ports.store.recordChange(change);
  await ports.store.put(sync);
  return { environment: env.name, sync: sync.sync, reason: sync.reason, since: sync.since, changed: change !== undefined, ...(heal ? { heal } : {}) };
}
