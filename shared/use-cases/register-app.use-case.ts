/**
 * Registering, updating and removing an app, for any adapter (the admin HTTP API today; a CLI or
 * an infrastructure-as-code sync would call the same): a name not registered yet is created, a
 * registered one is updated (conditionally when the caller names the version it read), and the
 * repository index that webhook deliveries are matched against is refreshed either way.
 */
import type { AppChanges, AppInput, AppRecord } from '../apps/app-record.schema.js';
import type { AppRegistry } from '../apps/app-registry.js';
import type { Versioned } from '../storage/blob-store.js';
import { NotFoundError } from '../errors.js';

/** What registering needs. */
export interface RegisterAppPorts {
  apps: Pick<AppRegistry, 'get' | 'create' | 'update' | 'delete'>;
  /** Apps by repository, as webhook deliveries find them. */
  appIndex: { invalidate(): void };
}

/** Creates app `name` from `changes`, or updates it; `ifMatch` makes an update conditional on that version. */
export async function registerApp(
  ports: RegisterAppPorts,
  request: { name: string; changes: AppChanges; by?: string; ifMatch?: string },
): Promise<{ created: boolean } & Versioned<AppRecord>> {
  const existing = await ports.apps.get(request.name).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  ports.appIndex.invalidate();
  if (!existing) {
    // A new app: the registration schema (AppRegistry.create) checks every required field.
    const created = await ports.apps.create({ ...request.changes, name: request.name } as AppInput, request.by);
    return { created: true, ...created };
  }
  const updated = await ports.apps.update(request.name, request.changes, request.ifMatch ?? existing.etag);
  return { created: false, ...updated };
}

/** Removes app `name` (its ledger and runs are kept); `ifMatch` makes it conditional. */
export async function removeApp(ports: RegisterAppPorts, name: string, ifMatch?: string): Promise<void> {
  await ports.apps.delete(name, ifMatch);
  ports.appIndex.invalidate();
}
