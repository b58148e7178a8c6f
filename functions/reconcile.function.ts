/**
 * The reconcile timer (`CONVEYOR_RECONCILE_SCHEDULE`, default every minute): the loop that keeps
 * "what runs == what git and the ledger say" true when webhooks are lost or something changes
 * an environment behind Conveyor's back. Each tick, for every registered app:
 * - the heads sweep (shared/reconcile/heads-sweep.ts): one `git ls-remote` per repository, and
 *   the run of any tracked head commit without one is started (trigger `poll`; the run id is
 *   app + commit, so a webhook arriving at the same moment starts nothing twice);
 * - the drift sweep (shared/reconcile/drift-sweep.ts): the ledger's current revision against what
 *   each environment's target reports, stored with since-when, changes recorded, and heals
 *   (the `heal` orchestration) started for `drift: heal` environments within the back-off; and
 *   each environment's lock repaired (shared/use-cases/repair-lock.use-case.ts).
 * This file holds only the adapters from those use-cases' ports to the durable client, the
 * stores, the git cache and the deploy targets. One sweep at a time per process.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { HealInput, HealResult } from '../shared/contracts/activities.js';
import type { LockState } from '../shared/domain/environment-lock.js';
import type { PipelineSpec } from '../shared/domain/pipeline.js';
import { healInstanceId, LOCK_ENTITY_NAME, lockEntityKey, runIdFor } from '../shared/domain/ids.js';
import { listRemoteHeads } from '../shared/git/index.js';
import { DEFAULT_PIPELINE_PATH, parsePipelineSpec } from '../shared/pipeline/index.js';
import { publishingSyncStore, sweepDrift, sweepHeads, type DriftEnvironment, type DriftSweepPorts, type HealLauncher, type RunLauncher, type TargetObserver } from '../shared/reconcile/index.js';
import { portAcceptsConnections, type TargetStatus } from '../shared/targets/index.js';
import { repairLock } from '../shared/use-cases/repair-lock.use-case.js';
import { startRun } from '../shared/use-cases/start-run.use-case.js';
import { lockRepairPorts } from './entities/environment-lock.repair.js';
import type { Services } from './composition-root.js';

type ReconcileServices = Pick<Services, 'apps' | 'runs' | 'ledger' | 'targets' | 'git' | 'settings' | 'syncStates' | 'events'>;

/** Per-repository deadline of the heads sweep. */
const HEADS_TIMEOUT_MS = 20_000;
/** Pipeline specs by app + commit (an environment's current commit rarely changes). */
const SPEC_CACHE_MAX = 500;

const LIVE = new Set(['Pending', 'Running', 'Suspended', 'ContinuedAsNew']);

function runLauncher(services: ReconcileServices, client: df.DurableClient): RunLauncher {
  const exists = async (id: string) => Boolean(await client.getStatus(id).catch(() => undefined));
  return {
    hasRun: (app, commit) => exists(runIdFor(app, commit)),
    async start({ app, branch, commit, trigger }) {
      const pusher = { id: 'system', name: 'reconcile (no webhook arrived for this commit)' };
      const started = await startRun(
        { runs: services.runs, pipelines: { exists, start: async (id, input) => void (await client.startNew('pipeline', { instanceId: id, input })) } },
        { app: { ...app, pipelinePath: app.pipelinePath ?? DEFAULT_PIPELINE_PATH }, commit, branch, pusher, trigger, requestedAt: new Date().toISOString() },
      );
      return started.status;
    },
  };
}

function targetObserver(services: ReconcileServices, client: df.DurableClient, log: (message: string) => void): TargetObserver {
  const repairs = lockRepairPorts(client);
  return {
    async observe(app, env) {
      // The environment's lock first: a holder that went away is released, a lost wake-up raised again.
      await repairLock(repairs, app, env.name, new Date())
        .then((r) => {
          if (r.released.length > 0 || r.woken.length > 0) log(`reconcile: lock of ${app}/${env.name}: released ${r.released.join(', ') || 'none'} (gone); woke ${r.woken.join(', ') || 'none'} again`);
        })
        .catch((err: unknown) => log(`reconcile: lock of ${app}/${env.name} not checked: ${err instanceof Error ? err.message : String(err)}`));
      const lock = await client.readEntityState<LockState>(new df.EntityId(LOCK_ENTITY_NAME, lockEntityKey(app, env.name))).catch(() => undefined);
      if (lock?.entityExists && lock.entityState?.slot) return { busy: true };
      let status: TargetStatus | undefined;
      if (env.target) status = await services.targets.forSpec(env.target).status(app, env.name, env.target);
      else {
        for (const type of services.targets.types()) {
          const s = await services.targets.get(type)!.status(app, env.name);
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

function healLauncher(client: df.DurableClient, repo: (app: string) => { repoUrl: string; pipelinePath: string } | undefined): HealLauncher {
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
      await client.startNew('heal', { instanceId, input }).catch(async (err: unknown) => {
        if (!(await client.getStatus(instanceId).catch(() => undefined))) throw err;
      });
      return instanceId;
    },
    async outcome(instanceId) {
      const status = await client.getStatus(instanceId);
      if (LIVE.has(String(status.runtimeStatus))) return { state: 'running' };
      const output = status.output as HealResult | undefined;
      if (String(status.runtimeStatus) === 'Completed' && output?.status === 'Succeeded') return { state: 'succeeded' };
      return { state: 'failed', reason: output?.reason ?? `heal ${String(status.runtimeStatus).toLowerCase()}` };
    },
  };
}

/** The reconcile timer, given its collaborators. */
export function reconcile(services: ReconcileServices) {
  let running: Promise<void> | undefined;
  const specs = new Map<string, PipelineSpec | undefined>();
  const specAt = async (app: string, repoUrl: string, pipelinePath: string, commit: string): Promise<PipelineSpec | undefined> => {
    const key = `${app}@${commit}`;
    if (specs.has(key)) return specs.get(key);
    const spec = await services.git
      .readFileAtCommit(repoUrl, commit, pipelinePath)
      .then((text) => parsePipelineSpec(text, pipelinePath))
      .catch(() => undefined);
    if (specs.size >= SPEC_CACHE_MAX) specs.delete(specs.keys().next().value as string);
    specs.set(key, spec);
    return spec;
  };

  const sweep = async (context: InvocationContext): Promise<void> => {
    const client = df.getClient(context);
    const apps = await services.apps.list();
    const credentials = services.settings.gitToken ? { token: services.settings.gitToken, username: services.settings.gitUser } : undefined;
    const heads = await sweepHeads(apps, (url, signal) => listRemoteHeads(url, { credentials, signal, timeoutMs: HEADS_TIMEOUT_MS }), runLauncher(services, client), {
      concurrency: 8,
      timeoutMs: HEADS_TIMEOUT_MS + 5_000,
    });
    for (const a of heads.apps) {
      if (!a.ok) context.warn(`reconcile: ${a.app}: heads of ${a.repository} not read: ${a.error}`);
      for (const h of a.heads) if (h.outcome === 'started' || h.outcome === 'failed') context.log(`reconcile: ${a.app}: ${h.branch} at ${h.commit.slice(0, 12)} had no run: ${h.outcome}${h.reason ? ` (${h.reason})` : ''}`);
    }

    const byName = new Map(apps.map((a) => [a.name, a]));
    const ports: DriftSweepPorts = {
      catalog: {
        async environments(app) {
          const record = byName.get(app);
          if (!record) return [];
          const out: DriftEnvironment[] = [];
          for (const name of await services.ledger.environments(app)) {
            const current = await services.ledger.current(app, name);
            const spec = current ? await specAt(app, record.repoUrl, record.pipelinePath, current.commit) : undefined;
            const env = spec?.environments.find((e) => e.name === name);
            out.push({ name, drift: env?.drift ?? 'report', ...(env ? { target: env.target } : {}) });
          }
          return out;
        },
      },
      ledger: services.ledger,
      observer: targetObserver(services, client, (m) => context.log(m)),
      store: publishingSyncStore(
        {
          get: (app, env) => services.syncStates.get(app, env),
          put: (sync) => services.syncStates.put(sync),
          recordChange: async (change) => {
            context.log(`reconcile: ${change.app}/${change.environment} ${change.from ?? '(new)'} -> ${change.to}: ${change.reason}`);
            await services.syncStates.recordChange(change);
          },
        },
        services.events,
        (m) => context.warn(`reconcile: ${m}`),
      ),
      healer: healLauncher(client, (app) => byName.get(app)),
    };
    const drift = await sweepDrift([...byName.keys()], ports, { concurrency: 8, timeoutMs: 60_000 });
    for (const a of drift) {
      if (!a.ok) context.warn(`reconcile: ${a.app}: drift not checked: ${a.error}`);
      for (const e of a.environments) if (e.heal?.started) context.log(`reconcile: ${a.app}/${e.environment} drifted (${e.reason}); heal ${e.heal.instanceId} started`);
    }
  };

  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    if (running) {
      context.log('reconcile: the previous sweep is still running; this tick is skipped');
      return;
    }
    running = sweep(context).finally(() => {
      running = undefined;
    });
    await running;
  };
}
