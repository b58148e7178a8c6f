/**
 * `wakeLockParty`: raises `LockGranted` or `Superseded` on a party of the environment lock (or,
 * with no event, only looks at it), and says whether the instance has gone (ended, or never
 * existed), so the caller can release on its behalf. At-least-once like every activity: a
 * duplicate wake-up is harmless because a woken party confirms with the entity.
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { passKillPoint } from '../../shared/config/fault-injection.js';
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { LOCK_GRANTED_EVENT, SUPERSEDED_EVENT, type LockGrantedEvent, type SupersededEvent } from '../../shared/contracts/orchestrations.js';

const LIVE = new Set(['Pending', 'Running', 'Suspended', 'ContinuedAsNew']);

export async function wakeLockParty(input: ActivityInput<'wakeLockParty'>, context: InvocationContext): Promise<ActivityOutput<'wakeLockParty'>> {
  // Test-only kill points (shared/config/fault-injection.ts): the entity has committed the grant
  // or the release this wake-up delivers; the event is not raised yet, or raised but not recorded.
  passKillPoint('lock.wake.start');
  const client = df.getClient(context);
  const status = await client.getStatus(input.instanceId).catch(() => undefined);
  if (!status || !LIVE.has(String(status.runtimeStatus))) return { delivered: false, gone: true };
  if (!input.event) return { delivered: false, gone: false };
  passKillPoint('lock.wake.before-raise');
  // The party may wait through a waiter sub-orchestration: the event goes where it is awaited
  // (a waiter that has just ended gets nothing; the party confirms with the entity anyway).
  const target = input.raiseOn ?? input.instanceId;
  const raise = (id: string) => input.event === 'granted'
    ? client.raiseEvent(id, LOCK_GRANTED_EVENT, { what: input.what ?? 'turn' } satisfies LockGrantedEvent)
    : client.raiseEvent(id, SUPERSEDED_EVENT, { by: input.by ?? 'a newer run' } satisfies SupersededEvent);
  // A waiter that already ended cannot take the event: the party itself gets it (a stale event
  // there is harmless, as any duplicate).
  await raise(target).catch((err: unknown) => (target === input.instanceId ? Promise.reject(err) : raise(input.instanceId)));
  passKillPoint('lock.wake.after-raise');
  return { delivered: true, gone: false };
}
