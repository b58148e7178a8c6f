/**
 * Small, typed helpers over Azure Blob Storage (`@azure/storage-blob`) used by every Conveyor
 * store: JSON documents read with their ETag, conditional writes (create-if-absent and
 * write-if-match), and a single place where storage status codes become Conveyor errors.
 *
 * Why one module: the optimistic-concurrency rules of docs/architecture.md (principle 6: "a 412
 * means re-read and retry, never overwrite") only hold if every writer maps 409/412/404 the
 * same way, and foreign or corrupt content must surface as `CorruptDataError`, never a crash.
 */
import { BlobServiceClient, RestError, type ContainerClient } from '@azure/storage-blob';
import type { z } from 'zod';
import { credentialFor, type Connection } from '../azure/connection.js';
import { ConflictError, ConveyorError, CorruptDataError, NotFoundError } from '../errors.js';

/** Default container names; override per deployment through settings if needed. */
export const CONTAINERS = {
  /** Registry, ledger and run records (small JSON documents). */
  state: 'conveyor-state',
  /** Content-addressed build artifacts (tar.gz) and their metadata. */
  artifacts: 'conveyor-artifacts',
  /** Step logs (append blobs). */
  logs: 'conveyor-logs',
} as const;

/** A value read from blob storage together with the ETag that identifies this version. */
export interface Versioned<T> {
  value: T;
  etag: string;
}

const serviceClients = new Map<string, BlobServiceClient>();

/**
 * Returns a client for one container of the account a connection names: a connection string
 * (Azurite, or an account with shared keys) or an identity-based connection (an endpoint and a
 * managed identity; see shared/azure/connection.ts). Service clients are cached per connection
 * so HTTP keep-alive pools and tokens are shared.
 */
export function containerClient(connection: string | Connection, containerName: string): ContainerClient {
  const key = typeof connection === 'string' ? connection : connection.kind === 'connectionString' ? connection.connectionString : `identity|${connection.endpoint}|${connection.identity.credential ?? ''}|${connection.identity.clientId ?? ''}`;
  let service = serviceClients.get(key);
  if (!service) {
    if (typeof connection === 'string') service = BlobServiceClient.fromConnectionString(connection);
    else if (connection.kind === 'connectionString') service = BlobServiceClient.fromConnectionString(connection.connectionString);
    else service = new BlobServiceClient(connection.endpoint, credentialFor(connection.identity));
    serviceClients.set(key, service);
  }
  return service.getContainerClient(containerName);
}

const ensured = new WeakSet<ContainerClient>();

/** Creates the container when it does not exist yet (idempotent; remembered per client). */
export async function ensureContainer(container: ContainerClient): Promise<void> {
  if (ensured.has(container)) return;
  try {
    await container.createIfNotExists();
  } catch (err) {
    throw mapStorageError(err, `container ${container.containerName}`);
  }
  ensured.add(container);
}

/** HTTP status of a storage SDK error, when it has one. */
export function storageStatus(err: unknown): number | undefined {
  if (err instanceof RestError) return err.statusCode;
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const code = (err as { statusCode: unknown }).statusCode;
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

/**
 * Maps a storage failure about `what` to a Conveyor error: 404 -> NotFoundError,
 * 409/412 -> ConflictError (already exists / ETag mismatch). Anything else is returned as is
 * (a transient fault the caller may retry), already-mapped errors pass through.
 */
export function mapStorageError(err: unknown, what: string): unknown {
  if (err instanceof ConveyorError) return err;
  const status = storageStatus(err);
  if (status === 404) return new NotFoundError(`${what} not found`, { cause: err });
  if (status === 409) return new ConflictError(`${what} already exists or is in a conflicting state`, { cause: err });
  if (status === 412) return new ConflictError(`${what} was changed by someone else (ETag mismatch)`, { cause: err });
  return err;
}

async function downloadText(container: ContainerClient, path: string, maxBytes: number): Promise<{ text: string; etag: string }> {
  const blob = container.getBlobClient(path);
  let res;
  try {
    res = await blob.download();
  } catch (err) {
    throw mapStorageError(err, `blob ${container.containerName}/${path}`);
  }
  const length = res.contentLength ?? 0;
  if (length > maxBytes) {
    res.readableStreamBody?.resume();
    throw new CorruptDataError(`blob ${container.containerName}/${path} is ${length} bytes, more than the ${maxBytes} expected for a JSON record`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of res.readableStreamBody ?? []) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return { text: Buffer.concat(chunks).toString('utf8'), etag: res.etag ?? '' };
}

/** Options shared by the JSON readers. */
export interface ReadJsonOptions {
  /** Refuse documents larger than this (a foreign blob could be huge). Default 4 MiB. */
  maxBytes?: number;
}

/**
 * Parses `text` as JSON and validates it with `schema`; any failure becomes a CorruptDataError
 * naming `where` and the first problems, so a foreign or hand-edited blob never crashes a caller.
 */
export function parseJsonRecord<S extends z.ZodType>(text: string, schema: S, where: string): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CorruptDataError(`${where} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; ');
    throw new CorruptDataError(`${where} does not have the expected shape: ${detail}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** Reads and validates a JSON blob. Missing -> NotFoundError; unreadable -> CorruptDataError. */
export async function readJson<S extends z.ZodType>(container: ContainerClient, path: string, schema: S, options: ReadJsonOptions = {}): Promise<Versioned<z.output<S>>> {
  const { text, etag } = await downloadText(container, path, options.maxBytes ?? 4 * 1024 * 1024);
  return { value: parseJsonRecord(text, schema, `blob ${container.containerName}/${path}`), etag };
}

/** Like {@link readJson} but resolves `undefined` when the blob does not exist. */
export async function tryReadJson<S extends z.ZodType>(container: ContainerClient, path: string, schema: S, options: ReadJsonOptions = {}): Promise<Versioned<z.output<S>> | undefined> {
  try {
    return await readJson(container, path, schema, options);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** Options of the JSON writers. */
export interface WriteJsonOptions {
  /**
   * Blob metadata written atomically with the document (ASCII names and values). Listings can
   * return it, so a lookup can filter without reading every blob.
   */
  metadata?: Record<string, string>;
}

function body(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/**
 * Writes a JSON blob only if no blob exists at `path` (If-None-Match: *). Resolves the new ETag.
 * An existing blob -> ConflictError. This is the serialisation point for create-only records.
 */
export async function createJson(container: ContainerClient, path: string, value: unknown, options: WriteJsonOptions = {}): Promise<string> {
  const text = body(value);
  try {
    const res = await container.getBlockBlobClient(path).upload(text, Buffer.byteLength(text), {
      conditions: { ifNoneMatch: '*' },
      blobHTTPHeaders: { blobContentType: 'application/json' },
      metadata: options.metadata,
    });
    return res.etag ?? '';
  } catch (err) {
    throw mapStorageError(err, `blob ${container.containerName}/${path}`);
  }
}

/**
 * Replaces a JSON blob only if its ETag is still `etag` (If-Match). Resolves the new ETag.
 * Someone else wrote in between -> ConflictError (re-read and decide); gone -> NotFoundError.
 */
export async function replaceJson(container: ContainerClient, path: string, value: unknown, etag: string, options: WriteJsonOptions = {}): Promise<string> {
  const text = body(value);
  try {
    const res = await container.getBlockBlobClient(path).upload(text, Buffer.byteLength(text), {
      conditions: { ifMatch: etag },
      blobHTTPHeaders: { blobContentType: 'application/json' },
      metadata: options.metadata,
    });
    return res.etag ?? '';
  } catch (err) {
    // A conditional PUT on a missing blob answers 412 on some servers and 404 on others;
    // both mean "not the version you read", which callers handle by re-reading.
    throw mapStorageError(err, `blob ${container.containerName}/${path}`);
  }
}

/** Deletes a blob; with `etag`, only if it is still that version. Missing -> NotFoundError. */
export async function deleteBlob(container: ContainerClient, path: string, etag?: string): Promise<void> {
  try {
    await container.getBlobClient(path).delete({ conditions: etag ? { ifMatch: etag } : undefined });
  } catch (err) {
    throw mapStorageError(err, `blob ${container.containerName}/${path}`);
  }
}

/** One page of blob names. */
export interface NamePage {
  names: string[];
  /** Pass back to get the next page; absent on the last page. */
  continuation?: string;
}

/** Lists blob names under `prefix` one page at a time (lexicographic order, as storage returns them); a missing container lists empty. */
export async function listNames(container: ContainerClient, prefix: string, options: { pageSize?: number; continuation?: string } = {}): Promise<NamePage> {
  try {
    const pages = container.listBlobsFlat({ prefix }).byPage({ maxPageSize: options.pageSize ?? 1000, continuationToken: options.continuation });
    const next = await pages.next();
    if (next.done) return { names: [] };
    const page = next.value;
    return {
      names: page.segment.blobItems.map((b) => b.name),
      continuation: page.continuationToken ? page.continuationToken : undefined,
    };
  } catch (err) {
    // A container that was never created simply holds nothing yet.
    if (storageStatus(err) === 404) return { names: [] };
    throw mapStorageError(err, `container ${container.containerName}`);
  }
}

/** Lists every blob name under `prefix` (follows continuation tokens); a missing container lists empty. */
export async function listAllNames(container: ContainerClient, prefix: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const item of container.listBlobsFlat({ prefix })) out.push(item.name);
  } catch (err) {
    if (storageStatus(err) === 404) return [];
    throw mapStorageError(err, `container ${container.containerName}`);
  }
  return out;
}

/** A blob name with its metadata. */
export interface BlobListing {
  name: string;
  metadata: Record<string, string>;
}

/** Lists every blob under `prefix` with its metadata (one request per 5000 blobs); a missing container lists empty. */
export async function listWithMetadata(container: ContainerClient, prefix: string): Promise<BlobListing[]> {
  const out: BlobListing[] = [];
  try {
    for await (const item of container.listBlobsFlat({ prefix, includeMetadata: true })) out.push({ name: item.name, metadata: item.metadata ?? {} });
  } catch (err) {
    if (storageStatus(err) === 404) return [];
    throw mapStorageError(err, `container ${container.containerName}`);
  }
  return out;
}

/** True when a blob exists at `path`. */
export async function blobExists(container: ContainerClient, path: string): Promise<boolean> {
  try {
    return await container.getBlobClient(path).exists();
  } catch (err) {
    throw mapStorageError(err, `blob ${container.containerName}/${path}`);
  }
}
