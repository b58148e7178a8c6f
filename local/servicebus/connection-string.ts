/** The emulator's connection string (its key is a fixed placeholder: any key is accepted locally). */
export const EMULATOR_KEY_NAME = 'RootManageSharedAccessKey';
export const EMULATOR_KEY = 'SAS_KEY_VALUE';

/** The connection string the SDK needs for an emulator on 127.0.0.1:port. */
export function emulatorConnectionString(port: number): string {
  return `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=${EMULATOR_KEY_NAME};SharedAccessKey=${EMULATOR_KEY};UseDevelopmentEmulator=true`;
}
