/**
 * Runs an entity's queued operations in batches through the host, and handles the lock
 * messages of `context.df.lock()` critical sections (schema V4 LockEntities / ReleaseEntities).
 * While an entity is locked only its owner's messages are processed; the rest wait in order.
 */
import { randomUUID } from 'node:crypto';
import type { TxEffects } from './commit.js';
import type { EngineContext } from './engine-context.js';
import { parseSchedulerId, schedulerId } from './replay.js';
import type { EntityOpRow, EntityRow } from './store.js';
import { EventType, TERMINAL } from './types.js';

/** What the library's entity executor returns for a batch. */
interface EntityResult {
  entityExists: boolean;
  entityState?: string;
  results: { isError: boolean; result?: string }[];
  signals?: { target: { name: string; key: string }; name: string; input: string }[];
}

/** Operations delivered to the entity function in one call, at most. */
const MAX_BATCH = 1000;

export class EntityExecutor {
  constructor(private readonly ctx: EngineContext) {}

  /** Runs the next batch (or lock message) of an entity. Resolves true when more remain. */
  async run(entityId: string): Promise<boolean> {
    const { store, clock, host, committer, work } = this.ctx;
    const ops = store.entityOps(entityId);
    if (ops.length === 0) return false;
    const { name, key } = parseSchedulerId(entityId);
    const now = clock.now();
    const entity: EntityRow = store.getEntity(entityId) ?? { entity_id: entityId, name, key, state: null, locked_by: null, lock_request_id: null, updated_at: now };
    const batch: EntityOpRow[] = [];
    for (const o of ops) {
      // While locked, only the lock owner's messages are processed; the rest wait in order.
      if (entity.locked_by && o.parent_instance_id !== entity.locked_by) continue;
      if (o.kind === 'op') {
        batch.push(o);
        if (batch.length >= MAX_BATCH) break;
        continue;
      }
      if (batch.length > 0) break;
      await committer.run((fx) => this.lockMessageTx(fx, entity, o, now));
      return true;
    }
    if (batch.length === 0) return false;

    const fn = host.findFunction(name);
    let out: EntityResult | undefined;
    let error: string | undefined;
    if (!fn || fn.trigger.type !== 'entityTrigger') {
      error = `The entity function '${name}' doesn't exist.`;
    } else {
      try {
        out = (await host.invoke(fn, {
          self: { name, key },
          exists: entity.state !== null,
          state: entity.state,
          batch: batch.map((o) => ({ name: o.op, input: o.input ?? undefined, isSignal: o.is_signal === 1, id: o.request_id })),
        })) as EntityResult;
        if (!out || !Array.isArray(out.results)) throw new Error('the entity function returned no entity state');
      } catch (err) {
        error = String((err as Error)?.message ?? err);
        out = undefined;
      }
    }
    if (error) host.logger.warn('durable: entity batch failed', { entityId, error });
    await committer.run((fx) => {
      const at = clock.now();
      for (const o of batch) store.deleteEntityOp(o.id);
      if (out) {
        const state = out.entityExists ? (out.entityState ?? null) : null;
        store.putEntity({ ...entity, state, updated_at: at });
        for (const s of out.signals ?? []) {
          work.entityOp(fx, { entityId: schedulerId(s.target.name, s.target.key), kind: 'op', op: s.name, input: s.input === '' ? null : s.input, isSignal: true, requestId: randomUUID(), createdAt: at });
        }
      }
      batch.forEach((o, i) => {
        if (o.is_signal === 1 || !o.parent_instance_id || !o.request_id) return;
        const r = out?.results[i];
        const response: { result?: string; exceptionType?: string } = {};
        if (!r) {
          response.exceptionType = 'Error';
          response.result = JSON.stringify(error ?? 'entity operation produced no result');
        } else {
          if (r.result !== undefined) response.result = r.result;
          if (r.isError) response.exceptionType = 'Error';
        }
        work.inbox(fx, {
          instanceId: o.parent_instance_id, executionId: o.parent_execution_id, kind: 'event', visibleAt: at,
          event: { EventType: EventType.EventRaised, EventId: -1, IsPlayed: false, Timestamp: new Date(at).toISOString(), Name: o.request_id, Input: JSON.stringify(response) },
        });
      });
    });
    return ops.length > batch.length;
  }

  /** Lock acquisition / release messages (schema V4 critical sections). */
  private lockMessageTx(fx: TxEffects, entity: EntityRow, o: EntityOpRow, now: number): void {
    const { store, work } = this.ctx;
    store.deleteEntityOp(o.id);
    fx.readyEntities.add(entity.entity_id);
    if (o.kind === 'release') {
      if (entity.locked_by === o.parent_instance_id) store.putEntity({ ...entity, locked_by: null, lock_request_id: null, updated_at: now });
      return;
    }
    // Acquire: skip requests of instances that ended meanwhile (they would hold it forever).
    const owner = o.parent_instance_id ? store.getInstance(o.parent_instance_id) : undefined;
    if (!owner || TERMINAL.has(owner.status) || owner.execution_id !== o.parent_execution_id) return;
    store.putEntity({ ...entity, locked_by: o.parent_instance_id, lock_request_id: o.request_id, updated_at: now });
    const lockSet = JSON.parse(o.lock_set ?? '[]') as { name: string; key: string }[];
    const next = lockSet[o.pos + 1];
    if (next) {
      work.entityOp(fx, {
        entityId: schedulerId(next.name, next.key), kind: 'lock', requestId: o.request_id, parentInstanceId: o.parent_instance_id,
        parentExecutionId: o.parent_execution_id, lockSet, pos: o.pos + 1, createdAt: now,
      });
    } else {
      work.inbox(fx, {
        instanceId: o.parent_instance_id!, executionId: o.parent_execution_id, kind: 'event', visibleAt: now,
        event: { EventType: EventType.EventRaised, EventId: -1, IsPlayed: false, Timestamp: new Date(now).toISOString(), Name: o.request_id, Input: JSON.stringify({ result: 'Lock Acquisition Completed' }) },
      });
    }
  }
}
