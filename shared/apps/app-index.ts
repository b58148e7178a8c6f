/**
 * An in-memory index of registered apps by repository, so a webhook delivery does not list and
 * read blobs: it is refreshed in the background at most every few seconds (one shared refresh,
 * the previous copy served meanwhile) and dropped at once when this process changes an app.
 * Another instance's registration shows up within the refresh interval.
 */
import type { AppRecord } from './app-record.schema.js';
import type { AppRegistry } from './app-registry.js';
import { normaliseRepoUrl } from '../git/index.js';

/** How old the index may get before a delivery triggers a refresh. */
export const APP_INDEX_TTL_MS = 3000;

function keyOf(url: string): string | undefined {
  try {
    return normaliseRepoUrl(url);
  } catch {
    return undefined;
  }
}

/** The apps-by-repository index (one per process). */
export class AppIndex {
  private snapshot: { at: number; byRepository: Map<string, AppRecord[]> } | undefined;
  private loading: Promise<Map<string, AppRecord[]>> | undefined;
  private generation = 0;

  /** An index over `apps`. */
  constructor(
    private readonly apps: Pick<AppRegistry, 'list'>,
    /** Told of every app each time the index loads (e.g. to register their secrets for redaction). */
    private readonly onLoad: (apps: readonly AppRecord[]) => void = () => undefined,
    private readonly ttlMs = APP_INDEX_TTL_MS,
  ) {}

  /** Loads the index if there is none yet (so `onLoad` has seen every app). */
  async ensureLoaded(): Promise<void> {
    await this.current();
  }

  /** Forget the index (after a registration changed in this process). */
  invalidate(): void {
    this.generation++;
    this.snapshot = undefined;
    this.loading = undefined;
  }

  /** Apps registered for any of the repository URLs (each app once). */
  async find(urls: readonly string[]): Promise<AppRecord[]> {
    const index = await this.current();
    const found = new Map<string, AppRecord>();
    for (const key of new Set(urls.map(keyOf).filter((k): k is string => k !== undefined))) {
      for (const app of index.get(key) ?? []) found.set(app.name, app);
    }
    return [...found.values()];
  }

  private current(): Promise<Map<string, AppRecord[]>> {
    const fresh = this.snapshot && Date.now() - this.snapshot.at < this.ttlMs;
    if (fresh) return Promise.resolve(this.snapshot!.byRepository);
    if (!this.loading) {
      const loading = this.load().finally(() => {
        if (this.loading === loading) this.loading = undefined;
      });
      this.loading = loading;
    }
    // Serve the previous copy while one refresh runs; wait only when there is none.
    return this.snapshot ? Promise.resolve(this.snapshot.byRepository) : this.loading!;
  }

  private async load(): Promise<Map<string, AppRecord[]>> {
    const generation = this.generation;
    const byRepository = new Map<string, AppRecord[]>();
    const apps = await this.apps.list();
    this.onLoad(apps);
    for (const app of apps) {
      const key = keyOf(app.repoUrl);
      if (key !== undefined) byRepository.set(key, [...(byRepository.get(key) ?? []), app]);
    }
    // A registration changed while this load ran: its result may predate the change.
    if (generation === this.generation) this.snapshot = { at: Date.now(), byRepository };
    return byRepository;
  }
}
