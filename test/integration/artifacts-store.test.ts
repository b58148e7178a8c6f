import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactStore, artifactBlobPath, extractArtifact, type ArtifactDigest } from '../../shared/artifacts/index.js';
import { containerClient, CONTAINERS } from '../../shared/storage/blob-store.js';
import { CorruptDataError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { withAzurite } from '../support/azurite.js';

let tmp: string;
let azurite: Awaited<ReturnType<typeof withAzurite>>;
let store: ArtifactStore;
let ws: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'conveyor-artstore-'));
  azurite = await withAzurite();
  store = new ArtifactStore(containerClient(azurite.connectionString, CONTAINERS.artifacts), { now: () => new Date('2026-01-02T03:04:05Z') });
  ws = join(tmp, 'ws');
  mkdirSync(join(ws, 'dist'), { recursive: true });
  writeFileSync(join(ws, 'dist/server.js'), 'require("http").createServer().listen(process.env.PORT)\n');
  writeFileSync(join(ws, 'package.json'), '{"name":"shop"}\n');
});
after(async () => {
  await azurite.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const origin = { app: 'shop', commit: 'c'.repeat(40), paths: ['dist', 'package.json'] };

test('an artifact is uploaded once under its digest, with metadata', async () => {
  const first = await store.publish(ws, origin);
  assert.equal(first.uploaded, true);
  assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);
  assert.equal(first.blobPath, `artifacts/sha256/${first.digest.slice(7)}.tar.gz`);
  assert.deepEqual(await store.metadata(first.digest), {
    digest: first.digest,
    app: 'shop',
    commit: 'c'.repeat(40),
    size: first.size,
    paths: ['dist', 'package.json'],
    createdAt: '2026-01-02T03:04:05.000Z',
  });
  const container = containerClient(azurite.connectionString, CONTAINERS.artifacts);
  const before = await container.getBlobClient(first.blobPath).getProperties();

  // Same tree, another commit: same digest, nothing uploaded, first metadata kept.
  const second = await store.publish(ws, { ...origin, commit: 'd'.repeat(40) });
  assert.equal(second.digest, first.digest);
  assert.equal(second.uploaded, false);
  assert.equal(second.metadata.commit, 'c'.repeat(40));
  const afterProps = await container.getBlobClient(first.blobPath).getProperties();
  assert.equal(afterProps.etag, before.etag, 'the existing blob was not written again');
});

test('concurrent publishes of the same content upload exactly once', async () => {
  const other = join(tmp, 'ws-race');
  mkdirSync(join(other, 'dist'), { recursive: true });
  writeFileSync(join(other, 'dist/x.js'), 'race');
  const results = await Promise.all(Array.from({ length: 5 }, () => store.publish(other, { ...origin, paths: ['dist'] })));
  assert.equal(new Set(results.map((r) => r.digest)).size, 1);
  assert.equal(results.filter((r) => r.uploaded).length, 1);
  assert.ok(await store.exists(results[0]!.digest));
});

test('download verifies the digest and the archive extracts to the same files', async () => {
  const { digest } = await store.publish(ws, origin);
  const file = join(tmp, 'dl.tar.gz');
  const size = await store.download(digest, file);
  assert.ok(size > 0);
  const out = join(tmp, 'release');
  await extractArtifact(file, out);
  assert.equal(readFileSync(join(out, 'package.json'), 'utf8'), '{"name":"shop"}\n');
});

test('a tampered artifact fails verification and leaves no file behind', async () => {
  const tampered = join(tmp, 'ws-tamper');
  mkdirSync(tampered);
  writeFileSync(join(tampered, 'a.txt'), 'original');
  const { digest } = await store.publish(tampered, { ...origin, paths: ['a.txt'] });
  const container = containerClient(azurite.connectionString, CONTAINERS.artifacts);
  await container.getBlockBlobClient(artifactBlobPath(digest)).upload('evil bytes', 10);
  const file = join(tmp, 'tampered.tar.gz');
  await assert.rejects(store.download(digest, file), (err: unknown) => {
    assert.ok(err instanceof CorruptDataError);
    assert.match(err.message, /failed verification/);
    return true;
  });
  assert.throws(() => readFileSync(file));
});

test('unknown, malformed and corrupt-metadata digests give clear errors', async () => {
  const missing = `sha256:${'0'.repeat(64)}` as ArtifactDigest;
  await assert.rejects(store.download(missing, join(tmp, 'x')), NotFoundError);
  await assert.rejects(store.metadata(missing), NotFoundError);
  await assert.rejects(store.download('sha256:../../etc' as ArtifactDigest, join(tmp, 'x')), ValidationError);
  const { digest } = await store.publish(ws, origin);
  const container = containerClient(azurite.connectionString, CONTAINERS.artifacts);
  await container.getBlockBlobClient(`artifacts/sha256/${digest.slice(7)}.json`).upload('{"hello":', 9);
  await assert.rejects(store.metadata(digest), CorruptDataError);
});
