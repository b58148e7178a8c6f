/**
 * The `environmentLock` durable entity: one per app + environment, applying the pure rules of
 * shared/domain/environment-lock.ts one operation at a time. Operations and answers are typed
 * by `LockOperations` (shared/contracts/orchestrations.ts). Each operation's input is parsed
 * with a schema where it enters (operations can also arrive through the durable management
 * API): a malformed one is refused with an error and leaves the state as it was. Each
 * operation passes a test-only kill point before it applies (shared/config/fault-injection.ts).
 */
import type * as df from 'durable-functions';
import { z } from 'zod';
import { passKillPoint } from '../../shared/config/fault-injection.js';
import type { LockOperations } from '../../shared/contracts/orchestrations.js';
import { acquireSlot, normaliseLock, releaseLock, requestTurn, setLockPhase, type LockState } from '../../shared/domain/environment-lock.js';

const party = z.object({
  instanceId: z.string().min(1),
  runId: z.string().min(1),
  requestedAt: z.string().min(1),
  kind: z.enum(['promotion', 'rollback', 'heal']),
  policy: z.enum(['latest', 'queue']),
  waiter: z.string().min(1).optional(),
});

const inputs = {
  request: z.object({ party, now: z.string().min(1) }),
  acquire: z.object({ party, now: z.string().min(1) }),
  phase: z.object({ instanceId: z.string().min(1), phase: z.enum(['waiting', 'approval', 'frozen', 'deploying']) }),
  release: z.object({ instanceId: z.string().min(1), now: z.string().min(1), what: z.enum(['all', 'slot']).optional() }),
} satisfies { [K in Exclude<keyof LockOperations, 'get'>]: z.ZodType<LockOperations[K]['input']> };

function inputOf<K extends keyof typeof inputs>(context: df.EntityContext<LockState>, operation: K): z.output<(typeof inputs)[K]> {
  const parsed = inputs[operation].safeParse(context.df.getInput());
  if (!parsed.success) {
    throw new Error(`environmentLock ${operation}: invalid input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data as z.output<(typeof inputs)[K]>;
}

export function environmentLockEntity(context: df.EntityContext<LockState>): void {
  const state = normaliseLock(context.df.getState(() => normaliseLock(undefined)));
  switch (context.df.operationName) {
    case 'request': {
      passKillPoint('lock.request');
      const { party: asker, now } = inputOf(context, 'request');
      const next = requestTurn(state, asker, now);
      context.df.setState(next.state);
      context.df.return(next.answer);
      return;
    }
    case 'acquire': {
      passKillPoint('lock.acquire');
      const { party: asker, now } = inputOf(context, 'acquire');
      const next = acquireSlot(state, asker, now);
      context.df.setState(next.state);
      context.df.return(next.answer);
      return;
    }
    case 'phase': {
      const { instanceId, phase } = inputOf(context, 'phase');
      const next = setLockPhase(state, instanceId, phase);
      context.df.setState(next.state);
      context.df.return({ wake: next.wake });
      return;
    }
    case 'release': {
      passKillPoint('lock.release');
      const { instanceId, now, what } = inputOf(context, 'release');
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
