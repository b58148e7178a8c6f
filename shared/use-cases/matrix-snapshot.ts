/**
 * The per-app matrix snapshot: one blob per app holding its row of the apps overview (the
 * environment matrix in promotion order, what each environment runs and its commit, freezes,
 * sync states, and the newest runs with any approval waiting), so the overview of every app is
 * two listings instead of ~20 reads per app.
 *
 *   matrix/apps/<app>.json              { schema, app, appEtag, builtAt, row }
 *   matrix/pending/<app>/<ms>-<hex>     a change announced and not yet folded into the snapshot
 *
 * It is derived data and is never trusted blindly:
 * - every store whose records it shows (ledger, run records, freezes, sync states, the app
 *   registry) announces a change BEFORE it writes (shared/storage/change-feed.ts): a durable
 *   marker under `matrix/pending/<app>/`. After the write the snapshot of that app is rebuilt
 *   from the sources and the marker removed (a burst of writes, such as the records of one run,
 *   shares one marker and one rebuild once it pauses). While an app has a marker, readers build its row
 *   from the sources instead of reading the snapshot, so a change is visible at once and a
 *   writer that dies mid-way leaves a marker, never a silently stale snapshot; a marker older
 *   than `staleMarkerMs` (its writer is gone) makes the next reader rebuild and clear it;
 * - the snapshot records the ETag of the app registration it was built from; the overview lists
 *   `apps/` anyway (names and ETags in one request), so a registration changed by any writer is
 *   noticed without an extra read;
 * - a missing, unreadable or older-schema snapshot is rebuilt from the sources on read;
 * - a snapshot older than `recheckAfterMs` is served and then rebuilt in the background, so a
 *   write that bypassed the stores (a hand edit, an older version during an upgrade) shows
 *   within that long of a read;
 * - writes are ETag-conditioned (create-only, or If-Match on the version read before the
 *   sources were read), so a rebuild from older sources can never overwrite a newer one.
 * Target health is not stored: the row shows what the records say (the reconcile sweep's last
 * verdict, or the deployment's verification); the app page asks the targets live.
 */
import { randomBytes } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import type { AppRecord } from '../apps/app-record.schema.js';
import type { AppRegistry } from '../apps/app-registry.js';
import type { HeadCommit, RunRecord } from '../domain/run.js';
import { isName } from '../domain/ids.js';
import type { DeployWindowPolicy, GateVerdict } from '../domain/windows.js';
import { deployWindowsOf } from '../domain/policy.js';
import { ConflictError, CorruptDataError, NotFoundError } from '../errors.js';
import type { RunStore } from '../ledger/run-store.js';
import type { ChangeFeed, ChangeTicket } from '../storage/change-feed.js';
import { createJson, deleteBlob, ensureContainer, mapStorageError, parseJsonRecord, replaceJson, storageStatus } from '../storage/blob-store.js';
import { gateNow, recordedEnvironments, type MatrixSources, type RecordedEnvironment } from './environment-matrix.use-case.js';

/** Bumped when the stored row changes shape: older snapshots are rebuilt on read (2: `digest`/`finishedAt`, were `artifactDigest`/`deployedAt`). */
// 3: freezes carry a whole actor in `by` (older snapshots hold the id string: rebuilt).
const SCHEMA = 3;
const SNAPSHOTS = 'matrix/apps/';
const PENDING = 'matrix/pending/';

/** A run as the overview shows it. */
export interface RunSummary {
  runId: string;
  status: string;
  commit: string;
  createdAt: string;
  pusher?: RunRecord['pusher'];
  headCommit?: HeadCommit;
  environmentOrder?: string[];
  /** Per environment: its status, and while an approval waits, since when and for whom. */
  environments: Record<string, { status: string; waitingSince?: string; approvers?: string[]; required?: number }>;
}

/** An environment of a stored row: the records' view, with the commit message of what runs. */
export interface RowEnvironment extends RecordedEnvironment {
  headCommit?: HeadCommit;
}

/** One app's row, as stored in its snapshot. */
export interface MatrixRow {
  name: string;
  provider: AppRecord['provider'];
  repoUrl: string;
  /** Each environment's deploy windows (from the registration's policy). */
  deployWindows?: Record<string, DeployWindowPolicy>;
  environments: RowEnvironment[];
  /** The three newest runs. */
  runs: RunSummary[];
}

/** Health as the records tell it: the reconcile sweep's last verdict, else the deployment's verification. */
export interface RecordedHealth {
  state: 'healthy' | 'unhealthy' | 'unknown';
  reason: string;
  /** When it was last observed. */
  at: string;
  /** Who observed it. */
  source: 'sweep' | 'verification';
}

/** An environment of the overview. */
export interface OverviewEnvironment extends RowEnvironment {
  health: RecordedHealth;
  /** `health.state === 'healthy'` (the same field the live app view has). */
  healthy: boolean;
  /** False only when the records say it is not running. */
  running: boolean;
  gate?: GateVerdict;
}

/** One app of the overview. */
export interface OverviewApp {
  name: string;
  provider: AppRecord['provider'];
  repoUrl: string;
  environments: OverviewEnvironment[];
  runs: RunSummary[];
}

/** The sources a row is built from. */
export interface RowSources extends Omit<MatrixSources, 'targets' | 'runs'> {
  apps: Pick<AppRegistry, 'get'>;
  runs: Pick<RunStore, 'list' | 'get'>;
}

const snapshotSchema = z.object({
  schema: z.number().int(),
  app: z.string(),
  appEtag: z.string(),
  builtAt: z.string(),
  row: z.looseObject({
    name: z.string(),
    provider: z.string(),
    repoUrl: z.string(),
    environments: z.array(z.looseObject({ name: z.string(), revision: z.number(), commit: z.string(), digest: z.string(), finishedAt: z.string(), runId: z.string(), status: z.string(), kind: z.string() })),
    runs: z.array(z.looseObject({ runId: z.string(), status: z.string(), environments: z.record(z.string(), z.looseObject({ status: z.string() })) })),
  }),
});

interface SnapshotDocument {
  schema: number;
  app: string;
  appEtag: string;
  builtAt: string;
  row: MatrixRow;
}

/** What the overview tells about one run. */
export function runSummary(run: RunRecord): RunSummary {
  const environments: RunSummary['environments'] = {};
  for (const [name, env] of Object.entries(run.environments)) {
    const approval = env.approval;
    environments[name] = {
      status: env.status,
      ...(approval?.waitingSince && !approval.outcome && env.status === 'Pending' ? { waitingSince: approval.waitingSince, approvers: approval.approvers, required: approval.required } : {}),
    };
  }
  return {
    runId: run.runId,
    status: run.status,
    commit: run.commit,
    createdAt: run.createdAt,
    ...(run.pusher ? { pusher: run.pusher } : {}),
    ...(run.headCommit ? { headCommit: run.headCommit } : {}),
    ...(run.environmentOrder ? { environmentOrder: run.environmentOrder } : {}),
    environments,
  };
}

/** Builds an app's row from the sources (what a snapshot must always equal). */
export async function buildRow(sources: Omit<RowSources, 'apps'>, app: AppRecord): Promise<MatrixRow> {
  // One listing of the newest runs serves the promotion order, the run column and most commit messages.
  const recent = await sources.runs.list(app.name, { pageSize: 5 });
  const environments = await recordedEnvironments({ ...sources, runs: { list: () => Promise.resolve(recent) } }, app.name);
  const known = new Map(recent.runs.map((r) => [r.runId, r]));
  const missing = [...new Set(environments.map((e) => e.runId))].filter((id) => !known.has(id));
  await Promise.all(
    missing.map(async (runId) => {
      const run = await sources.runs.get(app.name, runId).catch((err: unknown) => {
        // A rollback's operation id, or a pruned or unreadable run: no commit message to show.
        if (err instanceof NotFoundError || err instanceof CorruptDataError || (err as Error).name === 'ValidationError') return undefined;
        throw err;
      });
      if (run) known.set(runId, run.value);
    }),
  );
  return {
    name: app.name,
    provider: app.provider,
    repoUrl: app.repoUrl,
    ...(deployWindowsOf(app) ? { deployWindows: deployWindowsOf(app) } : {}),
    environments: environments.map((e) => {
      const head = known.get(e.runId)?.headCommit;
      return head ? { ...e, headCommit: { message: head.message, author: head.author } } : e;
    }),
    runs: recent.runs.slice(0, 3).map(runSummary),
  };
}

/** Health as the records tell it. */
export function recordedHealth(env: RecordedEnvironment): RecordedHealth {
  if (env.sync) {
    const state = env.sync.state === 'in-sync' ? 'healthy' : env.sync.state === 'drifted' ? 'unhealthy' : 'unknown';
    return { state, reason: env.sync.reason, at: env.sync.checkedAt, source: 'sweep' };
  }
  if (env.status === 'Succeeded') return { state: 'healthy', reason: 'verified when it was deployed', at: env.finishedAt, source: 'verification' };
  return { state: 'unhealthy', reason: 'its verification failed', at: env.finishedAt, source: 'verification' };
}

/** A stored row as the overview shows it at `now` (deploy windows open and close with time). */
export function overviewApp(row: MatrixRow, now: Date): OverviewApp {
  return {
    name: row.name,
    provider: row.provider,
    repoUrl: row.repoUrl,
    environments: row.environments.map((e) => {
      const health = recordedHealth(e);
      const gate = gateNow(row.deployWindows?.[e.name], e.freeze, now);
      const notRunning = health.source === 'sweep' && health.state === 'unhealthy' && /not running/.test(health.reason);
      return { ...e, health, healthy: health.state === 'healthy', running: !notRunning, ...(gate ? { gate } : {}) };
    }),
    runs: row.runs,
  };
}

/** Options of {@link MatrixSnapshots}. */
export interface MatrixSnapshotOptions {
  /** A change marker older than this belongs to a writer that is gone: readers rebuild and clear it. Default 60 s. */
  staleMarkerMs?: number;
  /**
   * A snapshot built longer ago than this is served, then rebuilt from the records in the
   * background: a write that bypassed the stores (a hand edit, an older Conveyor during an
   * upgrade) shows within this long of the next read. Default 5 minutes.
   */
  recheckAfterMs?: number;
  /** A refresh waits until writes to an app pause this long, so a burst of writes costs one refresh. Default 500 ms. */
  refreshDelayMs?: number;
  /** ... but not longer than this after the first write it serves. Default 3 s. */
  refreshMaxDelayMs?: number;
  /** Where background refresh failures are reported (the marker stays, so readers stay correct). */
  log?: (message: string) => void;
  /** Clock (tests). */
  now?: () => Date;
}

/** An ETag without its quotes: listings give it bare, reads and writes quoted. */
function bare(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

/** A change marker this process created, and the writes that rely on it. */
interface Marker {
  name: string;
  /** When it was created (this process's clock; only its age matters). */
  born: number;
  /** Writes announced with it that are not over yet: it is never cleared while any is. */
  holders: number;
  /** Resolves once the marker is stored. */
  stored: Promise<void>;
}

/** One app's change markers and its background refresh. */
interface RefreshQueue {
  /** Markers this process created and has not cleared yet. */
  markers: Marker[];
  /** The marker a new write may share (see `changing`). */
  open?: Marker;
  /** A refresh is wanted (a write ended, or the snapshot is old). */
  wanted: boolean;
  /** When the oldest unserved want arose (bounds how long refreshes are put off). */
  wantedSince?: number;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
}

/** One listed blob. */
interface Listed {
  name: string;
  etag: string;
  lastModified: number;
}

/** What a read of some apps' rows found (for tests and logs). */
export interface ReadReport {
  /** Apps whose row came from their snapshot. */
  fromSnapshot: number;
  /** Apps whose row was built from the sources (a change in flight, or a snapshot rebuilt). */
  fromSources: number;
  /** Snapshots (re)written by this read. */
  rebuilt: number;
}

/** The apps overview page: rows in name order from `offset`, and how many apps there are. */
export interface OverviewPage {
  apps: OverviewApp[];
  total: number;
  offset: number;
  report: ReadReport;
}

/** Keeps and reads the per-app matrix snapshots; the {@link ChangeFeed} the stores announce changes to. */
export class MatrixSnapshots implements ChangeFeed {
  private readonly staleMarkerMs: number;
  private readonly recheckAfterMs: number;
  private readonly refreshDelayMs: number;
  private readonly refreshMaxDelayMs: number;
  private readonly log: (message: string) => void;
  private readonly now: () => Date;
  private sources: RowSources | undefined;
  /** Parsed snapshots by app, used only when a listing shows the same ETag. */
  private readonly cache = new Map<string, { etag: string; doc: SnapshotDocument }>();
  /** Background refreshes: per app, the markers waiting and the refresh running. */
  private readonly queues = new Map<string, RefreshQueue>();

  /** Creates the snapshots over `container` (normally `conveyor-state`); {@link readFrom} names the sources. */
  constructor(
    private readonly container: ContainerClient,
    sources?: RowSources,
    options: MatrixSnapshotOptions = {},
  ) {
    this.sources = sources;
    this.staleMarkerMs = options.staleMarkerMs ?? 60_000;
    this.recheckAfterMs = options.recheckAfterMs ?? 5 * 60_000;
    this.refreshDelayMs = options.refreshDelayMs ?? 500;
    this.refreshMaxDelayMs = options.refreshMaxDelayMs ?? 3000;
    this.log = options.log ?? ((m) => console.warn(m));
    this.now = options.now ?? (() => new Date());
  }

  /** Names the stores rows are built from (they are built after this feed, which they announce to). */
  readFrom(sources: RowSources): this {
    this.sources = sources;
    return this;
  }

  private source(): RowSources {
    if (!this.sources) throw new Error('MatrixSnapshots: no sources (call readFrom first)');
    return this.sources;
  }

  /**
   * See {@link ChangeFeed.changing}: a durable marker, then a background refresh once the write
   * is over. Writes that follow each other closely share one marker and one refresh: a write may
   * rely on a marker this process created when it is stored, no refresh has taken it yet (a
   * refresh only takes markers none of whose writes is still going on, and clears them after
   * reading the sources), and it is young (a quarter of `staleMarkerMs`, so no reader takes it for
   * a dead writer's while the write goes on). The refresh waits until writes to the app pause for
   * `refreshDelayMs` (at most `refreshMaxDelayMs` after the first write it serves); until it ran,
   * readers build the app's row from the records, so nothing is ever shown stale.
   */
  async changing(app: string): Promise<ChangeTicket> {
    if (!isName(app)) return { done: () => undefined };
    const queue = this.queue(app);
    const open = queue.open;
    if (open && Date.now() - open.born < this.staleMarkerMs / 4) {
      open.holders++;
      try {
        await open.stored;
      } catch (err) {
        open.holders--;
        throw err;
      }
      return this.ticket(app, open);
    }
    const name = `${PENDING}${app}/${String(this.now().getTime()).padStart(13, '0')}-${randomBytes(4).toString('hex')}`;
    const marker: Marker = {
      name,
      born: Date.now(),
      holders: 1,
      stored: ensureContainer(this.container).then(() => createJson(this.container, name, {}).then(() => undefined)),
    };
    queue.markers.push(marker);
    queue.open = marker;
    try {
      await marker.stored;
    } catch (err) {
      // Not stored: nobody may rely on it, and there is nothing to clear.
      queue.markers = queue.markers.filter((m) => m !== marker);
      if (queue.open === marker) queue.open = undefined;
      this.release(app, queue);
      throw err;
    }
    return this.ticket(app, marker);
  }

  private ticket(app: string, marker: Marker): ChangeTicket {
    let done = false;
    return {
      done: () => {
        if (done) return;
        done = true;
        marker.holders--;
        this.schedule(app);
      },
    };
  }

  private queue(app: string): RefreshQueue {
    let queue = this.queues.get(app);
    if (!queue) {
      queue = { markers: [], wanted: false };
      this.queues.set(app, queue);
    }
    return queue;
  }

  /** Forgets an app's queue once nothing of it is left. */
  private release(app: string, queue: RefreshQueue): void {
    if (!queue.wanted && !queue.running && !queue.timer && queue.markers.length === 0) this.queues.delete(app);
  }

  /** Wants a refresh of `app`: after writes pause for `refreshDelayMs`, or at once with `now`. */
  private schedule(app: string, now = false): void {
    const queue = this.queue(app);
    queue.wanted = true;
    queue.wantedSince ??= Date.now();
    // A refresh under way looks again when it ends.
    if (queue.running) return;
    if (queue.timer) clearTimeout(queue.timer);
    const delay = now ? 0 : Math.max(0, Math.min(this.refreshDelayMs, queue.wantedSince + this.refreshMaxDelayMs - Date.now()));
    queue.timer = setTimeout(() => {
      queue.timer = undefined;
      queue.running = this.drain(app, queue);
    }, delay);
    // A pending refresh never keeps a process alive: its markers make readers use the records.
    queue.timer.unref();
  }

  private async drain(app: string, queue: RefreshQueue): Promise<void> {
    queue.wanted = false;
    queue.wantedSince = undefined;
    // The markers whose writes are all over; writes still going on keep theirs for a later refresh.
    const batch = queue.markers.filter((m) => m.holders === 0);
    if (queue.open && batch.includes(queue.open)) queue.open = undefined;
    queue.markers = queue.markers.filter((m) => m.holders > 0);
    try {
      await this.refresh(app);
      await Promise.all(batch.map((m) => deleteBlob(this.container, m.name).catch(() => undefined)));
    } catch (err) {
      // The markers stay in storage: readers use the records, and clear them once they are stale.
      this.log(`matrix snapshot of ${app}: refresh failed (readers rebuild it from the records until it succeeds): ${(err as Error).message}`);
    }
    queue.running = undefined;
    if (queue.wanted) this.schedule(app);
    else this.release(app, queue);
  }

  /** Runs the refreshes that are waiting now and resolves when none is running or waiting (tests, graceful shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      for (const [app, queue] of this.queues) if (queue.timer) this.schedule(app, true);
      const pending = [...this.queues.values()].filter((q) => q.running || q.timer);
      if (pending.length === 0) return;
      await Promise.all(pending.map((q) => q.running));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private path(app: string): string {
    return `${SNAPSHOTS}${app}.json`;
  }

  /**
   * Rebuilds an app's snapshot from the sources and stores it; resolves the stored document, or
   * undefined when the app is not registered (its snapshot is then removed).
   */
  async refresh(app: string): Promise<SnapshotDocument | undefined> {
    const sources = this.source();
    const path = this.path(app);
    for (let attempt = 0; attempt < 10; attempt++) {
      // The version read before the sources: a write conditioned on it cannot undo a newer rebuild.
      const existing = await this.etagOf(path);
      let record;
      try {
        record = await sources.apps.get(app);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        this.cache.delete(app);
        if (existing === undefined) return undefined;
        try {
          await deleteBlob(this.container, path, existing);
          return undefined;
        } catch (e) {
          if (e instanceof NotFoundError) return undefined;
          if (e instanceof ConflictError) continue;
          throw e;
        }
      }
      const doc: SnapshotDocument = { schema: SCHEMA, app, appEtag: bare(record.etag), builtAt: this.now().toISOString(), row: await buildRow(sources, record.value) };
      try {
        await ensureContainer(this.container);
        const etag = existing === undefined ? await createJson(this.container, path, doc) : await replaceJson(this.container, path, doc, existing);
        this.cache.set(app, { etag: bare(etag), doc });
        return doc;
      } catch (err) {
        // Another rebuild wrote first: start over from the sources.
        if (err instanceof ConflictError || err instanceof NotFoundError) continue;
        throw err;
      }
    }
    throw new ConflictError(`the matrix snapshot of ${app} kept changing while it was rebuilt`);
  }

  private async etagOf(path: string): Promise<string | undefined> {
    try {
      return (await this.container.getBlobClient(path).getProperties()).etag;
    } catch (err) {
      if (storageStatus(err) === 404) return undefined;
      throw mapStorageError(err, `blob ${this.container.containerName}/${path}`);
    }
  }

  private async list(prefix: string): Promise<Listed[]> {
    const out: Listed[] = [];
    try {
      for await (const item of this.container.listBlobsFlat({ prefix })) {
        out.push({ name: item.name, etag: bare(item.properties.etag), lastModified: item.properties.lastModified?.getTime() ?? 0 });
      }
    } catch (err) {
      if (storageStatus(err) === 404) return [];
      throw mapStorageError(err, `container ${this.container.containerName}`);
    }
    return out;
  }

  /** Reads a snapshot (the cached copy when the listing shows the same ETag). Unreadable -> undefined. */
  private async read(app: string, etag: string): Promise<SnapshotDocument | undefined> {
    const cached = this.cache.get(app);
    if (cached && cached.etag === etag) return cached.doc;
    let text: string;
    let readEtag: string;
    try {
      const res = await this.container.getBlobClient(this.path(app)).download();
      const chunks: Buffer[] = [];
      for await (const chunk of res.readableStreamBody ?? []) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
      text = Buffer.concat(chunks).toString('utf8');
      readEtag = bare(res.etag ?? etag);
    } catch (err) {
      if (storageStatus(err) === 404) return undefined;
      throw mapStorageError(err, `blob ${this.container.containerName}/${this.path(app)}`);
    }
    try {
      // Our own derived document: the shape check catches damage, the rest is what buildRow wrote.
      const doc = parseJsonRecord(text, snapshotSchema, `matrix snapshot ${app}`) as unknown as SnapshotDocument;
      if (doc.app !== app) return undefined;
      this.cache.set(app, { etag: readEtag, doc });
      return doc;
    } catch (err) {
      if (err instanceof CorruptDataError) return undefined;
      throw err;
    }
  }

  /**
   * The overview rows of the registered apps in name order, `limit` from `offset`: from the
   * snapshots when they are current, else rebuilt from the sources (see the module comment).
   */
  async overview(offset = 0, limit = 500): Promise<OverviewPage> {
    const [registered, matrix] = await Promise.all([this.list('apps/'), this.list('matrix/')]);
    const apps = new Map<string, string>();
    for (const b of registered) {
      const m = /^apps\/([^/]+)\.json$/.exec(b.name);
      if (m && isName(m[1]!)) apps.set(m[1]!, b.etag);
    }
    const snapshots = new Map<string, Listed>();
    const markers = new Map<string, Listed[]>();
    for (const b of matrix) {
      if (b.name.startsWith(SNAPSHOTS)) snapshots.set(b.name.slice(SNAPSHOTS.length, -'.json'.length), b);
      else if (b.name.startsWith(PENDING)) {
        const app = b.name.slice(PENDING.length, b.name.indexOf('/', PENDING.length));
        markers.set(app, [...(markers.get(app) ?? []), b]);
      }
    }
    const names = [...apps.keys()].sort((a, b) => a.localeCompare(b));
    const report: ReadReport = { fromSnapshot: 0, fromSources: 0, rebuilt: 0 };
    const now = this.now();
    const rows = await Promise.all(
      names.slice(offset, offset + limit).map(async (app): Promise<MatrixRow | undefined> => {
        const pending = markers.get(app) ?? [];
        const stale = pending.filter((m) => now.getTime() - m.lastModified > this.staleMarkerMs);
        if (pending.length > stale.length) {
          // A change is being written: show the records themselves, leave the snapshot to its writer.
          report.fromSources++;
          return this.rowFromSources(app);
        }
        const listed = snapshots.get(app);
        const doc = listed && stale.length === 0 ? await this.read(app, listed.etag) : undefined;
        if (doc && doc.schema === SCHEMA && doc.appEtag === apps.get(app)) {
          report.fromSnapshot++;
          // Old enough to recheck against the records: served now, rebuilt in the background
          // (unless a refresh of this app is under way already).
          const queue = this.queues.get(app);
          if (now.getTime() - Date.parse(doc.builtAt) > this.recheckAfterMs && !queue?.running && !queue?.timer) this.schedule(app, true);
          return doc.row;
        }
        // Missing, unreadable, older schema, registration changed, or a writer died mid-way: rebuild.
        report.fromSources++;
        report.rebuilt++;
        const rebuilt = await this.refresh(app);
        await Promise.all(stale.map((m) => deleteBlob(this.container, m.name, `"${m.etag}"`).catch(() => undefined)));
        return rebuilt?.row;
      }),
    );
    return { apps: rows.filter((r): r is MatrixRow => r !== undefined).map((r) => overviewApp(r, now)), total: names.length, offset, report };
  }

  private async rowFromSources(app: string): Promise<MatrixRow | undefined> {
    const sources = this.source();
    try {
      return await buildRow(sources, (await sources.apps.get(app)).value);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }
}
