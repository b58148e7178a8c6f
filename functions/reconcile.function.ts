/**
 * The reconcile timer (`CONVEYOR_RECONCILE_SCHEDULE`, default every minute): each tick runs one
 * reconcile sweep (shared/use-cases/reconcile-sweep.use-case.ts: missed pushes started, drift
 * checked and healed, environment locks repaired). This file only adapts the durable client (instances, the environment
 * lock's state) and the invocation's log to the sweep's ports.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { LockState } from '../shared/domain/environment-lock.js';
import { LOCK_ENTITY_NAME, lockEntityKey } from '../shared/domain/ids.js';
import { listRemoteHeads } from '../shared/git/index.js';
import { HEADS_TIMEOUT_MS, reconcileSweeper, type SweepInstances } from '../shared/use-cases/reconcile-sweep.use-case.js';
import type { Services } from './composition-root.js';
import { lockRepairPorts } from './entities/environment-lock.repair.js';

type ReconcileServices = Pick<Services, 'apps' | 'runs' | 'ledger' | 'targets' | 'git' | 'settings' | 'syncStates' | 'events'>;

function durableInstances(client: df.DurableClient): SweepInstances {
  return {
    async status(instanceId) {
      const status = await client.getStatus(instanceId).catch(() => undefined);
      return status ? { runtimeStatus: String(status.runtimeStatus), output: status.output } : undefined;
    },
    async start(name: string, instanceId: string, input: unknown) {
      await client.startNew(name, { instanceId, input });
    },
    async slotHeld(app, environment) {
      const lock = await client.readEntityState<LockState>(new df.EntityId(LOCK_ENTITY_NAME, lockEntityKey(app, environment)));
      return Boolean(lock.entityExists && lock.entityState?.slot);
    },
    locks: lockRepairPorts(client),
  };
}

/** The reconcile timer, given its collaborators. */
export function reconcile(services: ReconcileServices) {
  const credentials = services.settings.gitToken ? { token: services.settings.gitToken, username: services.settings.gitUser } : undefined;
  const sweep = reconcileSweeper({
    apps: services.apps,
    runs: services.runs,
    ledger: services.ledger,
    targets: services.targets,
    readFileAtCommit: (repoUrl, commit, path) => services.git.readFileAtCommit(repoUrl, commit, path),
    readHeads: (url, signal) => listRemoteHeads(url, { credentials, signal, timeoutMs: HEADS_TIMEOUT_MS }),
    syncStates: services.syncStates,
    headsStates: services.syncStates,
    events: services.events,
  });
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    await sweep({ instances: durableInstances(df.getClient(context)), log: { info: (m) => context.log(m), warn: (m) => context.warn(m) } });
  };
}
