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
  if (input.event === 'granted') {
    await client.raiseEvent(input.instanceId, LOCK_GRANTED_EVENT, { what: input.what ?? 'turn' } satisfies LockGrantedEvent);
  } else {
    await client.raiseEvent(input.instanceId, SUPERSEDED_EVENT, { by: input.by ?? 'a newer run' } satisfies SupersededEvent);
  }
  passKillPoint('lock.wake.after-raise');
  return { delivered: true, gone: false };
}
