/**
 * Conveyor's settings, read once from the environment (app settings in Azure,
 * local.settings.json / the local host's environment locally) and validated with a schema so a
 * bad value fails start-up with a message that names the setting.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../errors.js';

const nonEmpty = z.string().trim().min(1);

const settingsSchema = z.object({
  /** Blob storage for Conveyor's state, artifacts and logs. Falls back to AzureWebJobsStorage. */
  storageConnection: nonEmpty,
  /** Local working folder: git cache, workspaces, process-target releases. */
  dataDir: nonEmpty,
  /** Optional token for https git remotes (never logged). */
  gitToken: z.string().optional(),
  /** User name paired with the git token (default `x-access-token`). */
  gitUser: z.string().optional(),
});

/** Validated settings. */
export type Settings = z.infer<typeof settingsSchema>;

/**
 * Reads settings from an environment. `CONVEYOR_STORAGE_CONNECTION` (or `AzureWebJobsStorage`),
 * `CONVEYOR_DATA_DIR` (default `.conveyor/data` under the working folder), `CONVEYOR_GIT_TOKEN`,
 * `CONVEYOR_GIT_USER`.
 */
export function readSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  const storage = env.CONVEYOR_STORAGE_CONNECTION || env.AzureWebJobsStorage;
  const raw = {
    storageConnection: storage,
    dataDir: resolve(env.CONVEYOR_DATA_DIR || '.conveyor/data'),
    gitToken: env.CONVEYOR_GIT_TOKEN || undefined,
    gitUser: env.CONVEYOR_GIT_USER || undefined,
  };
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const names: Record<string, string> = {
      storageConnection: 'CONVEYOR_STORAGE_CONNECTION (or AzureWebJobsStorage)',
      dataDir: 'CONVEYOR_DATA_DIR',
      gitToken: 'CONVEYOR_GIT_TOKEN',
      gitUser: 'CONVEYOR_GIT_USER',
    };
    const issues = parsed.error.issues.map((i) => ({ path: names[String(i.path[0])] ?? String(i.path[0]), message: i.message }));
    throw new ValidationError(`invalid settings: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return parsed.data;
}
