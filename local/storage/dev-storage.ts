/**
 * The development-storage placeholder, as Azure Functions Core Tools and the storage SDKs know
 * it: a setting whose value is `UseDevelopmentStorage=true` asks for the local emulator. The
 * local host starts Azurite on free ports, so it hands the running emulator's full connection
 * string to every setting that asks for it — whatever the app names its settings.
 */

/** The value a setting holds to ask for the local storage emulator. */
export const DEV_STORAGE = 'UseDevelopmentStorage=true';

/** True when the value is the development-storage placeholder (surrounding spaces ignored). */
export function asksForDevStorage(value: string | undefined): boolean {
  return value !== undefined && value.trim() === DEV_STORAGE;
}

/** True when a storage connection setting points somewhere real (not empty, not the placeholder). */
export function isRealStorageConnection(value: string | undefined): boolean {
  return !!value && value.trim() !== '' && !asksForDevStorage(value);
}

/**
 * Replaces the placeholder with the running emulator's connection string in every setting of
 * the environment that holds it; returns the names of the settings changed, sorted.
 */
export function handOffDevStorage(env: NodeJS.ProcessEnv, connectionString: string): string[] {
  const names: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!asksForDevStorage(value)) continue;
    env[name] = connectionString;
    names.push(name);
  }
  return names.sort();
}
