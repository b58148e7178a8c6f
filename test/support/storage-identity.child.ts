// Child process for test/integration/storage-identity.test.ts: reads Conveyor's settings from
// its environment exactly as the app does, writes and reads one JSON record through the shared
// blob client factory, and prints the outcome as JSON. A separate process because the test
// certificate is trusted through NODE_EXTRA_CA_CERTS, which Node reads at start-up.
import { z } from 'zod';
import { credentialFor, resolveConnection } from '../../shared/azure/connection.js';
import { readSettings } from '../../shared/config/settings.js';
import { containerClient, createJson, ensureContainer, readJson } from '../../shared/storage/blob-store.js';

/** `token <connection name> <service> <scope>`: resolve the connection and get a token for it. */
async function token(name: string, service: 'serviceBus' | 'keyVault' | 'blob', scope: string): Promise<void> {
  const connection = resolveConnection(process.env, name, service);
  if (connection?.kind !== 'identity') throw new Error(`${name} is not an identity-based connection`);
  const t = await credentialFor(connection.identity).getToken(scope);
  process.stdout.write(JSON.stringify({ ok: true, kind: 'identity', value: { endpoint: connection.endpoint, tokenLength: t?.token.length ?? 0 } }));
}

async function main(): Promise<void> {
  if (process.argv[2] === 'token') return token(process.argv[3]!, process.argv[4] as 'serviceBus', process.argv[5]!);
  const settings = readSettings(process.env);
  const kind = typeof settings.storageConnection === 'string' ? 'connectionString' : settings.storageConnection.kind;
  const container = containerClient(settings.storageConnection, 'identity-check');
  await ensureContainer(container);
  const path = `record-${process.pid}-${Date.now()}.json`;
  await createJson(container, path, { hello: 'azure' });
  const back = await readJson(container, path, z.object({ hello: z.string() }));
  process.stdout.write(JSON.stringify({ ok: true, kind, value: back.value }));
}

main().catch((err: unknown) => {
  const e = err as { statusCode?: number; code?: string; message?: string };
  process.stdout.write(JSON.stringify({ ok: false, statusCode: e.statusCode, code: e.code, message: String(e.message ?? err).slice(0, 500) }));
});
