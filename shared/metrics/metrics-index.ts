/**
 * The metrics index: per app and environment one blob holding a compact copy of every ledger
 * record the DORA metrics need, in revision order, so a metrics request reads one blob per
 * environment instead of every history record (10,000 records -> 1 read, not 10,000).
 *
 *   metrics-index/<app>/<env>.json    { schema: 1, app, environment, entries: [[...], ...] }
 *
 * It is derived data and cannot silently diverge from the ledger:
 * - entries are copies of immutable, create-only history records, keyed by revision; the index
 *   must hold revisions 1..n with no gap and in order, or it is thrown away and rebuilt;
 * - every read compares n with the ledger's newest revision (one listing of one name) and
 *   catches up on the difference before answering; an index ahead of the ledger is rebuilt;
 * - when it is complete, its newest entry is compared with the ledger's newest record (same run
 *   and commit), so an index left over from an older ledger under the same names is rebuilt;
 * - it is written only with ETag conditions (create-only, or If-Match); a writer that loses the
 *   race re-reads, so two writers never interleave.
 * `recordDeployment` also catches the index up right after recording, so reads rarely have to.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import type { DeploymentRecord } from '../domain/deployment.js';
import { ConflictError, CorruptDataError, NotFoundError, ValidationError } from '../errors.js';
import type { DeploymentLedger } from '../ledger/deployment-ledger.js';
import type { RunStore } from '../ledger/run-store.js';
import { isName } from '../domain/ids.js';
import { createJson, ensureContainer, mapStorageError, parseJsonRecord, replaceJson, storageStatus, type Versioned } from '../storage/blob-store.js';
import { environmentMetrics, type DoraOptions, type EnvironmentMetrics, type MetricsEntry } from './dora.js';
import type { TimeWindow } from './window.js';

/**
 * One entry, stored as a tuple to keep 10,000 of them near 1.5 MB:
 * [revision, kind, status, commit, runId, startedAt ms, finishedAt ms, changeAt ms | null, rolledBackTo | null].
 */
const entryTuple = z.tuple([
  z.number().int().positive(),
  z.enum(['deploy', 'rollback', 'heal']),
  z.enum(['Succeeded', 'Failed']),
  z.string(),
  z.string(),
  z.number(),
  z.number(),
  z.number().nullable(),
  z.number().int().positive().nullable(),
]);
type EntryTuple = z.infer<typeof entryTuple>;

const indexSchema = z.object({
  schema: z.literal(1),
  app: z.string(),
  environment: z.string(),
  entries: z.array(entryTuple),
});
type IndexDocument = z.infer<typeof indexSchema>;

function toTuple(e: MetricsEntry): EntryTuple {
  return [e.revision, e.kind, e.status, e.commit, e.runId, e.startedAt, e.finishedAt, e.changeAt ?? null, e.rolledBackTo ?? null];
}

function fromTuple(t: EntryTuple): MetricsEntry {
  const [revision, kind, status, commit, runId, startedAt, finishedAt, changeAt, rolledBackTo] = t;
  return { revision, kind, status, commit, runId, startedAt, finishedAt, ...(changeAt !== null ? { changeAt } : {}), ...(rolledBackTo !== null ? { rolledBackTo } : {}) };
}

/** What the index reads of the ledger. */
export type LedgerReader = Pick<DeploymentLedger, 'latestRevision' | 'get'>;
/** What the index reads of the run records (when a change entered Conveyor). */
export type RunReader = Pick<RunStore, 'get'>;

/** Options of {@link MetricsIndex}. */
export interface MetricsIndexOptions {
  /** Ledger records read at once while catching up. Default 32. */
  readConcurrency?: number;
  /** Records added per index write while catching up, so a long catch-up makes progress. Default 2000. */
  batchSize?: number;
  /** Largest index document accepted. Default 64 MiB. */
  maxBytes?: number;
  /** Parsed index documents kept in memory, re-validated by ETag on every read. Default 64. */
  cacheSize?: number;
  /**
   * Entries those cached documents may hold together (an index grows with its environment's
   * history, so 64 documents alone do not bound memory). Default 50,000 (~15 MiB).
   */
  cacheEntries?: number;
}

/** What a catch-up did (for logs and tests). */
export interface CatchUpResult {
  /** Revisions the index holds afterwards (= the ledger's newest revision). */
  revisions: number;
  /** Entries added by this call. */
  added: number;
  /** True when the stored index was inconsistent with the ledger and was rebuilt. */
  rebuilt: boolean;
}

/** Keeps and reads the per-environment metrics index. */
export class MetricsIndex {
  private readonly readConcurrency: number;
  private readonly batchSize: number;
  private readonly maxBytes: number;
  private readonly cacheSize: number;
  private readonly cacheEntries: number;
  /** Parsed documents by blob path, only ever used after storage confirmed the ETag (304). */
  private readonly cache = new Map<string, Versioned<IndexDocument>>();
  private cachedEntries = 0;

  /** Creates an index over `container` (normally `conveyor-state`), reading `ledger` and `runs`. */
  constructor(
    private readonly container: ContainerClient,
    private readonly ledger: LedgerReader,
    private readonly runs: RunReader,
    options: MetricsIndexOptions = {},
  ) {
    this.readConcurrency = options.readConcurrency ?? 32;
    this.batchSize = options.batchSize ?? 2000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.cacheSize = options.cacheSize ?? 64;
    this.cacheEntries = options.cacheEntries ?? 50_000;
  }

  /** Keeps a parsed document, least recently stored ones leaving first past either cap. */
  private remember(path: string, doc: Versioned<IndexDocument>): void {
    this.forget(path);
    if (doc.value.entries.length > this.cacheEntries) return;
    this.cache.set(path, doc);
    this.cachedEntries += doc.value.entries.length;
    while (this.cache.size > this.cacheSize || this.cachedEntries > this.cacheEntries) this.forget(this.cache.keys().next().value!);
  }

  private forget(path: string): void {
    const old = this.cache.get(path);
    if (!old) return;
    this.cache.delete(path);
    this.cachedEntries -= old.value.entries.length;
  }

  /**
   * Reads the stored document: a conditional GET when a parsed copy is cached (304 -> the copy,
   * no transfer, no parse). Missing -> undefined; unreadable -> CorruptDataError.
   */
  private async readIndex(path: string): Promise<Versioned<IndexDocument> | undefined> {
    const cached = this.cache.get(path);
    const blob = this.container.getBlobClient(path);
    let res;
    try {
      res = await blob.download(0, undefined, cached ? { conditions: { ifNoneMatch: cached.etag } } : {});
    } catch (err) {
      const status = storageStatus(err);
      if (status === 304 && cached) return cached;
      this.forget(path);
      if (status === 404) return undefined;
      throw mapStorageError(err, `blob ${this.container.containerName}/${path}`);
    }
    if ((res.contentLength ?? 0) > this.maxBytes) {
      res.readableStreamBody?.resume();
      throw new CorruptDataError(`metrics index ${path} is ${res.contentLength} bytes, more than ${this.maxBytes}`);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of res.readableStreamBody ?? []) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    const value = parseJsonRecord(Buffer.concat(chunks).toString('utf8'), indexSchema, `metrics index ${path}`);
    const found = { value, etag: res.etag ?? '' };
    this.remember(path, found);
    return found;
  }

  private path(app: string, env: string): string {
    if (!isName(app) || !isName(env)) throw new NotFoundError(`no environment ${JSON.stringify(env.slice(0, 40))} of app ${JSON.stringify(app.slice(0, 40))}`);
    return `metrics-index/${app}/${env}.json`;
  }

  /**
   * The entries of one environment, oldest first, caught up with the ledger. Always equal to
   * what reading every history record would give (see the module comment for why).
   */
  async entries(app: string, env: string): Promise<MetricsEntry[]> {
    const doc = await this.sync(app, env);
    return doc.entries.map(fromTuple);
  }

  /**
   * Brings the stored index of one environment up to the ledger's newest revision. `known` are
   * history records the caller has just stored or read (immutable, so they need not be read again).
   */
  async catchUp(app: string, env: string, known: readonly DeploymentRecord[] = []): Promise<CatchUpResult> {
    let rebuilt = false;
    let before = 0;
    const doc = await this.sync(
      app,
      env,
      (r, b) => {
        rebuilt ||= r;
        before = b;
      },
      known,
    );
    return { revisions: doc.entries.length, added: doc.entries.length - before, rebuilt };
  }

  /** The metrics of each environment, in the order given. */
  async metrics(app: string, environments: readonly string[], window: TimeWindow, options: DoraOptions = {}): Promise<EnvironmentMetrics[]> {
    return Promise.all(environments.map(async (env) => environmentMetrics(env, await this.entries(app, env), window, options)));
  }

  private async sync(app: string, env: string, report?: (rebuilt: boolean, before: number) => void, known: readonly DeploymentRecord[] = []): Promise<IndexDocument> {
    const given = new Map(known.filter((r) => r.app === app && r.environment === env).map((r) => [r.revision, r]));
    const path = this.path(app, env);
    let reported = false;
    for (let attempt = 0; attempt < 20; attempt++) {
      const [stored, latest] = await Promise.all([
        this.readIndex(path).catch((err: unknown) => {
          // A corrupt index is derived data: rebuild it rather than fail the request.
          if (err instanceof CorruptDataError) return { value: undefined, etag: 'corrupt' as const };
          throw err;
        }),
        this.ledger.latestRevision(app, env),
      ]);
      let doc = stored?.value;
      const etag = stored?.etag;
      let rebuilt = stored !== undefined && doc === undefined;
      // The records after the stored ones are read while the stored tip is checked: they are
      // only used if it holds.
      const after = (doc?.entries.length ?? 0) + 1;
      const [holds, newer] = await Promise.all([
        doc ? this.consistent(doc, app, env, latest) : Promise.resolve(true),
        after <= latest ? this.read(app, env, after, Math.min(latest, after + this.batchSize - 1), given) : Promise.resolve([]),
      ]);
      if (!holds) {
        doc = undefined;
        rebuilt = true;
      }
      const base: IndexDocument = doc ?? { schema: 1, app, environment: env, entries: [] };
      // Never deployed: nothing to keep.
      if (latest === 0 && !stored) return base;
      if (!reported) {
        report?.(rebuilt, rebuilt ? 0 : base.entries.length);
        reported = true;
      }
      if (base.entries.length === latest && !rebuilt && doc) return base;
      const from = base.entries.length + 1;
      const to = Math.min(latest, from + this.batchSize - 1);
      const added = from === after ? newer : await this.read(app, env, from, to, given);
      const next: IndexDocument = { ...base, entries: [...base.entries, ...added.map(toTuple)] };
      try {
        await ensureContainer(this.container);
        let written: string;
        if (etag === undefined) written = await createJson(this.container, path, next);
        else if (etag === 'corrupt') written = await this.container.getBlockBlobClient(path).deleteIfExists().then(() => createJson(this.container, path, next));
        else written = await replaceJson(this.container, path, next, etag);
        if (written) this.remember(path, { value: next, etag: written });
        else this.forget(path);
      } catch (err) {
        // Another writer moved the index meanwhile (or it vanished): start over from what is stored.
        if (err instanceof ConflictError || err instanceof NotFoundError) continue;
        throw err;
      }
      if (to === latest) return next;
      attempt = -1; // progress was made: a long catch-up is not a lost race
    }
    throw new ConflictError(`the metrics index of ${app}/${env} kept changing; gave up`);
  }

  /** An index is consistent when it holds revisions 1..n in order, n <= latest, and its tip is the ledger's record n. */
  private async consistent(doc: IndexDocument, app: string, env: string, latest: number): Promise<boolean> {
    if (doc.app !== app || doc.environment !== env) return false;
    const n = doc.entries.length;
    if (n > latest) return false;
    for (let i = 0; i < n; i++) if (doc.entries[i]![0] !== i + 1) return false;
    if (n === 0) return true;
    const tip = doc.entries[n - 1]!;
    const record = await this.ledger.get(app, env, n);
    return record.runId === tip[4] && record.commit === tip[3] && record.kind === tip[1] && record.status === tip[2];
  }

  /** Reads ledger records from..to (inclusive; those `given` are not read again) and the creation time of their runs. */
  private async read(app: string, env: string, from: number, to: number, given: ReadonlyMap<number, DeploymentRecord>): Promise<MetricsEntry[]> {
    const revisions: number[] = [];
    for (let r = from; r <= to; r++) revisions.push(r);
    const records: DeploymentRecord[] = new Array<DeploymentRecord>(revisions.length);
    const changeAt = new Map<string, Promise<number | undefined>>();
    const runCreated = (runId: string): Promise<number | undefined> => {
      let found = changeAt.get(runId);
      if (!found) {
        found = this.runs.get(app, runId).then(
          (run) => Date.parse(run.value.createdAt),
          (err: unknown) => {
            // A rollback's operation id or a pruned run: no lead time for that record.
            if (err instanceof NotFoundError || err instanceof ValidationError) return undefined;
            throw err;
          },
        );
        changeAt.set(runId, found);
      }
      return found;
    };
    const times: (number | undefined)[] = new Array<number | undefined>(revisions.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < revisions.length) {
        const i = next++;
        const record = given.get(revisions[i]!) ?? (await this.ledger.get(app, env, revisions[i]!));
        records[i] = record;
        times[i] = record.kind === 'deploy' ? await runCreated(record.runId) : undefined;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.readConcurrency, revisions.length) }, worker));
    return records.map((r, i) => ({
      revision: r.revision,
      kind: r.kind,
      status: r.status,
      commit: r.commit,
      runId: r.runId,
      startedAt: Date.parse(r.startedAt),
      finishedAt: Date.parse(r.finishedAt),
      ...(times[i] !== undefined ? { changeAt: times[i] } : {}),
      ...(r.rolledBackTo !== undefined ? { rolledBackTo: r.rolledBackTo } : {}),
    }));
  }
}
