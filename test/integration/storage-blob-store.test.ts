import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { blobExists, containerClient, createJson, deleteBlob, ensureContainer, listNames, readJson, replaceJson, tryReadJson } from '../../shared/storage/blob-store.js';
import { ConflictError, CorruptDataError, NotFoundError } from '../../shared/errors.js';
import { withAzurite } from '../support/azurite.js';

let azurite: Awaited<ReturnType<typeof withAzurite>>;
const schema = z.object({ n: z.number() });
const c = () => containerClient(azurite.connectionString, 'storage-test');

before(async () => {
  azurite = await withAzurite();
  await ensureContainer(c());
});
after(async () => {
  await azurite.dispose();
});

test('create-if-absent, read with ETag, write-if-match', async () => {
  const etag = await createJson(c(), 'a.json', { n: 1 });
  await assert.rejects(createJson(c(), 'a.json', { n: 2 }), ConflictError);
  const read = await readJson(c(), 'a.json', schema);
  assert.deepEqual(read, { value: { n: 1 }, etag });
  const etag2 = await replaceJson(c(), 'a.json', { n: 3 }, etag);
  assert.notEqual(etag2, etag);
  await assert.rejects(replaceJson(c(), 'a.json', { n: 4 }, etag), ConflictError, 'a stale ETag is a conflict');
  assert.equal((await readJson(c(), 'a.json', schema)).value.n, 3);
});

test('missing blobs map to NotFoundError (or undefined with tryReadJson)', async () => {
  await assert.rejects(readJson(c(), 'missing.json', schema), NotFoundError);
  assert.equal(await tryReadJson(c(), 'missing.json', schema), undefined);
  await assert.rejects(deleteBlob(c(), 'missing.json'), NotFoundError);
  await assert.rejects(replaceJson(c(), 'missing.json', { n: 1 }, '"0x1"'), (err: unknown) => err instanceof NotFoundError || err instanceof ConflictError);
  assert.equal(await blobExists(c(), 'missing.json'), false);
});

test('unreadable, foreign or oversized content is a CorruptDataError, never a crash', async () => {
  const table: [string, string, RegExp][] = [
    ['garbage.json', '\u0000\u0001binary', /not valid JSON/],
    ['html.json', '<html></html>', /not valid JSON/],
    ['foreign.json', '{"kind":"something else"}', /expected shape: n:/],
    ['array.json', '[1,2,3]', /expected shape/],
  ];
  for (const [name, body, message] of table) {
    await c().getBlockBlobClient(name).upload(body, Buffer.byteLength(body));
    await assert.rejects(readJson(c(), name, schema), (err: unknown) => {
      assert.ok(err instanceof CorruptDataError, name);
      assert.match(err.message, message);
      assert.match(err.message, new RegExp(`storage-test/${name.replace('.', '\\.')}`));
      return true;
    });
  }
  const big = JSON.stringify({ n: 1, pad: 'x'.repeat(2000) });
  await c().getBlockBlobClient('big.json').upload(big, big.length);
  await assert.rejects(readJson(c(), 'big.json', schema, { maxBytes: 1000 }), /more than the 1000/);
});

test('delete with an ETag only deletes that version; listing pages by prefix', async () => {
  const etag = await createJson(c(), 'p/1.json', { n: 1 });
  await replaceJson(c(), 'p/1.json', { n: 2 }, etag);
  await assert.rejects(deleteBlob(c(), 'p/1.json', etag), ConflictError);
  for (const i of [2, 3, 4]) await createJson(c(), `p/${i}.json`, { n: i });
  const first = await listNames(c(), 'p/', { pageSize: 3 });
  assert.deepEqual(first.names, ['p/1.json', 'p/2.json', 'p/3.json']);
  const second = await listNames(c(), 'p/', { pageSize: 3, continuation: first.continuation });
  assert.deepEqual(second.names, ['p/4.json']);
  assert.equal(second.continuation, undefined);
  await deleteBlob(c(), 'p/1.json');
  assert.equal(await blobExists(c(), 'p/1.json'), false);
});

test('a container that does not exist yet reads as empty, not as an error', async () => {
  const fresh = containerClient(azurite.connectionString, 'never-created');
  assert.deepEqual(await listNames(fresh, ''), { names: [] });
  assert.equal(await tryReadJson(fresh, 'x.json', schema), undefined);
  await assert.rejects(readJson(fresh, 'x.json', schema), NotFoundError);
});
