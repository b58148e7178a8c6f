// In-memory fakes of Conveyor's own ports (the ledger, the run store, the app registry, a
// deploy target), for unit tests of use-cases and orchestrators. They keep the documented
// semantics of the real adapters that the code under test relies on (gap-free revisions,
// idempotent re-recording, create-only bad markers, a `current` pointer that only moves
// forward, conflicts on duplicate runs) and nothing of their storage.
import type { AppRecord } from '../../shared/apps/index.js';
import type { BadRevisionMarker, CurrentDeployment, DeploymentRecord, NewDeployment } from '../../shared/domain/deployment.js';
import type { Actor, RunRecord } from '../../shared/domain/run.js';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import type { DeploymentLedger } from '../../shared/ledger/deployment-ledger.js';
import type { NewRun, RunPage, RunStore } from '../../shared/ledger/run-store.js';
import type { DeployRequest, DeployResult, DeployTarget, StopResult, TargetStatus } from '../../shared/targets/deploy-target.js';

type LedgerPort = Pick<DeploymentLedger, 'current' | 'record' | 'get' | 'badMarker' | 'lastGood' | 'markBad' | 'latestRevision' | 'environments'>;

/** What an in-memory ledger holds (plain data, so a test may clone or snapshot it). */
export interface LedgerData {
  records: Record<string, DeploymentRecord[]>;
  bad: Record<string, BadRevisionMarker[]>;
}

/** The deployment ledger, in memory, over `data`. `clock` stamps `recordedAt` and `markedAt`. */
export class InMemoryLedger implements LedgerPort {
  constructor(
    readonly data: LedgerData = { records: {}, bad: {} },
    private readonly clock: () => string = () => '2026-11-30T00:00:00.000Z',
  ) {}

  private list(app: string, env: string): DeploymentRecord[] {
    return (this.data.records[`${app}/${env}`] ??= []);
  }

  private markers(app: string, env: string): BadRevisionMarker[] {
    return (this.data.bad[`${app}/${env}`] ??= []);
  }

  async current(app: string, env: string): Promise<CurrentDeployment | undefined> {
    const newest = this.list(app, env).at(-1);
    if (!newest) return undefined;
    return {
      app,
      environment: env,
      revision: newest.revision,
      commit: newest.commit,
      digest: newest.digest,
      finishedAt: newest.finishedAt,
      runId: newest.runId,
      status: newest.status,
      kind: newest.kind,
    };
  }

  async record(app: string, env: string, entry: NewDeployment, options: { revision?: number } = {}): Promise<DeploymentRecord> {
    const list = this.list(app, env);
    const revision = options.revision ?? list.length + 1;
    if (revision > list.length + 1) throw new ConflictError(`revision ${revision} of ${app}/${env} would leave a gap after revision ${list.length}`);
    const existing = list[revision - 1];
    if (existing) {
      if (existing.runId !== entry.runId || existing.kind !== entry.kind || existing.digest !== entry.digest) {
        throw new ConflictError(`revision ${revision} of ${app}/${env} is already recorded by run ${existing.runId}`);
      }
      return existing;
    }
    const record: DeploymentRecord = { ...structuredClone(entry), app, environment: env, revision, recordedAt: this.clock() };
    list.push(record);
    return record;
  }

  async get(app: string, env: string, revision: number): Promise<DeploymentRecord> {
    const found = this.list(app, env)[revision - 1];
    if (!found) throw new NotFoundError(`${app}/${env} has no revision ${revision}`);
    return found;
  }

  async badMarker(app: string, env: string, revision: number): Promise<BadRevisionMarker | undefined> {
    return this.markers(app, env).find((m) => m.revision === revision);
  }

  async markBad(app: string, env: string, revision: number, reason: string, markedBy?: Actor): Promise<BadRevisionMarker> {
    await this.get(app, env, revision);
    if (await this.badMarker(app, env, revision)) throw new ConflictError(`revision ${revision} of ${app}/${env} is already marked bad`);
    const marker: BadRevisionMarker = { revision, reason, ...(markedBy ? { markedBy } : {}), markedAt: this.clock() };
    this.markers(app, env).push(marker);
    return marker;
  }

  async lastGood(app: string, env: string, options: { before?: number } = {}): Promise<DeploymentRecord | undefined> {
    const bad = new Set(this.markers(app, env).map((m) => m.revision));
    return [...this.list(app, env)].reverse().find((r) => (options.before === undefined || r.revision < options.before) && r.status === 'Succeeded' && !bad.has(r.revision));
  }

  async latestRevision(app: string, env: string): Promise<number> {
    return this.list(app, env).length;
  }

  async environments(app: string): Promise<string[]> {
    return Object.keys(this.data.records).filter((k) => k.startsWith(`${app}/`) && this.data.records[k]!.length > 0).map((k) => k.slice(app.length + 1)).sort();
  }
}

/** The run store, in memory over `runs` (create is create-only; update is a read-modify-write). */
export class InMemoryRunStore implements Pick<RunStore, 'create' | 'update' | 'get' | 'list'> {
  /** Called before each update's write: a test may simulate another writer here. */
  beforeWrite: (app: string, runId: string) => void = () => undefined;
  constructor(readonly runs: Record<string, RunRecord> = {}) {}

  async create(run: NewRun): Promise<{ value: RunRecord; etag: string }> {
    const key = `${run.app}/${run.runId}`;
    if (this.runs[key]) throw new ConflictError(`run ${run.runId} already exists`);
    const value: RunRecord = { stages: {}, environments: {}, ...structuredClone(run), createdAt: 'created', updatedAt: 'created' };
    this.runs[key] = value;
    return { value, etag: '1' };
  }

  async get(app: string, runId: string): Promise<{ value: RunRecord; etag: string }> {
    const value = this.runs[`${app}/${runId}`];
    if (!value) throw new NotFoundError(`no run ${runId}`);
    return { value, etag: '1' };
  }

  async list(app: string, options: { pageSize?: number } = {}): Promise<RunPage> {
    const mine = Object.values(this.runs).filter((r) => r.app === app);
    return { runs: mine.reverse().slice(0, options.pageSize ?? 20) };
  }

  async update(app: string, runId: string, mutate: (run: RunRecord) => RunRecord): Promise<RunRecord> {
    const { value } = await this.get(app, runId);
    this.beforeWrite(app, runId);
    const next = { ...mutate(structuredClone(value)), updatedAt: 'updated' };
    this.runs[`${app}/${runId}`] = next;
    return next;
  }
}

/** A deploy target that reports what a test tells it (no processes). */
export class FakeTarget implements DeployTarget {
  readonly type = 'process' as const;
  readonly statuses = new Map<string, TargetStatus>();
  readonly deployed: DeployRequest[] = [];
  async deploy(request: DeployRequest): Promise<DeployResult> {
    this.deployed.push(request);
    return { ok: true, baseUrl: 'http://127.0.0.1:1', revision: request.revision, startedAt: '2026-11-30T00:00:00.000Z', unchanged: false, details: {} };
  }
  async status(app: string, environment: string): Promise<TargetStatus> {
    return this.statuses.get(`${app}/${environment}`) ?? { app, environment, state: 'absent', running: false, healthy: false, details: {} };
  }
  async stop(): Promise<StopResult> {
    return { ok: true, wasRunning: false };
  }
  baseUrl(): string {
    return 'http://127.0.0.1:1';
  }
}

/** The app registry's listing, in memory. */
export class InMemoryApps {
  lists = 0;
  constructor(public apps: AppRecord[] = []) {}
  async list(): Promise<AppRecord[]> {
    this.lists++;
    return structuredClone(this.apps);
  }
}
