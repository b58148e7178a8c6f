/**
 * The app registry: one JSON blob per app (`apps/<name>.json` in the state container), with
 * create-only creation, ETag-conditioned updates and deletes, and lookup by repository URL
 * (webhooks select the app this way; URL spellings are normalised).
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.js';
import { normaliseRepoUrl, repoCacheKey } from '../git/repo-url.js';
import { createJson, deleteBlob, ensureContainer, listAllNames, listWithMetadata, readJson, replaceJson, type Versioned } from '../storage/blob-store.js';
import { NAME_PATTERN, NAME_RULE } from '../domain/ids.js';
import { announced, type ChangeFeed } from '../storage/change-feed.js';
import { appChangesSchema, appInputSchema, appRecordSchema, foldDeployWindows, type AppChanges, type AppInput, type AppRecord } from './app-record.schema.js';

/** Blob metadata naming the app's repository (a hash of its normalised URL), for lookups by listing. */
const REPO_KEY = 'repokey';

function repoMetadata(repoUrl: string): Record<string, string> {
  return { [REPO_KEY]: repoCacheKey(repoUrl) };
}

function invalid(what: string, error: z.ZodError): ValidationError {
  return new ValidationError(
    `invalid ${what}: ${error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`,
    error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
  );
}

/** Options of {@link AppRegistry}. */
export interface AppRegistryOptions {
  /** Clock for createdAt/updatedAt (tests). */
  now?: () => Date;
  /** Told before a registration is created, changed or deleted (read models such as the matrix snapshot). */
  changes?: ChangeFeed;
}

/** Typed store of app records over blob storage. */
export class AppRegistry {
  private readonly now: () => Date;

  /** Creates a registry over `container` (normally `conveyor-state`). */
  constructor(
    private readonly container: ContainerClient,
    private readonly options: AppRegistryOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  private path(name: string): string {
    if (!NAME_PATTERN.test(name)) throw new ValidationError(`invalid app name ${JSON.stringify(name.slice(0, 80))}`, [{ path: 'name', message: NAME_RULE }]);
    return `apps/${name}.json`;
  }

  /** Registers a new app. An app of that name already exists -> ConflictError. */
  async create(input: AppInput, createdBy?: string): Promise<Versioned<AppRecord>> {
    const parsed = appInputSchema.safeParse(input);
    if (!parsed.success) throw invalid('app', parsed.error);
    const at = this.now().toISOString();
    const { deployWindows, ...fields } = parsed.data;
    const policy = foldDeployWindows(fields.policy, deployWindows);
    const record: AppRecord = { ...fields, ...(policy ? { policy } : {}), createdAt: at, updatedAt: at, ...(createdBy ? { createdBy } : {}) };
    await ensureContainer(this.container);
    const etag = await announced(this.options.changes, record.name, () => createJson(this.container, this.path(record.name), record, { metadata: repoMetadata(record.repoUrl) }));
    return { value: record, etag };
  }

  /** Reads an app with its ETag. Missing -> NotFoundError; unreadable -> CorruptDataError. */
  async get(name: string): Promise<Versioned<AppRecord>> {
    try {
      return await readJson(this.container, this.path(name), appRecordSchema);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`app ${name} not found`, { cause: err });
      throw err;
    }
  }

  /**
   * Applies `changes` to the app if it is still at `etag` (the caller read it first).
   * Someone else changed it meanwhile -> ConflictError: re-read and decide.
   */
  async update(name: string, changes: AppChanges, etag: string): Promise<Versioned<AppRecord>> {
    const parsed = appChangesSchema.safeParse(changes);
    if (!parsed.success) throw invalid('app changes', parsed.error);
    const { value } = await this.get(name);
    const { deployWindows, ...changed } = parsed.data;
    const defined = Object.fromEntries(Object.entries(changed).filter(([, v]) => v !== undefined));
    // Old-style windows in a change land in the policy it leaves (the changed one, else the stored one).
    const policy = foldDeployWindows(changed.policy ?? value.policy, deployWindows);
    const record = appRecordSchema.parse({ ...value, ...defined, ...(policy ? { policy } : {}), updatedAt: this.now().toISOString() });
    const newEtag = await announced(this.options.changes, name, () => replaceJson(this.container, this.path(name), record, etag, { metadata: repoMetadata(record.repoUrl) }));
    return { value: record, etag: newEtag };
  }

  /** Every registered app, by name. */
  /** Names of the registered apps, sorted (one listing, no record read). */
  async names(): Promise<string[]> {
    const names = await listAllNames(this.container, 'apps/');
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice('apps/'.length, -'.json'.length))
      .sort((a, b) => a.localeCompare(b));
  }

  async list(): Promise<AppRecord[]> {
    const names = await listAllNames(this.container, 'apps/');
    const apps = await Promise.all(
      names
        .filter((n) => n.endsWith('.json'))
        .map(async (n) => {
          try {
            return (await this.get(n.slice('apps/'.length, -'.json'.length))).value;
          } catch (err) {
            // Deleted between listing and reading.
            if (err instanceof NotFoundError) return undefined;
            throw err;
          }
        }),
    );
    return apps.filter((a): a is AppRecord => a !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Deletes an app (only if still at `etag`, when given). Missing -> NotFoundError. */
  async delete(name: string, etag?: string): Promise<void> {
    try {
      await announced(this.options.changes, name, () => deleteBlob(this.container, this.path(name), etag));
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`app ${name} not found`, { cause: err });
      throw err;
    }
  }

  /**
   * Apps whose repository is `url`, whatever its spelling (`git@host:o/r.git`, `https://HOST/o/r/`).
   * Several apps may share a repository (a monorepo with several pipeline files). One listing
   * (with metadata) finds the candidates, so only matching apps are read.
   */
  async findByRepository(url: string): Promise<AppRecord[]> {
    let key: string;
    try {
      key = normaliseRepoUrl(url);
    } catch {
      return [];
    }
    const hash = repoCacheKey(url);
    const candidates = (await listWithMetadata(this.container, 'apps/')).filter(
      // Records written without the metadata (by hand, or older code) are checked by reading them.
      (b) => b.name.endsWith('.json') && (b.metadata[REPO_KEY] === undefined || b.metadata[REPO_KEY] === hash),
    );
    const apps = await Promise.all(
      candidates.map(async (b) => {
        try {
          return (await this.get(b.name.slice('apps/'.length, -'.json'.length))).value;
        } catch (err) {
          if (err instanceof NotFoundError) return undefined;
          throw err;
        }
      }),
    );
    return apps
      .filter((app): app is AppRecord => {
        if (!app) return false;
        try {
          return normaliseRepoUrl(app.repoUrl) === key;
        } catch {
          return false;
        }
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}
