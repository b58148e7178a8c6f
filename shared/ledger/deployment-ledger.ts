/**
 * The deployment ledger: per app and environment, immutable history records and a `current`
 * pointer, in blob storage (docs/architecture.md principle 6).
 *
 * Layout (state container):
 *   ledger/<app>/<env>/current.json               pointer, updated only with If-Match
 *   ledger/<app>/<env>/history/<inv>.json         one per revision, create-only
 *   ledger/<app>/<env>/bad/<rev>.json             "do not roll back to this", create-only
 * `<inv>` is 9999999999 - revision, zero-padded, so a plain (ascending) blob listing returns
 * newest first and history pages need no index.
 *
 * Gap-free revisions under racing writers: creating the history blob with If-None-Match: * is
 * the serialisation point. A writer tries `current.revision + 1`; a 409 means that number is
 * taken, so it tries the one after the newest stored revision. Revision n is only ever created
 * once n - 1 exists, so no gap can appear. `current` then only moves forward: on 412 re-read, and retry only if ours is
 * still newer. A writer that dies between the two steps leaves `current` behind history; the
 * next writer starts from `current`, walks past the taken numbers and moves `current` on.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import type { Actor } from '../domain/run.js';
import { upgradeStoredNames, type BadRevisionMarker, type CurrentDeployment, type DeploymentRecord, type NewDeployment } from '../domain/deployment.js';
import { ConflictError, CorruptDataError, NotFoundError, ValidationError } from '../errors.js';
import { NAME_PATTERN, NAME_RULE } from '../domain/ids.js';
import { createJson, ensureContainer, listAllNames, listNames, readJson, replaceJson, tryReadJson, type Versioned } from '../storage/blob-store.js';
import { announce, type ChangeFeed } from '../storage/change-feed.js';

const MAX_REVISION = 9_999_999_999;
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date');
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex>');

const actorSchema = z.strictObject({ id: z.string().min(1).max(320), name: z.string().max(200).optional() });

const newDeploymentSchema = z.object({
  commit: z.string().regex(/^[0-9a-f]{7,64}$/i, 'must be a commit id'),
  digest,
  runId: z.string().min(1).max(200),
  kind: z.enum(['deploy', 'rollback', 'heal']),
  rolledBackTo: z.number().int().positive().optional(),
  status: z.enum(['Succeeded', 'Failed']),
  reason: z.string().max(4000).optional(),
  verification: z.array(z.unknown()),
  requestedBy: actorSchema.optional(),
  target: z.record(z.string().max(100), z.union([z.string().max(1024 * 1024), z.number(), z.boolean(), z.null()])).optional(),
  startedAt: isoDate,
  finishedAt: isoDate,
});

const deploymentRecordShape = newDeploymentSchema.extend({
  app: z.string(),
  environment: z.string(),
  revision: z.number().int().positive(),
  recordedAt: isoDate,
}) satisfies z.ZodType<DeploymentRecord>;

/** Stored history record shape; records under the older names are upgraded on read. */
export const deploymentRecordSchema = z.preprocess(upgradeStoredNames, deploymentRecordShape) satisfies z.ZodType<DeploymentRecord>;

/** Stored `current` pointer shape; pointers under the older names are upgraded on read. */
export const currentDeploymentSchema = z.preprocess(
  upgradeStoredNames,
  z.object({
    app: z.string(),
    environment: z.string(),
    revision: z.number().int().positive(),
    commit: z.string(),
    digest,
    finishedAt: isoDate,
    runId: z.string(),
    status: z.enum(['Succeeded', 'Failed']),
    kind: z.enum(['deploy', 'rollback', 'heal']),
  }),
) satisfies z.ZodType<CurrentDeployment>;

const badMarkerSchema = z.preprocess(
  upgradeStoredNames,
  z.object({
    revision: z.number().int().positive(),
    reason: z.string(),
    markedBy: actorSchema.optional(),
    markedAt: isoDate,
  }),
) satisfies z.ZodType<BadRevisionMarker>;

/** A page of history, newest first. */
export interface HistoryPage {
  records: DeploymentRecord[];
  /** Pass back for the next (older) page; absent on the last one. */
  continuation?: string;
}

/** Options of {@link DeploymentLedger}. */
export interface LedgerOptions {
  /** Clock for `recordedAt`/`markedAt` (tests). */
  now?: () => Date;
  /** Give up a write after this many lost races (never reached in practice). Default 1000. */
  maxAttempts?: number;
  /** Told before a record is written (read models derived from `current`, such as the matrix snapshot). */
  changes?: ChangeFeed;
}

function checkName(kind: string, value: string): void {
  if (!NAME_PATTERN.test(value)) throw new ValidationError(`invalid ${kind} name ${JSON.stringify(value)}`, [{ path: kind, message: NAME_RULE }]);
}

function historyName(revision: number): string {
  return `${String(MAX_REVISION - revision).padStart(10, '0')}.json`;
}

function revisionFromHistoryName(name: string): number | undefined {
  const m = /\/history\/(\d{10})\.json$/.exec(name);
  return m ? MAX_REVISION - Number(m[1]) : undefined;
}

/** The deployment ledger of every app and environment in one state container. */
export class DeploymentLedger {
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly changes: ChangeFeed | undefined;

  /** Creates a ledger over `container` (normally `conveyor-state`). */
  constructor(
    private readonly container: ContainerClient,
    options: LedgerOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.maxAttempts = options.maxAttempts ?? 1000;
    this.changes = options.changes;
  }

  private base(app: string, env: string): string {
    checkName('app', app);
    checkName('environment', env);
    return `ledger/${app}/${env}`;
  }

  private checkRecord(record: DeploymentRecord, app: string, env: string, revision: number, path: string): DeploymentRecord {
    if (record.app !== app || record.environment !== env || record.revision !== revision) {
      throw new CorruptDataError(`ledger record ${path} claims ${record.app}/${record.environment} revision ${record.revision}; its location says ${app}/${env} revision ${revision}`);
    }
    return record;
  }

  /** The `current` pointer, or undefined when the environment was never deployed. */
  async current(app: string, env: string): Promise<CurrentDeployment | undefined> {
    const found = await tryReadJson(this.container, `${this.base(app, env)}/current.json`, currentDeploymentSchema);
    return found?.value;
  }

  /**
   * Appends a deployment or rollback: assigns the next revision (gap-free under races), stores
   * the immutable history record, then moves `current` forward. Resolves the stored record.
   * The change is announced to the change feed while the reads that precede the first write
   * (the newest revision, the `current` pointer) are under way; no write is sent before it is durable.
   */
  async record(app: string, env: string, entry: NewDeployment, options: { revision?: number } = {}): Promise<DeploymentRecord> {
    const base = this.base(app, env);
    const parsed = newDeploymentSchema.safeParse(entry);
    if (!parsed.success) {
      throw new ValidationError(
        `invalid deployment record for ${app}/${env}`,
        parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
      );
    }
    if (options.revision !== undefined && (!Number.isInteger(options.revision) || options.revision < 1 || options.revision > MAX_REVISION)) {
      throw new ValidationError(`invalid revision ${options.revision}`, [{ path: 'revision', message: 'must be a positive integer' }]);
    }
    const announcement = announce(this.changes, app);
    try {
      const ready = Promise.all([announcement.ready(), ensureContainer(this.container)]);
      if (options.revision !== undefined) return await this.recordAt(app, env, parsed.data, options.revision, ready);
      const [cur] = await Promise.all([tryReadJson(this.container, `${base}/current.json`, currentDeploymentSchema), ready]);
      let revision = (cur?.value.revision ?? 0) + 1;
      let record: DeploymentRecord | undefined;
      for (let attempt = 0; attempt < this.maxAttempts && !record; attempt++) {
        const candidate: DeploymentRecord = { ...parsed.data, app, environment: env, revision, recordedAt: this.now().toISOString() };
        try {
          await createJson(this.container, `${base}/history/${historyName(revision)}`, candidate);
          record = candidate;
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          // Taken. Skip straight past the newest existing revision: every number up to it exists
          // (each was created only after its predecessor), so this cannot open a gap.
          const newest = await listNames(this.container, `${base}/history/`, { pageSize: 1 });
          const top = newest.names[0] ? revisionFromHistoryName(newest.names[0]) : undefined;
          revision = Math.max(revision + 1, (top ?? 0) + 1);
        }
      }
      if (!record) throw new ConflictError(`could not allocate a revision for ${app}/${env} after ${this.maxAttempts} attempts`);
      await this.advanceCurrent(base, record, { found: cur });
      return record;
    } finally {
      announcement.done();
    }
  }

  /**
   * Stores a deployment under exactly `revision` (the number it was deployed as, taken from
   * {@link latestRevision} under the environment lock). Idempotent for the same run: a retry that
   * finds its own record returns it; a different record there -> ConflictError. Gap-free as long
   * as `revision` is at most the newest + 1, which is checked. `ready` resolves once writing may
   * begin (the change is announced); the reads do not wait for it.
   */
  private async recordAt(app: string, env: string, entry: NewDeployment, revision: number, ready: Promise<unknown>): Promise<DeploymentRecord> {
    const base = this.base(app, env);
    // `current` is read now, beside the other reads, for the move after the history record; a
    // writer that moves it meanwhile makes that move re-read (its write is conditioned on this ETag).
    const [latest, cur] = await Promise.all([this.latestRevision(app, env), tryReadJson(this.container, `${base}/current.json`, currentDeploymentSchema), ready]);
    if (revision > latest + 1) throw new ConflictError(`revision ${revision} of ${app}/${env} would leave a gap after revision ${latest}`);
    const candidate: DeploymentRecord = { ...entry, app, environment: env, revision, recordedAt: this.now().toISOString() };
    try {
      await createJson(this.container, `${base}/history/${historyName(revision)}`, candidate);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const existing = await this.get(app, env, revision);
      if (existing.runId !== entry.runId || existing.kind !== entry.kind || existing.digest !== entry.digest) {
        throw new ConflictError(`revision ${revision} of ${app}/${env} is already recorded by run ${existing.runId}`, { cause: err });
      }
      await this.advanceCurrent(base, existing, { found: cur });
      return existing;
    }
    await this.advanceCurrent(base, candidate, { found: cur });
    return candidate;
  }

  /** Names of the environments of `app` that have a ledger (deployed at least once), sorted. */
  async environments(app: string): Promise<string[]> {
    checkName('app', app);
    const prefix = `ledger/${app}/`;
    const names: string[] = [];
    try {
      for await (const item of this.container.listBlobsByHierarchy('/', { prefix })) {
        if (item.kind === 'prefix') names.push(item.name.slice(prefix.length, -1));
      }
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return [];
      throw err;
    }
    return names.sort();
  }

  /** The newest recorded revision of an environment (0 when none). */
  async latestRevision(app: string, env: string): Promise<number> {
    const newest = await listNames(this.container, `${this.base(app, env)}/history/`, { pageSize: 1 });
    const top = newest.names[0] ? revisionFromHistoryName(newest.names[0]) : undefined;
    return top ?? 0;
  }

  /**
   * Moves `current` to `record` unless something newer is already there. `read` holds the
   * pointer as read before (`found` undefined: it was absent then), used for the first attempt
   * instead of reading it again.
   */
  private async advanceCurrent(base: string, record: DeploymentRecord, read?: { found: Versioned<CurrentDeployment> | undefined }): Promise<void> {
    const path = `${base}/current.json`;
    const pointer: CurrentDeployment = {
      app: record.app,
      environment: record.environment,
      revision: record.revision,
      commit: record.commit,
      digest: record.digest,
      finishedAt: record.finishedAt,
      runId: record.runId,
      status: record.status,
      kind: record.kind,
    };
    let known = read;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const cur = known ? known.found : await tryReadJson(this.container, path, currentDeploymentSchema);
      known = undefined;
      if (cur && cur.value.revision >= record.revision) return;
      try {
        if (cur) await replaceJson(this.container, path, pointer, cur.etag);
        else await createJson(this.container, path, pointer);
        return;
      } catch (err) {
        // 409/412: someone moved it meanwhile (or since it was read). 404: it vanished between read and write. Re-read.
        if (!(err instanceof ConflictError) && !(err instanceof NotFoundError)) throw err;
      }
    }
    throw new ConflictError(`could not move ${path} to revision ${record.revision}`);
  }

  /** One history record. Missing -> NotFoundError. */
  async get(app: string, env: string, revision: number): Promise<DeploymentRecord> {
    if (!Number.isInteger(revision) || revision < 1 || revision > MAX_REVISION) {
      throw new ValidationError(`invalid revision ${revision}`, [{ path: 'revision', message: 'must be a positive integer' }]);
    }
    const path = `${this.base(app, env)}/history/${historyName(revision)}`;
    try {
      const { value } = await readJson(this.container, path, deploymentRecordSchema);
      return this.checkRecord(value, app, env, revision, path);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`revision ${revision} of ${app}/${env} not found`, { cause: err });
      throw err;
    }
  }

  /** History, newest first, one page at a time (page size 1-200, default 50; each record is one read). */
  async history(app: string, env: string, options: { pageSize?: number; continuation?: string } = {}): Promise<HistoryPage> {
    const base = this.base(app, env);
    const page = await listNames(this.container, `${base}/history/`, { pageSize: Math.min(Math.max(options.pageSize ?? 50, 1), 200), continuation: options.continuation });
    const records = await Promise.all(
      page.names.map(async (name) => {
        const revision = revisionFromHistoryName(name);
        if (revision === undefined) throw new CorruptDataError(`unexpected blob ${name} in the ledger history of ${app}/${env}`);
        const { value } = await readJson(this.container, name, deploymentRecordSchema);
        return this.checkRecord(value, app, env, revision, name);
      }),
    );
    return page.continuation ? { records, continuation: page.continuation } : { records };
  }

  /** Marks a revision bad (a separate create-only marker; history stays immutable). Marking twice -> ConflictError. */
  async markBad(app: string, env: string, revision: number, reason: string, markedBy?: Actor): Promise<BadRevisionMarker> {
    await this.get(app, env, revision);
    const marker: BadRevisionMarker = { revision, reason, ...(markedBy ? { markedBy } : {}), markedAt: this.now().toISOString() };
    await createJson(this.container, `${this.base(app, env)}/bad/${String(revision).padStart(10, '0')}.json`, marker);
    return marker;
  }

  /** Revisions marked bad. */
  async badRevisions(app: string, env: string): Promise<Set<number>> {
    const names = await listAllNames(this.container, `${this.base(app, env)}/bad/`);
    const out = new Set<number>();
    for (const name of names) {
      const m = /\/bad\/(\d{10})\.json$/.exec(name);
      if (!m) throw new CorruptDataError(`unexpected blob ${name} among the bad-revision markers of ${app}/${env}`);
      out.add(Number(m[1]));
    }
    return out;
  }

  /** The marker of a bad revision, if any. */
  async badMarker(app: string, env: string, revision: number): Promise<BadRevisionMarker | undefined> {
    return (await tryReadJson(this.container, `${this.base(app, env)}/bad/${String(revision).padStart(10, '0')}.json`, badMarkerSchema))?.value;
  }

  /**
   * The newest Succeeded revision that is not marked bad (optionally older than `before`), or
   * undefined when there is none: the rollback target.
   */
  async lastGood(app: string, env: string, options: { before?: number } = {}): Promise<DeploymentRecord | undefined> {
    const bad = await this.badRevisions(app, env);
    let continuation: string | undefined;
    do {
      const page = await this.history(app, env, { pageSize: 100, continuation });
      for (const r of page.records) {
        if (options.before !== undefined && r.revision >= options.before) continue;
        if (r.status === 'Succeeded' && !bad.has(r.revision)) return r;
      }
      continuation = page.continuation;
    } while (continuation);
    return undefined;
  }
}
