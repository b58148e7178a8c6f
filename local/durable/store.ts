/**
 * SQLite (WAL) persistence of one task hub: instances, history of the current execution,
 * the orchestration inbox (new events, including timers as events with a future
 * `visible_at`), activity work items, entity operations and entity state.
 *
 * Every state change of the engine is a function run inside one transaction (see
 * GroupCommitter), so a crash leaves either all of an episode's outcome or none of it.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ReplayState, RuntimeStatus } from './types.js';

export type Db = Database.Database;

export interface InstanceRow {
  instance_id: string;
  name: string;
  execution_id: string;
  status: RuntimeStatus;
  input: string | null;
  output: string | null;
  custom_status: string | null;
  created_at: number;
  updated_at: number;
  parent_instance_id: string | null;
  parent_execution_id: string | null;
  parent_task_id: number | null;
  version: string | null;
  state: string;
}

export interface InboxRow {
  id: number;
  instance_id: string;
  execution_id: string | null;
  kind: string;
  timer_id: number | null;
  visible_at: number;
  event: string;
}

export interface ActivityRow {
  id: number;
  instance_id: string;
  execution_id: string;
  task_id: number;
  name: string;
  input: string | null;
}

export interface EntityOpRow {
  id: number;
  entity_id: string;
  kind: 'op' | 'lock' | 'release';
  op: string | null;
  input: string | null;
  is_signal: number;
  request_id: string | null;
  parent_instance_id: string | null;
  parent_execution_id: string | null;
  lock_set: string | null;
  pos: number;
  created_at: number;
}

export interface EntityRow {
  entity_id: string;
  name: string;
  key: string;
  state: string | null;
  locked_by: string | null;
  lock_request_id: string | null;
  updated_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS instances (
  instance_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  execution_id TEXT NOT NULL,
  status TEXT NOT NULL,
  input TEXT, output TEXT, custom_status TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  parent_instance_id TEXT, parent_execution_id TEXT, parent_task_id INTEGER,
  version TEXT,
  state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_instances_created ON instances(created_at, instance_id);
CREATE TABLE IF NOT EXISTS history (
  instance_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event TEXT NOT NULL,
  PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id TEXT NOT NULL,
  execution_id TEXT,
  kind TEXT NOT NULL,
  timer_id INTEGER,
  visible_at INTEGER NOT NULL,
  event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_inbox_instance ON inbox(instance_id, id);
CREATE INDEX IF NOT EXISTS ix_inbox_visible ON inbox(visible_at);
CREATE TABLE IF NOT EXISTS activities (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id TEXT NOT NULL,
  execution_id TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  input TEXT
);
CREATE TABLE IF NOT EXISTS entity_ops (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  entity_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  op TEXT,
  input TEXT,
  is_signal INTEGER NOT NULL DEFAULT 0,
  request_id TEXT,
  parent_instance_id TEXT,
  parent_execution_id TEXT,
  lock_set TEXT,
  pos INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_entity_ops ON entity_ops(entity_id, id);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entities (
  entity_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  key TEXT NOT NULL,
  state TEXT,
  locked_by TEXT,
  lock_request_id TEXT,
  updated_at INTEGER NOT NULL
);
`;

/** A new inbox message (event for an orchestration instance). */
export interface InboxInsert {
  instanceId: string;
  /** Execution the event belongs to; null for external events (go to the current one). */
  executionId: string | null;
  kind: string;
  timerId?: number | null;
  visibleAt: number;
  event: object;
}

export interface EntityOpInsert {
  entityId: string;
  kind: 'op' | 'lock' | 'release';
  op?: string | null;
  input?: string | null;
  isSignal?: boolean;
  requestId?: string | null;
  parentInstanceId?: string | null;
  parentExecutionId?: string | null;
  lockSet?: { name: string; key: string }[] | null;
  pos?: number;
  createdAt: number;
}

export interface ListFilter {
  runtimeStatus?: string[];
  createdTimeFrom?: number;
  createdTimeTo?: number;
  instanceIdPrefix?: string;
}

/** Prepared statements over one task hub database. */
export class DurableStore {
  readonly db: Db;
  private readonly s;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { timeout: 0 });
    try {
      // One host per task hub: a second process on the same state folder would dispatch the
      // same work twice. EXCLUSIVE locking holds the database lock for the connection's life
      // (the OS drops it if the process dies, so kill -9 never leaves it stuck).
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.exec('BEGIN IMMEDIATE; COMMIT;');
    } catch (err) {
      this.db.close();
      throw new Error(`the durable task hub database ${path} is in use by another host process (is the state folder shared?)`, { cause: err });
    }
    // WAL + NORMAL: a commit survives a process crash (kill -9); only an OS crash or power
    // loss can drop the last transactions. That is the durability a local host needs.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    const db = this.db;
    this.s = {
      getInstance: db.prepare<[string], InstanceRow>('SELECT * FROM instances WHERE instance_id = ?'),
      insertInstance: db.prepare(
        `INSERT INTO instances (instance_id, name, execution_id, status, input, output, custom_status, created_at, updated_at,
           parent_instance_id, parent_execution_id, parent_task_id, version, state)
         VALUES (@instance_id, @name, @execution_id, @status, @input, @output, @custom_status, @created_at, @updated_at,
           @parent_instance_id, @parent_execution_id, @parent_task_id, @version, @state)
         ON CONFLICT(instance_id) DO UPDATE SET name=excluded.name, execution_id=excluded.execution_id, status=excluded.status,
           input=excluded.input, output=excluded.output, custom_status=excluded.custom_status, created_at=excluded.created_at,
           updated_at=excluded.updated_at, parent_instance_id=excluded.parent_instance_id,
           parent_execution_id=excluded.parent_execution_id, parent_task_id=excluded.parent_task_id,
           version=excluded.version, state=excluded.state`,
      ),
      updateInstance: db.prepare(
        `UPDATE instances SET status=@status, input=@input, output=@output, custom_status=@custom_status, updated_at=@updated_at,
           execution_id=@execution_id, state=@state WHERE instance_id=@instance_id AND execution_id=@expected_execution_id`,
      ),
      updateStatus: db.prepare('UPDATE instances SET status = ?, updated_at = ? WHERE instance_id = ?'),
      deleteInstance: db.prepare('DELETE FROM instances WHERE instance_id = ?'),
      history: db.prepare<[string], { event: string }>('SELECT event FROM history WHERE instance_id = ? ORDER BY seq'),
      historyCount: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM history WHERE instance_id = ?'),
      appendHistory: db.prepare('INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)'),
      deleteHistory: db.prepare('DELETE FROM history WHERE instance_id = ?'),
      insertInbox: db.prepare(
        'INSERT INTO inbox (instance_id, execution_id, kind, timer_id, visible_at, event) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      visibleInbox: db.prepare<[string, number], InboxRow>(
        'SELECT * FROM inbox WHERE instance_id = ? AND visible_at <= ? ORDER BY id',
      ),
      deleteInbox: db.prepare('DELETE FROM inbox WHERE id = ?'),
      deleteInboxOf: db.prepare('DELETE FROM inbox WHERE instance_id = ?'),
      deleteTimer: db.prepare("DELETE FROM inbox WHERE instance_id = ? AND execution_id = ? AND kind = 'timer' AND timer_id = ?"),
      deleteFutureOf: db.prepare('DELETE FROM inbox WHERE instance_id = ? AND visible_at > ?'),
      deleteExecutionInbox: db.prepare('DELETE FROM inbox WHERE instance_id = ? AND execution_id = ?'),
      readyInstances: db.prepare<[number], { instance_id: string }>('SELECT DISTINCT instance_id FROM inbox WHERE visible_at <= ?'),
      nextVisible: db.prepare<[number], { t: number | null }>('SELECT MIN(visible_at) AS t FROM inbox WHERE visible_at > ?'),
      insertActivity: db.prepare(
        'INSERT INTO activities (instance_id, execution_id, task_id, name, input) VALUES (?, ?, ?, ?, ?)',
      ),
      allActivities: db.prepare<[], ActivityRow>('SELECT * FROM activities ORDER BY id'),
      deleteActivity: db.prepare('DELETE FROM activities WHERE id = ?'),
      deleteActivitiesOf: db.prepare('DELETE FROM activities WHERE instance_id = ?'),
      insertEntityOp: db.prepare(
        `INSERT INTO entity_ops (entity_id, kind, op, input, is_signal, request_id, parent_instance_id, parent_execution_id, lock_set, pos, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      entityOps: db.prepare<[string], EntityOpRow>('SELECT * FROM entity_ops WHERE entity_id = ? ORDER BY id'),
      deleteEntityOp: db.prepare('DELETE FROM entity_ops WHERE id = ?'),
      readyEntities: db.prepare<[], { entity_id: string }>('SELECT DISTINCT entity_id FROM entity_ops'),
      getEntity: db.prepare<[string], EntityRow>('SELECT * FROM entities WHERE entity_id = ?'),
      upsertEntity: db.prepare(
        `INSERT INTO entities (entity_id, name, key, state, locked_by, lock_request_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(entity_id) DO UPDATE SET state=excluded.state, locked_by=excluded.locked_by,
           lock_request_id=excluded.lock_request_id, updated_at=excluded.updated_at`,
      ),
      lockedBy: db.prepare<[string], EntityRow>('SELECT * FROM entities WHERE locked_by = ?'),
      unlockAllOf: db.prepare('UPDATE entities SET locked_by = NULL, lock_request_id = NULL WHERE locked_by = ?'),
      listEntities: db.prepare<[string], EntityRow>('SELECT * FROM entities WHERE name = ? ORDER BY key'),
    };
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  getInstance(id: string): InstanceRow | undefined {
    return this.s.getInstance.get(id);
  }

  putInstance(row: InstanceRow): void {
    this.s.insertInstance.run(row);
  }

  /** Conditional update: false when the execution changed under us (id reused / purged). */
  updateInstance(row: InstanceRow, expectedExecutionId: string): boolean {
    return this.s.updateInstance.run({ ...row, expected_execution_id: expectedExecutionId }).changes === 1;
  }

  setStatus(id: string, status: RuntimeStatus, at: number): void {
    this.s.updateStatus.run(status, at, id);
  }

  /** History events of the current execution as JSON texts, in order. */
  historyTexts(id: string): string[] {
    return this.s.history.all(id).map((r) => r.event);
  }

  appendHistory(id: string, startSeq: number, events: readonly object[]): void {
    let seq = startSeq;
    for (const e of events) this.s.appendHistory.run(id, seq++, JSON.stringify(e));
  }

  appendHistoryTexts(id: string, startSeq: number, texts: readonly string[]): void {
    let seq = startSeq;
    for (const t of texts) this.s.appendHistory.run(id, seq++, t);
  }

  resetHistory(id: string): void {
    this.s.deleteHistory.run(id);
  }

  insertInbox(m: InboxInsert): void {
    this.s.insertInbox.run(m.instanceId, m.executionId, m.kind, m.timerId ?? null, m.visibleAt, JSON.stringify(m.event));
  }

  visibleInbox(id: string, now: number): InboxRow[] {
    return this.s.visibleInbox.all(id, now);
  }

  deleteInbox(rowId: number): void {
    this.s.deleteInbox.run(rowId);
  }

  cancelTimer(id: string, executionId: string, timerId: number): void {
    this.s.deleteTimer.run(id, executionId, timerId);
  }

  /** Drops timers and other future messages of an instance (it finished). */
  deleteFutureInbox(id: string, now: number): void {
    this.s.deleteFutureOf.run(id, now);
  }

  /** Drops timers and results addressed to one execution (external events stay queued). */
  deleteExecutionInbox(id: string, executionId: string): void {
    this.s.deleteExecutionInbox.run(id, executionId);
  }

  readyInstances(now: number): string[] {
    return this.s.readyInstances.all(now).map((r) => r.instance_id);
  }

  nextVisibleAfter(now: number): number | null {
    return this.s.nextVisible.get(now)?.t ?? null;
  }

  insertActivity(instanceId: string, executionId: string, taskId: number, name: string, input: string | null): number {
    return Number(this.s.insertActivity.run(instanceId, executionId, taskId, name, input).lastInsertRowid);
  }

  allActivities(): ActivityRow[] {
    return this.s.allActivities.all();
  }

  deleteActivity(rowId: number): void {
    this.s.deleteActivity.run(rowId);
  }

  insertEntityOp(o: EntityOpInsert): void {
    this.s.insertEntityOp.run(
      o.entityId, o.kind, o.op ?? null, o.input ?? null, o.isSignal ? 1 : 0, o.requestId ?? null, o.parentInstanceId ?? null,
      o.parentExecutionId ?? null, o.lockSet ? JSON.stringify(o.lockSet) : null, o.pos ?? 0, o.createdAt,
    );
  }

  entityOps(entityId: string): EntityOpRow[] {
    return this.s.entityOps.all(entityId);
  }

  deleteEntityOp(rowId: number): void {
    this.s.deleteEntityOp.run(rowId);
  }

  readyEntities(): string[] {
    return this.s.readyEntities.all().map((r) => r.entity_id);
  }

  getEntity(entityId: string): EntityRow | undefined {
    return this.s.getEntity.get(entityId);
  }

  putEntity(e: EntityRow): void {
    this.s.upsertEntity.run(e.entity_id, e.name, e.key, e.state, e.locked_by, e.lock_request_id, e.updated_at);
  }

  entitiesLockedBy(instanceId: string): EntityRow[] {
    return this.s.lockedBy.all(instanceId);
  }

  listEntities(name: string): EntityRow[] {
    return this.s.listEntities.all(name);
  }

  /** Lists instances ordered by (created_at, instance_id), starting after a keyset cursor. */
  listInstances(f: ListFilter, limit: number, after?: { created: number; id: string }): InstanceRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.runtimeStatus?.length) {
      where.push(`status IN (${f.runtimeStatus.map(() => '?').join(',')})`);
      args.push(...f.runtimeStatus);
    }
    if (f.createdTimeFrom !== undefined) {
      where.push('created_at >= ?');
      args.push(f.createdTimeFrom);
    }
    if (f.createdTimeTo !== undefined) {
      where.push('created_at <= ?');
      args.push(f.createdTimeTo);
    }
    if (f.instanceIdPrefix) {
      // substr comparison instead of LIKE: ids may contain % and _.
      where.push('substr(instance_id, 1, ?) = ?');
      args.push(f.instanceIdPrefix.length, f.instanceIdPrefix);
    }
    if (after) {
      where.push('(created_at > ? OR (created_at = ? AND instance_id > ?))');
      args.push(after.created, after.created, after.id);
    }
    const sql = `SELECT * FROM instances ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at, instance_id LIMIT ?`;
    return this.db.prepare(sql).all(...args, limit) as InstanceRow[];
  }

  /** Deletes an instance with everything it owns. */
  purge(id: string): void {
    this.s.deleteHistory.run(id);
    this.s.deleteInboxOf.run(id);
    this.s.deleteActivitiesOf.run(id);
    this.s.deleteInstance.run(id);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export function parseState(text: string): ReplayState {
  return JSON.parse(text) as ReplayState;
}
