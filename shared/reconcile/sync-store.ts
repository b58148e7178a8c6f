/**
 * The blob adapter of the {@link SyncStore} port, in the state container:
 *   reconcile/<app>/<env>/sync.json                 the latest sync state (ETag-conditioned writes)
 *   reconcile/<app>/<env>/changes/<inv-ms>-<r>.json one create-only record per change of state,
 *                                                  newest first in a plain listing
 *   reconcile/<app>/heads.json                      whether the app's repository heads could be
 *                                                  read, since when (written when it changes)
 */
import { randomBytes } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../errors.js';
import { upgradeStoredNames } from '../domain/deployment.js';
import { isName } from '../domain/ids.js';
import { createJson, ensureContainer, listNames, readJson, replaceJson, tryReadJson } from '../storage/blob-store.js';
import { announced, type ChangeFeed } from '../storage/change-feed.js';
import type { EnvironmentSync, SyncChange } from './drift.js';
import type { SyncStore } from './drift-sweep.js';

const syncState = z.enum(['in-sync', 'drifted', 'unknown']);

/** Stored sync state. */
export const environmentSyncSchema = z.object({
  app: z.string(),
  environment: z.string(),
  sync: syncState,
  reason: z.string(),
  since: z.string(),
  checkedAt: z.string(),
  // Older states say `artifactDigest`: upgraded on read.
  expected: z.preprocess(upgradeStoredNames, z.object({ revision: z.number().int(), commit: z.string(), digest: z.string() })).optional(),
  heal: z
    .object({
      attempts: z.number().int().nonnegative(),
      instanceId: z.string().optional(),
      startedAt: z.string().optional(),
      outcome: z.enum(['running', 'succeeded', 'failed']).optional(),
      reason: z.string().optional(),
      nextAllowedAt: z.string().optional(),
    })
    .optional(),
}) satisfies z.ZodType<EnvironmentSync>;

/** Stored change record. */
export const syncChangeSchema = z.object({
  app: z.string(),
  environment: z.string(),
  from: syncState.optional(),
  to: syncState,
  reason: z.string(),
  at: z.string(),
}) satisfies z.ZodType<SyncChange>;

/** Whether the heads sweep could read an app's repository, and since when (shown on the app). */
export const appHeadsSchema = z.object({
  app: z.string(),
  /** The repository, without credentials. */
  repository: z.string(),
  ok: z.boolean(),
  /** Why the heads could not be read (timeout, refused, credentials), redacted. */
  error: z.string().optional(),
  /** When the sweep first saw this outcome. */
  since: z.string(),
});

/** See {@link appHeadsSchema}. */
export type AppHeadsStatus = z.output<typeof appHeadsSchema>;

const MAX_MS = 9_999_999_999_999;

function base(app: string, env: string): string {
  if (!isName(app) || !isName(env)) throw new NotFoundError(`no sync state for ${app}/${env}`);
  return `reconcile/${app}/${env}`;
}

/** Sync states and their change history in blob storage. */
export class BlobSyncStore implements SyncStore {
  private readonly etags = new Map<string, string>();
  private ensured = false;

  /** Creates a store over `container` (normally `conveyor-state`); `changes` is told before a sync state is written. */
  constructor(
    private readonly container: ContainerClient,
    private readonly feed?: ChangeFeed,
  ) {}

  /** See {@link SyncStore.get}. */
  async get(app: string, environment: string): Promise<EnvironmentSync | undefined> {
    const path = `${base(app, environment)}/sync.json`;
    const found = await tryReadJson(this.container, path, environmentSyncSchema);
    if (found) this.etags.set(path, found.etag);
    else this.etags.delete(path);
    return found?.value;
  }

  /** See {@link SyncStore.put}. The sweep is the only writer; a lost race re-reads and writes again. */
  async put(sync: EnvironmentSync): Promise<void> {
    return announced(this.feed, sync.app, () => this.putNow(sync));
  }

  private async putNow(sync: EnvironmentSync): Promise<void> {
    const path = `${base(sync.app, sync.environment)}/sync.json`;
    await this.ensure();
    for (let attempt = 0; attempt < 3; attempt++) {
      const etag = this.etags.get(path);
      try {
        this.etags.set(path, etag ? await replaceJson(this.container, path, sync, etag) : await createJson(this.container, path, sync));
        return;
      } catch (err) {
        if (!(err instanceof ConflictError) && !(err instanceof NotFoundError)) throw err;
        const fresh = await tryReadJson(this.container, path, environmentSyncSchema);
        if (fresh) this.etags.set(path, fresh.etag);
        else this.etags.delete(path);
      }
    }
    throw new ConflictError(`sync state ${path} kept changing while it was written`);
  }

  /** See {@link SyncStore.recordChange}. */
  async recordChange(change: SyncChange): Promise<void> {
    await this.ensure();
    const inv = String(MAX_MS - Date.parse(change.at)).padStart(13, '0');
    await createJson(this.container, `${base(change.app, change.environment)}/changes/${inv}-${randomBytes(3).toString('hex')}.json`, change);
  }

  /** The last heads outcome of an app's repository, if the sweep has read it. */
  async getHeads(app: string): Promise<AppHeadsStatus | undefined> {
    if (!isName(app)) return undefined;
    return (await tryReadJson(this.container, `reconcile/${app}/heads.json`, appHeadsSchema))?.value;
  }

  /** Stores an app's heads outcome (the sweep is the only writer: a lost race is written again). */
  async putHeads(status: AppHeadsStatus): Promise<void> {
    if (!isName(status.app)) throw new NotFoundError(`no app ${status.app}`);
    const path = `reconcile/${status.app}/heads.json`;
    await this.ensure();
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await tryReadJson(this.container, path, appHeadsSchema);
      try {
        await (found ? replaceJson(this.container, path, status, found.etag) : createJson(this.container, path, status));
        return;
      } catch (err) {
        if (!(err instanceof ConflictError) && !(err instanceof NotFoundError)) throw err;
      }
    }
    throw new ConflictError(`heads status ${path} kept changing while it was written`);
  }

  /** The newest `limit` changes of an environment, newest first. */
  async changes(app: string, environment: string, limit = 20): Promise<SyncChange[]> {
    const page = await listNames(this.container, `${base(app, environment)}/changes/`, { pageSize: limit });
    const out = await Promise.all(page.names.slice(0, limit).map((n) => readJson(this.container, n, syncChangeSchema).then((r) => r.value, () => undefined)));
    return out.filter((c): c is SyncChange => c !== undefined);
  }

  private async ensure(): Promise<void> {
    if (this.ensured) return;
    await ensureContainer(this.container);
    this.ensured = true;
  }
}
