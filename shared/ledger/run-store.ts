/**
 * Run records in blob storage: `runs/<app>/<runId>.json`, created once and then updated with
 * ETag conditions (read-modify-write that retries on 412, so concurrent activities of one run
 * never overwrite each other's changes).
 *
 * Newest-first listing: run ids are not time-ordered, so `create` also writes an empty marker
 * `runs-index/<app>/<inverted ms>_<runId>`; a plain ascending listing of that prefix is newest
 * first and pages with the storage continuation token.
 *
 * A run's record is patched many times by its own activities, one after another. The store
 * keeps the version it last wrote (value and ETag) of recent runs, and `update` starts from it
 * instead of reading the record again: the write is conditioned on that ETag, so if anyone else
 * wrote in between, storage answers 412 and the update re-reads and retries as always.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import { upgradeStoredActor, type RunRecord } from '../domain/run.js';
import { STATUSES } from '../domain/status.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { NAME_PATTERN, NAME_RULE, STORED_ID_PATTERN } from '../domain/ids.js';
import { createJson, ensureContainer, listNames, readJson, replaceJson, type Versioned } from '../storage/blob-store.js';
import { announce, announced, type ChangeFeed } from '../storage/change-feed.js';

const status = z.enum(STATUSES);
const verification = z.array(
  z.looseObject({ check: z.number(), attempt: z.number(), ok: z.boolean(), at: z.string(), durationMs: z.number(), status: z.number().optional(), reason: z.string().optional() }),
);

/** Stored run record shape (extra fields are preserved). */
export const runRecordSchema = z.looseObject({
  app: z.string(),
  runId: z.string(),
  status,
  commit: z.string(),
  branch: z.string().optional(),
  reason: z.string().optional(),
  pusher: z.looseObject({ id: z.string(), name: z.string().optional() }).optional(),
  headCommit: z.looseObject({ message: z.string(), author: z.string() }).optional(),
  digest: z.string().optional(),
  stages: z.record(
    z.string(),
    z.looseObject({ status, reason: z.string().optional(), startedAt: z.string().optional(), finishedAt: z.string().optional(), logName: z.string().optional() }),
  ),
  environments: z.record(
    z.string(),
    z.looseObject({
      status,
      reason: z.string().optional(),
      startedAt: z.string().optional(),
      finishedAt: z.string().optional(),
      revision: z.number().int().optional(),
      rolledBackTo: z.number().int().optional(),
      verification: verification.optional(),
      // Break-glass recorded before actors were whole names only the id: upgraded on read.
      breakGlass: z.looseObject({ by: z.preprocess(upgradeStoredActor, z.looseObject({ id: z.string(), name: z.string().optional() })), reason: z.string(), at: z.string() }).optional(),
    }),
  ),
  environmentOrder: z.array(z.string()).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
}) satisfies z.ZodType<RunRecord>;

const MAX_MS = 9_999_999_999_999;

/** A page of runs, newest first. */
export interface RunPage {
  runs: RunRecord[];
  continuation?: string;
}

/** Options of {@link RunStore}. */
export interface RunStoreOptions {
  /** Clock for createdAt/updatedAt (tests). */
  now?: () => Date;
  /** Lost races tolerated by `update` before giving up. Default 100. */
  maxAttempts?: number;
  /** Told before a run record is written (read models that show runs, such as the matrix snapshot). */
  changes?: ChangeFeed;
  /** Runs whose last written version is kept to start the next update from. Default 256. */
  writtenCacheSize?: number;
}

/** What `create` needs; timestamps are filled in. */
export type NewRun = Omit<RunRecord, 'createdAt' | 'updatedAt' | 'stages' | 'environments'> & Partial<Pick<RunRecord, 'stages' | 'environments'>>;

/** Typed store of run records. */
export class RunStore {
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly changes: ChangeFeed | undefined;
  private readonly writtenCacheSize: number;
  /** The version this store last wrote of recent runs, by path (least recently written first). */
  private readonly written = new Map<string, Versioned<RunRecord>>();

  /** Creates a store over `container` (normally `conveyor-state`). */
  constructor(
    private readonly container: ContainerClient,
    options: RunStoreOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.maxAttempts = options.maxAttempts ?? 100;
    this.changes = options.changes;
    this.writtenCacheSize = options.writtenCacheSize ?? 256;
  }

  /** Remembers the version just written (the only version update may start from without reading). */
  private remember(path: string, version: Versioned<RunRecord>): Versioned<RunRecord> {
    this.written.delete(path);
    // A copy: what the caller gets back is theirs to change.
    this.written.set(path, { value: structuredClone(version.value), etag: version.etag });
    if (this.written.size > this.writtenCacheSize) this.written.delete(this.written.keys().next().value!);
    return version;
  }

  private path(app: string, runId: string): string {
    if (!NAME_PATTERN.test(app)) throw new ValidationError(`invalid app name ${JSON.stringify(app)}`, [{ path: 'app', message: NAME_RULE }]);
    if (!STORED_ID_PATTERN.test(runId)) throw new ValidationError(`invalid run id ${JSON.stringify(runId.slice(0, 80))}`, [{ path: 'runId', message: 'letters, digits and ._:@- only' }]);
    return `runs/${app}/${runId}.json`;
  }

  private validate(record: unknown): RunRecord {
    const parsed = runRecordSchema.safeParse(record);
    if (!parsed.success) {
      throw new ValidationError('invalid run record', parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })));
    }
    return parsed.data;
  }

  /** Creates a run record; an existing run id -> ConflictError. */
  async create(run: NewRun): Promise<Versioned<RunRecord>> {
    const path = this.path(run.app, run.runId);
    const at = this.now();
    const record = this.validate({ ...run, stages: run.stages ?? {}, environments: run.environments ?? {}, createdAt: at.toISOString(), updatedAt: at.toISOString() });
    await ensureContainer(this.container);
    // Announced around both writes: the run shows in listings once its index marker exists.
    return announced(this.changes, run.app, async () => {
      const etag = await createJson(this.container, path, record);
      this.remember(path, { value: record, etag });
      const index = `runs-index/${run.app}/${String(MAX_MS - at.getTime()).padStart(13, '0')}_${run.runId}`;
      await createJson(this.container, index, { runId: run.runId }).catch((err: unknown) => {
        if (!(err instanceof ConflictError)) throw err;
      });
      return { value: record, etag };
    });
  }

  /** Reads a run with its ETag. Missing -> NotFoundError; unreadable -> CorruptDataError. */
  async get(app: string, runId: string): Promise<Versioned<RunRecord>> {
    const path = this.path(app, runId);
    try {
      return await readJson(this.container, path, runRecordSchema);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`run ${runId} of ${app} not found`, { cause: err });
      throw err;
    }
  }

  /** Replaces a run only if it is still at `etag` (412 -> ConflictError). */
  async replace(record: RunRecord, etag: string): Promise<Versioned<RunRecord>> {
    const path = this.path(record.app, record.runId);
    const value = this.validate({ ...record, updatedAt: this.now().toISOString() });
    return this.remember(path, { value, etag: await announced(this.changes, record.app, () => replaceJson(this.container, path, value, etag)) });
  }

  /**
   * Read-modify-write with ETag retries: `mutate` gets the current record (a copy) and returns
   * the new one; on a lost race it runs again on the fresh record. It starts from the version this
   * store last wrote, when it has it (see the module comment), and announces the change while it
   * reads.
   */
  async update(app: string, runId: string, mutate: (run: RunRecord) => RunRecord): Promise<RunRecord> {
    const path = this.path(app, runId);
    const announcement = announce(this.changes, app);
    try {
      let known = this.written.get(path);
      for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
        const { value, etag } = known ?? (await this.get(app, runId));
        const next = mutate(structuredClone(value));
        if (next.app !== app || next.runId !== runId) throw new ValidationError('a run update cannot change app or runId', [{ path: 'runId', message: 'immutable' }]);
        const record = this.validate({ ...next, updatedAt: this.now().toISOString() });
        await announcement.ready();
        try {
          return this.remember(path, { value: record, etag: await replaceJson(this.container, path, record, etag) }).value;
        } catch (err) {
          // Someone else wrote (or removed) it since that version: read what is stored now.
          if (!(err instanceof ConflictError) && !(err instanceof NotFoundError && known)) throw err;
          if (this.written.get(path)?.etag === etag) this.written.delete(path);
          known = undefined;
        }
      }
      throw new ConflictError(`run ${runId} of ${app} kept changing; gave up after ${this.maxAttempts} attempts`);
    } finally {
      announcement.done();
    }
  }

  /** Runs of an app, newest first, one page at a time (page size 1-200, default 50). */
  async list(app: string, options: { pageSize?: number; continuation?: string } = {}): Promise<RunPage> {
    this.path(app, 'x');
    const page = await listNames(this.container, `runs-index/${app}/`, { pageSize: Math.min(Math.max(options.pageSize ?? 50, 1), 200), continuation: options.continuation });
    const runs = await Promise.all(
      page.names.map(async (name) => {
        const runId = name.slice(name.indexOf('_', `runs-index/${app}/`.length) + 1);
        try {
          return (await this.get(app, runId)).value;
        } catch (err) {
          // An index marker without its record (a create that failed half-way) is skipped.
          if (err instanceof NotFoundError) return undefined;
          throw err;
        }
      }),
    );
    const present = runs.filter((r): r is RunRecord => r !== undefined);
    return page.continuation ? { runs: present, continuation: page.continuation } : { runs: present };
  }
}
