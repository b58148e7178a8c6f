/** The name of the emulator's key, as the connection strings Service Bus hands out name theirs. */
export const EMULATOR_KEY_NAME = 'RootManageSharedAccessKey';
/**
 * The well-known key of Microsoft's Service Bus emulator. The local emulator never accepts it:
 * its key is private (per state folder, or per start); kept only to test that it is refused.
 */
export const PUBLIC_EMULATOR_KEY = 'SAS_KEY_VALUE';

/** The connection string the SDK needs for an emulator on 127.0.0.1:port with the given key. */
export function emulatorConnectionString(port: number, key: string, keyName = EMULATOR_KEY_NAME): string {
  return `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=${keyName};SharedAccessKey=${key};UseDevelopmentEmulator=true`;
}
