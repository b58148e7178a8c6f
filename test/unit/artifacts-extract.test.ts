import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { extractArtifact, findUnsafeEntries, packArtifact } from '../../shared/artifacts/index.js';
import { ValidationError } from '../../shared/errors.js';

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'conveyor-extract-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

// ---- raw tar building: the archives an attacker would craft, byte by byte ----
type Raw = { name: string; type?: '0' | '1' | '2' | '3' | '5' | '6'; body?: string; link?: string };

function header({ name, type = '0', body = '', link = '' }: Raw): Buffer {
  const h = Buffer.alloc(512, 0);
  const put = (s: string, off: number, len: number) => h.write(s.slice(0, len), off, len, 'utf8');
  const octal = (n: number, off: number, len: number) => h.write(`${n.toString(8).padStart(len - 1, '0')}\0`, off, len, 'ascii');
  put(name, 0, 100);
  octal(type === '5' ? 0o755 : 0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(type === '0' ? Buffer.byteLength(body) : 0, 124, 12);
  octal(0, 136, 12);
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  put(link, 157, 100);
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

function craft(entries: Raw[]): string {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e));
    if ((e.type ?? '0') === '0' && e.body) {
      const data = Buffer.from(e.body);
      parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  parts.push(Buffer.alloc(1024));
  const file = join(tmp, `crafted-${Math.random().toString(36).slice(2)}.tar.gz`);
  writeFileSync(file, gzipSync(Buffer.concat(parts)));
  return file;
}

const malicious: [string, Raw[], RegExp][] = [
  ['absolute path', [{ name: '/tmp/conveyor-evil-abs', body: 'x' }], /absolute/],
  ['parent segment', [{ name: '../conveyor-evil', body: 'x' }], /\.\./],
  ['parent segment in the middle', [{ name: 'a/../../conveyor-evil', body: 'x' }], /\.\./],
  ['backslash parent segment', [{ name: '..\\conveyor-evil', body: 'x' }], /\.\./],
  ['drive letter', [{ name: 'C:/evil', body: 'x' }], /absolute/],
  ['symlink to an absolute path', [{ name: 'etc', type: '2', link: '/etc' }], /absolute/],
  ['symlink escaping upwards', [{ name: 'a/up', type: '2', link: '../../..' }], /leaves/],
  ['hard link escaping', [{ name: 'h', type: '1', link: '../../etc/passwd' }], /leaves/],
  ['hard link to an absolute path', [{ name: 'h', type: '1', link: '/etc/passwd' }], /absolute/],
  ['write through a symlink', [{ name: 'l', type: '2', link: 'sub' }, { name: 'sub', type: '5' }, { name: 'l/file', body: 'x' }], /through a symbolic link/],
  ['symlink chain out through a dot link', [{ name: 'x', type: '2', link: '.' }, { name: 'y', type: '2', link: 'x/..' }], /another symbolic link/],
  ['character device', [{ name: 'dev', type: '3' }], /not allowed/],
  ['FIFO', [{ name: 'fifo', type: '6' }], /not allowed/],
  ['duplicate path swapping a folder for a link', [{ name: 'd', type: '5' }, { name: 'd', type: '2', link: '.' }], /more than once/],
];

for (const [name, entries, message] of malicious) {
  test(`extraction rejects a crafted archive: ${name}, before writing anything`, async () => {
    const archive = craft([{ name: 'ok.txt', body: 'fine' }, ...entries]);
    const dest = join(tmp, `dest-${Math.random().toString(36).slice(2)}`);
    await assert.rejects(extractArtifact(archive, dest), (err: unknown) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.ok(err.issues.some((i) => message.test(i.message)), JSON.stringify(err.issues));
      return true;
    });
    assert.equal(existsSync(dest), false, 'nothing may be written, not even the harmless entry');
    assert.equal(existsSync('/tmp/conveyor-evil-abs'), false);
    assert.equal(existsSync(join(tmp, 'conveyor-evil')), false);
  });
}

test('links that stay inside the destination are extracted', async () => {
  const archive = craft([
    { name: 'app', type: '5' },
    { name: 'app/server.js', body: 'ok' },
    { name: 'current', type: '2', link: 'app/server.js' },
    { name: 'app/again', type: '2', link: '../app/server.js' },
    { name: 'copy.js', type: '1', link: 'app/server.js' },
  ]);
  const dest = join(tmp, 'inside');
  await extractArtifact(archive, dest);
  assert.equal(readFileSync(join(dest, 'current'), 'utf8'), 'ok');
  assert.equal(readlinkSync(join(dest, 'app/again')), '../app/server.js');
  assert.equal(readFileSync(join(dest, 'copy.js'), 'utf8'), 'ok');
});

test('a non-empty destination is refused', async () => {
  const dest = join(tmp, 'busy');
  mkdirSync(dest);
  writeFileSync(join(dest, 'x'), '');
  await assert.rejects(extractArtifact(craft([{ name: 'a', body: 'a' }]), dest), /not empty/);
});

test('a file that is not a tar.gz is a ValidationError', async () => {
  const file = join(tmp, 'junk.tar.gz');
  writeFileSync(file, 'not an archive at all');
  await assert.rejects(extractArtifact(file, join(tmp, 'junk-out')), ValidationError);
});

test('declared content size is capped (zip-bomb guard)', () => {
  const issues = findUnsafeEntries([{ path: 'big', type: 'File', size: 10 }], 5);
  assert.match(issues[0]!.message, /more than the 5 allowed/);
});

test('packing is deterministic: the same tree gives the same digest regardless of mtimes, modes and order', async () => {
  const make = (name: string, mode: number) => {
    const ws = join(tmp, name);
    mkdirSync(join(ws, 'dist/lib'), { recursive: true });
    writeFileSync(join(ws, 'dist/lib/b.js'), 'b');
    writeFileSync(join(ws, 'dist/a.js'), 'a', { mode });
    writeFileSync(join(ws, 'package.json'), '{}');
    writeFileSync(join(ws, 'ignored.txt'), 'not in the artifact');
    symlinkSync('lib/b.js', join(ws, 'dist/link.js'));
    return ws;
  };
  const one = make('ws-one', 0o664);
  const two = make('ws-two', 0o600);
  // Different mtimes on purpose (set, not waited for): the digest must not depend on them.
  for (const f of ['dist/lib/b.js', 'dist/a.js', 'package.json']) utimesSync(join(two, f), 1_000_000, 1_000_000);
  lutimesSync(join(two, 'dist/link.js'), 2_000_000, 2_000_000);
  const p1 = await packArtifact(one, ['dist', 'package.json'], join(tmp, 'one.tar.gz'));
  const p2 = await packArtifact(two, ['package.json', 'dist/', 'dist/a.js'], join(tmp, 'two.tar.gz'));
  assert.equal(p1.digest, p2.digest);
  assert.deepEqual(p1.entries, ['dist', 'dist/a.js', 'dist/lib', 'dist/lib/b.js', 'dist/link.js', 'package.json']);
  const out = join(tmp, 'roundtrip');
  await extractArtifact(p1.file, out);
  assert.equal(readFileSync(join(out, 'dist/lib/b.js'), 'utf8'), 'b');
  assert.equal(readlinkSync(join(out, 'dist/link.js')), 'lib/b.js');
  assert.equal(existsSync(join(out, 'ignored.txt')), false);
  writeFileSync(join(two, 'dist/a.js'), 'changed');
  const p3 = await packArtifact(two, ['dist', 'package.json'], join(tmp, 'three.tar.gz'));
  assert.notEqual(p3.digest, p1.digest);
});

test('packing rejects missing paths, escaping paths and links leaving the workspace', async () => {
  const ws = join(tmp, 'ws-bad');
  mkdirSync(join(ws, 'dist'), { recursive: true });
  symlinkSync('/etc/passwd', join(ws, 'dist/passwd'));
  await assert.rejects(packArtifact(ws, ['dist', 'nope', '../x', '/etc'], join(tmp, 'bad.tar.gz')), (err: unknown) => {
    assert.ok(err instanceof ValidationError);
    const paths = err.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['../x', '/etc', 'dist/passwd', 'nope']);
    return true;
  });
  assert.deepEqual(readdirSync(ws), ['dist']);
});
