/**
 * The `environmentLock` durable entity: one per app + environment, applying the pure rules of
 * shared/domain/environment-lock.ts one operation at a time. Operations and answers are typed
 * by `LockOperations` (shared/contracts/orchestrations.ts).
 */
import type * as df from 'durable-functions';
import type { LockOperations } from '../../shared/contracts/orchestrations.js';
import { acquireSlot, normaliseLock, releaseLock, requestTurn, setLockPhase, type LockState } from '../../shared/domain/environment-lock.js';

type In<K extends keyof LockOperations> = LockOperations[K]['input'];

export function environmentLockEntity(context: df.EntityContext<LockState>): void {
  const state = normaliseLock(context.df.getState(() => normaliseLock(undefined)));
  switch (context.df.operationName) {
    case 'request': {
      const { party, now } = context.df.getInput<In<'request'>>()!;
      const next = requestTurn(state, party, now);
      context.df.setState(next.state);
      context.df.return(next.answer);
      return;
    }
    case 'acquire': {
      const { party, now } = context.df.getInput<In<'acquire'>>()!;
      const next = acquireSlot(state, party, now);
      context.df.setState(next.state);
      context.df.return(next.answer);
      return;
    }
    case 'phase': {
      const { instanceId, phase } = context.df.getInput<In<'phase'>>()!;
      context.df.setState(setLockPhase(state, instanceId, phase));
      context.df.return(null);
      return;
    }
    case 'release': {
      const { instanceId, now, what } = context.df.getInput<In<'release'>>()!;
      const next = releaseLock(state, instanceId, now, what ?? 'all');
      context.df.setState(next.state);
      context.df.return({ wake: next.wake });
      return;
    }
    case 'get':
      context.df.return(state);
      return;
    default:
      throw new Error(`environmentLock has no operation ${context.df.operationName}`);
  }
}
