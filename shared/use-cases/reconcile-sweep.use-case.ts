/**
 * One reconcile sweep, the loop that keeps "what runs == what git and the ledger say" true when
 * webhooks are lost or something changes an environment behind Conveyor's back. For every
 * registered app:
 * - the heads sweep (shared/reconcile/heads-sweep.ts): one `git ls-remote` per repository, and
 *   the run of any tracked head commit without one is started (trigger `poll`; the run id is
 *   app + commit, so a webhook arriving at the same moment starts nothing twice);
 * - the drift sweep (shared/reconcile/drift-sweep.ts): the ledger's current revision against what
 *   each environment's target reports (the targets of the pipeline file at the current commit),
 *   stored with since-when, changes recorded and announced, and heals (the `heal` orchestration)
 *   started for `drift: heal` environments within the back-off; and each environment's lock
 *   repaired first (shared/use-cases/repair-lock.use-case.ts).
 * Any trigger (the timer today; an on-demand API or CLI call) runs a sweep through this; the
 * adapter supplies the durable side (instances, the environment lock's state) and a logger.
 */
import type { AppRecord } from '../apps/app-record.schema.js';
import type { HealInput, HealResult, PipelineInput } from '../contracts/activities.js';
import type { PipelineSpec } from '../domain/pipeline.js';
import { healInstanceId, runIdFor } from '../domain/ids.js';
import { DEFAULT_PIPELINE_PATH, parsePipelineSpec } from '../pipeline/index.js';
import {
  publishingSyncStore,
  sweepDrift,
  sweepHeads,
  type DriftEnvironment,
  type EventRecorder,
  type HeadReader,
  type HealLauncher,
  type LedgerReader,
  type RunLauncher,
  type SyncStore,
  type TargetObserver,
  type AppHeadsReport,
  type AppHeadsStatus,
} from '../reconcile/index.js';
import { portAcceptsConnections, type TargetRegistry, type TargetStatus } from '../targets/index.js';
import { repairLock, type LockRepairPorts } from './repair-lock.use-case.js';
import { startRun, type StartRunPorts } from './start-run.use-case.js';

/** Pipeline specs kept by app + commit (an environment's current commit rarely changes). */
const SPEC_CACHE_MAX = 500;
/** Per-repository deadline of the heads sweep. */
export const HEADS_TIMEOUT_MS = 20_000;
const LIVE = new Set(['Pending', 'Running', 'Suspended', 'ContinuedAsNew']);

/** The durable side of a sweep, as the adapter reaches it. */
export interface SweepInstances {
  /** An instance's runtime status and output, or undefined when there is none. */
  status(instanceId: string): Promise<{ runtimeStatus: string; output?: unknown } | undefined>;
  /** Starts orchestration `name` under `instanceId`; throws when refused (the id is live) or on a fault. */
  start(name: 'pipeline', instanceId: string, input: PipelineInput): Promise<void>;
  start(name: 'heal', instanceId: string, input: HealInput): Promise<void>;
  /** Whether a deployment or rollback holds the environment's slot now (its target is then in flux). */
  slotHeld(app: string, environment: string): Promise<boolean>;
  /** The environment locks, as lock repair reads and signals them. */
  locks: LockRepairPorts;
}

/** What a sweep reports as it goes. */
export interface SweepLog {
  info(message: string): void;
  warn(message: string): void;
}

/** The stores and readers a sweep uses (built once). */
export interface ReconcilePorts {
  apps: { list(): Promise<AppRecord[]> };
  runs: StartRunPorts['runs'];
  ledger: LedgerReader & { environments(app: string): Promise<string[]> };
  targets: Pick<TargetRegistry, 'forSpec' | 'types' | 'get'>;
  /** A file of a repository at a commit (the pipeline file). */
  readFileAtCommit(repoUrl: string, commit: string, path: string): Promise<string>;
  /** The branch heads of a repository (`git ls-remote`). */
  readHeads: HeadReader;
  syncStates: SyncStore;
  /** Where each app's heads outcome is kept, so the app shows a repository the sweep cannot read (optional). */
  headsStates?: { getHeads(app: string): Promise<AppHeadsStatus | undefined>; putHeads(status: AppHeadsStatus): Promise<void> };
  events: EventRecorder;
}

/** What one tick brings: the durable side and the log. */
export interface SweepTick {
  instances: SweepInstances;
  log: SweepLog;
}

function runLauncher(ports: ReconcilePorts, instances: SweepInstances): RunLauncher {
  const exists = async (id: string) => Boolean(await instances.status(id).catch(() => undefined));
  return {
    hasRun: (app, commit) => exists(runIdFor(app, commit)),
    async start({ app, branch, commit, trigger }) {
      const pusher = { id: 'system', name: 'reconcile (no webhook arrived for this commit)' };
      const started = await startRun(
        { runs: ports.runs, pipelines: { exists, start: (id, input) => instances.start('pipeline', id, input) } },
        { app: { ...app, pipelinePath: app.pipelinePath ?? DEFAULT_PIPELINE_PATH }, commit, branch, pusher, trigger, requestedAt: new Date().toISOString() },
      );
      return started.status;
    },
  };
}

function targetObserver(ports: ReconcilePorts, instances: SweepInstances, log: SweepLog): TargetObserver {
  return {
    async observe(app, env) {
      // The environment's lock first: a holder that went away is released, a lost wake-up raised again.
      await repairLock(instances.locks, app, env.name, new Date())
        .then((r) => {
          if (r.released.length > 0 || r.woken.length > 0) log.info(`reconcile: lock of ${app}/${env.name}: released ${r.released.join(', ') || 'none'} (gone); woke ${r.woken.join(', ') || 'none'} again`);
        })
        .catch((err: unknown) => log.info(`reconcile: lock of ${app}/${env.name} not checked: ${err instanceof Error ? err.message : String(err)}`));
      if (await instances.slotHeld(app, env.name).catch(() => false)) return { busy: true };
      let status: TargetStatus | undefined;
      if (env.target) status = await ports.targets.forSpec(env.target).status(app, env.name, env.target);
      else {
        for (const type of ports.targets.types()) {
          const s = await ports.targets.get(type)!.status(app, env.name);
          if (s.state !== 'absent' || !status) status = s;
          if (s.state !== 'absent') break;
        }
      }
      if (!status) return { error: 'no deploy target knows this environment' };
      const port = status.details.port;
      const foreignOnPort = !status.running && typeof port === 'number' ? await portAcceptsConnections(port, 300) : false;
      return { status, foreignOnPort };
    },
  };
}

function healLauncher(instances: SweepInstances, repo: (app: string) => { repoUrl: string; pipelinePath: string } | undefined): HealLauncher {
  return {
    async start({ app, environment, current, attempt, reason }) {
      const where = repo(app);
      if (!where) throw new Error(`app ${app} is no longer registered`);
      const instanceId = healInstanceId(app, environment, current.revision, attempt);
      const input: HealInput = {
        app,
        environment,
        revision: current.revision,
        commit: current.commit,
        digest: current.digest,
        repoUrl: where.repoUrl,
        pipelinePath: where.pipelinePath,
        reason,
        requestedAt: new Date().toISOString(),
      };
      await instances.start('heal', instanceId, input).catch(async (err: unknown) => {
        if (!(await instances.status(instanceId).catch(() => undefined))) throw err;
      });
      return instanceId;
    },
    async outcome(instanceId) {
      const status = await instances.status(instanceId);
      const runtime = String(status?.runtimeStatus);
      if (LIVE.has(runtime)) return { state: 'running' };
      const output = status?.output as HealResult | undefined;
      if (runtime === 'Completed' && output?.status === 'Succeeded') return { state: 'succeeded' };
      return { state: 'failed', reason: output?.reason ?? `heal ${runtime.toLowerCase()}` };
    },
  };
}

/**
 * A sweeper over `ports`: call it once per tick. It keeps the pipeline specs it read between
 * ticks, and runs one sweep at a time (a tick arriving while one runs is skipped, and says so).
 */
export function reconcileSweeper(ports: ReconcilePorts): (tick: SweepTick) => Promise<void> {
  const specs = new Map<string, PipelineSpec | undefined>();
  const specAt = async (app: string, repoUrl: string, pipelinePath: string, commit: string): Promise<PipelineSpec | undefined> => {
    const key = `${app}@${commit}`;
    if (specs.has(key)) return specs.get(key);
    const spec = await ports
      .readFileAtCommit(repoUrl, commit, pipelinePath)
      .then((text) => parsePipelineSpec(text, pipelinePath))
      .catch(() => undefined);
    if (specs.size >= SPEC_CACHE_MAX) specs.delete(specs.keys().next().value as string);
    specs.set(key, spec);
    return spec;
  };

  // The last heads outcome stored per app: written only when it changes (one read per app at start).
  const lastHeads = new Map<string, AppHeadsStatus>();
  const recordHeads = async (store: NonNullable<ReconcilePorts['headsStates']>, a: AppHeadsReport, at: string): Promise<void> => {
    const known = lastHeads.get(a.app) ?? (await store.getHeads(a.app));
    if (known && known.ok === a.ok && known.error === a.error && known.repository === a.repository) {
      lastHeads.set(a.app, known);
      return;
    }
    const next: AppHeadsStatus = { app: a.app, repository: a.repository, ok: a.ok, ...(a.error !== undefined ? { error: a.error } : {}), since: at };
    await store.putHeads(next);
    lastHeads.set(a.app, next);
  };

  const sweep = async ({ instances, log }: SweepTick): Promise<void> => {
    const apps = await ports.apps.list();
    const heads = await sweepHeads(apps, ports.readHeads, runLauncher(ports, instances), { concurrency: 8, timeoutMs: HEADS_TIMEOUT_MS + 5_000 });
    if (ports.headsStates) {
      const store = ports.headsStates;
      await Promise.all(heads.apps.map((a) => recordHeads(store, a, heads.finishedAt).catch((err: unknown) => log.warn(`reconcile: ${a.app}: heads outcome not stored: ${err instanceof Error ? err.message : String(err)}`))));
    }
    for (const a of heads.apps) {
      if (!a.ok) log.warn(`reconcile: ${a.app}: heads of ${a.repository} not read: ${a.error}`);
      for (const h of a.heads) if (h.outcome === 'started' || h.outcome === 'failed') log.info(`reconcile: ${a.app}: ${h.branch} at ${h.commit.slice(0, 12)} had no run: ${h.outcome}${h.reason ? ` (${h.reason})` : ''}`);
    }

    const byName = new Map(apps.map((a) => [a.name, a]));
    const drift = await sweepDrift(
      [...byName.keys()],
      {
        catalog: {
          async environments(app) {
            const record = byName.get(app);
            if (!record) return [];
            const out: DriftEnvironment[] = [];
            for (const name of await ports.ledger.environments(app)) {
              const current = await ports.ledger.current(app, name);
              const spec = current ? await specAt(app, record.repoUrl, record.pipelinePath, current.commit) : undefined;
              const env = spec?.environments.find((e) => e.name === name);
              out.push({ name, drift: env?.drift ?? 'report', ...(env ? { target: env.target } : {}) });
            }
            return out;
          },
        },
        ledger: ports.ledger,
        observer: targetObserver(ports, instances, log),
        store: publishingSyncStore(
          {
            get: (app, env) => ports.syncStates.get(app, env),
            put: (sync) => ports.syncStates.put(sync),
            recordChange: async (change) => {
              log.info(`reconcile: ${change.app}/${change.environment} ${change.from ?? '(new)'} -> ${change.to}: ${change.reason}`);
              await ports.syncStates.recordChange(change);
            },
          },
          ports.events,
          (m) => log.warn(`reconcile: ${m}`),
        ),
        healer: healLauncher(instances, (app) => byName.get(app)),
      },
      { concurrency: 8, timeoutMs: 60_000 },
    );
    for (const a of drift) {
      if (!a.ok) log.warn(`reconcile: ${a.app}: drift not checked: ${a.error}`);
      for (const e of a.environments) if (e.heal?.started) log.info(`reconcile: ${a.app}/${e.environment} drifted (${e.reason}); heal ${e.heal.instanceId} started`);
    }
  };

  let running: Promise<void> | undefined;
  return async (tick) => {
    if (running) {
      tick.log.info('reconcile: the previous sweep is still running; this tick is skipped');
      return;
    }
    running = sweep(tick).finally(() => {
      running = undefined;
    });
    await running;
  };
}
