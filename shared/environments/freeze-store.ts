/**
 * Freezes and quarantined digests per app and environment, in the state container:
 *   environments/<app>/<env>/freeze.json                   the active freeze (absent: not frozen), ETag-conditioned
 *   environments/<app>/<env>/freeze-log/<inv-ms>-<r>.json   create-only: every freeze and unfreeze, who, when, why
 *   environments/<app>/<env>/quarantine/<hex>.json          create-only: a digest rolled back in this environment
 */
import { randomBytes } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import type { Freeze } from '../domain/windows.js';
import { upgradeStoredActor, type Actor } from '../domain/run.js';
import { upgradeStoredNames } from '../domain/deployment.js';
import { isName } from '../domain/ids.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { createJson, deleteBlob, ensureContainer, listNames, readJson, tryReadJson } from '../storage/blob-store.js';
import { announced, type ChangeFeed } from '../storage/change-feed.js';

/** A whole actor; records written before actors were whole hold the id string (upgraded on read). */
const actorSchema = z.preprocess(upgradeStoredActor, z.object({ id: z.string(), name: z.string().optional() }));
const freezeSchema = z.object({ kind: z.enum(['manual', 'rollback']), by: actorSchema, at: z.string(), reason: z.string() }) satisfies z.ZodType<Freeze>;

/** One entry of the freeze log. */
export interface FreezeEvent {
  action: 'freeze' | 'unfreeze';
  kind: Freeze['kind'];
  by: Actor;
  at: string;
  reason: string;
}
const freezeEventSchema = z.object({ action: z.enum(['freeze', 'unfreeze']), kind: z.enum(['manual', 'rollback']), by: actorSchema, at: z.string(), reason: z.string() }) satisfies z.ZodType<FreezeEvent>;

/** A digest that was rolled back in an environment: later runs carrying it are refused there. */
export interface Quarantine {
  digest: string;
  /** The revision that was rolled back. */
  revision: number;
  commit: string;
  /** Who rolled it back (`system` for an automatic rollback). */
  by: Actor;
  at: string;
  reason: string;
}
// Quarantines recorded before the vocabulary was unified say `artifactDigest`, and before actors were whole a bare `by` id: upgraded on read.
const quarantineSchema = z.preprocess(upgradeStoredNames, z.object({ digest: z.string(), revision: z.number().int(), commit: z.string(), by: actorSchema, at: z.string(), reason: z.string() })) satisfies z.ZodType<Quarantine>;

const MAX_MS = 9_999_999_999_999;
const DIGEST = /^sha256:([0-9a-f]{64})$/;

function base(app: string, env: string): string {
  if (!isName(app) || !isName(env)) throw new ValidationError(`invalid app or environment name ${JSON.stringify(`${app}/${env}`.slice(0, 80))}`, [{ path: 'environment', message: 'must be a valid name' }]);
  return `environments/${app}/${env}`;
}

/** Freezes and quarantines of every app and environment. */
export class EnvironmentControls {
  private ensured = false;

  /** Creates the store over `container` (normally `conveyor-state`); `changes` is told before a freeze changes. */
  constructor(
    private readonly container: ContainerClient,
    private readonly changes?: ChangeFeed,
  ) {}

  private async ensure(): Promise<void> {
    if (this.ensured) return;
    await ensureContainer(this.container);
    this.ensured = true;
  }

  /** The active freeze, if any. */
  async freeze(app: string, env: string): Promise<Freeze | undefined> {
    return (await tryReadJson(this.container, `${base(app, env)}/freeze.json`, freezeSchema))?.value;
  }

  /**
   * Freezes the environment (recorded in the log). Already frozen: the existing freeze stays
   * (first reason wins) and is returned with `already: true`.
   */
  async setFreeze(app: string, env: string, freeze: Freeze): Promise<{ freeze: Freeze; already: boolean }> {
    return announced(this.changes, app, () => this.setFreezeNow(app, env, freeze));
  }

  private async setFreezeNow(app: string, env: string, freeze: Freeze): Promise<{ freeze: Freeze; already: boolean }> {
    await this.ensure();
    const path = `${base(app, env)}/freeze.json`;
    try {
      await createJson(this.container, path, freeze);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const existing = await this.freeze(app, env);
      if (existing) return { freeze: existing, already: true };
      return this.setFreezeNow(app, env, freeze);
    }
    await this.log(app, env, { action: 'freeze', ...freeze });
    return { freeze, already: false };
  }

  /** Lifts the freeze (recorded). Not frozen: resolves undefined. */
  async unfreeze(app: string, env: string, by: Actor, reason: string, at: string): Promise<Freeze | undefined> {
    return announced(this.changes, app, () => this.unfreezeNow(app, env, by, reason, at));
  }

  private async unfreezeNow(app: string, env: string, by: Actor, reason: string, at: string): Promise<Freeze | undefined> {
    const path = `${base(app, env)}/freeze.json`;
    const found = await tryReadJson(this.container, path, freezeSchema);
    if (!found) return undefined;
    try {
      await deleteBlob(this.container, path, found.etag);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      if (err instanceof ConflictError) return this.unfreezeNow(app, env, by, reason, at);
      throw err;
    }
    await this.log(app, env, { action: 'unfreeze', kind: found.value.kind, by, at, reason });
    return found.value;
  }

  private async log(app: string, env: string, event: FreezeEvent): Promise<void> {
    await this.ensure();
    const inv = String(MAX_MS - Date.parse(event.at)).padStart(13, '0');
    await createJson(this.container, `${base(app, env)}/freeze-log/${inv}-${randomBytes(3).toString('hex')}.json`, event);
  }

  /** The newest `limit` freeze log entries, newest first. */
  async freezeLog(app: string, env: string, limit = 20): Promise<FreezeEvent[]> {
    const page = await listNames(this.container, `${base(app, env)}/freeze-log/`, { pageSize: limit });
    const events = await Promise.all(page.names.slice(0, limit).map((n) => readJson(this.container, n, freezeEventSchema).then((r) => r.value, () => undefined)));
    return events.filter((e): e is FreezeEvent => e !== undefined);
  }

  /** Quarantines a digest in an environment (idempotent: the first record stays). */
  async quarantine(app: string, env: string, q: Quarantine): Promise<void> {
    const m = DIGEST.exec(q.digest);
    if (!m) throw new ValidationError('not an artifact digest', [{ path: 'digest', message: 'must be sha256:<64 hex>' }]);
    await this.ensure();
    await createJson(this.container, `${base(app, env)}/quarantine/${m[1]}.json`, q).catch((err: unknown) => {
      if (!(err instanceof ConflictError)) throw err;
    });
  }

  /** The quarantine record of a digest in an environment, if any. */
  async quarantined(app: string, env: string, digest: string): Promise<Quarantine | undefined> {
    const m = DIGEST.exec(digest);
    if (!m) return undefined;
    return (await tryReadJson(this.container, `${base(app, env)}/quarantine/${m[1]}.json`, quarantineSchema))?.value;
  }
}
