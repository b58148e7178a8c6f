/**
 * The `environmentLock` durable entity: one per app + environment, applying the pure rules of
 * shared/domain/environment-lock.ts one operation at a time.
 */
import type * as df from 'durable-functions';
import { emptyLock, releaseLock, requestLock, setLockPhase, type LockHolder, type LockParty, type LockState } from '../../shared/domain/environment-lock.js';

export function environmentLockEntity(context: df.EntityContext<LockState>): void {
  const state = context.df.getState(() => emptyLock()) ?? emptyLock();
  switch (context.df.operationName) {
    case 'request': {
      const { party, now } = context.df.getInput<{ party: LockParty; now: string }>() ?? ({} as { party: LockParty; now: string });
      const next = requestLock(state, party, now);
      context.df.setState(next.state);
      context.df.return(next.answer);
      return;
    }
    case 'phase': {
      const { instanceId, phase } = context.df.getInput<{ instanceId: string; phase: LockHolder['phase'] }>() ?? ({} as { instanceId: string; phase: LockHolder['phase'] });
      context.df.setState(setLockPhase(state, instanceId, phase));
      context.df.return(null);
      return;
    }
    case 'release': {
      const { instanceId } = context.df.getInput<{ instanceId: string }>() ?? ({} as { instanceId: string });
      context.df.setState(releaseLock(state, instanceId));
      context.df.return(null);
      return;
    }
    case 'get':
      context.df.return(state);
      return;
    default:
      throw new Error(`environmentLock has no operation ${context.df.operationName}`);
  }
}
