// App loading details: local.settings.json, %Setting% references, main globs, log levels.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applySettings, entryFiles, readAppPackage, readLocalSettings, resolveSettingRefs } from '../../local/host/app-loader.js';
import { isRealStorageConnection } from '../../local/host/host.js';
import { handOffDevStorage } from '../../local/storage/dev-storage.js';
import { ConsoleLogger, levelFor, parseLogLevel, type LogRecord } from '../../local/host/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'conveyor-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('local.settings.json', () => {
  it('applies Values without overriding variables already set, like func start', () => {
    writeFileSync(
      join(dir, 'local.settings.json'),
      JSON.stringify({ IsEncrypted: false, Values: { A: 'from-file', B: 'from-file', N: 5, FLAG: true }, Host: { LocalHttpPort: 7075 } }),
    );
    const s = readLocalSettings(dir);
    assert.equal(s.hostPort, 7075);
    const env: NodeJS.ProcessEnv = { A: 'already' };
    const applied = applySettings(env, s.values);
    assert.deepEqual(applied.sort(), ['B', 'FLAG', 'N']);
    assert.equal(env.A, 'already');
    assert.equal(env.B, 'from-file');
    assert.equal(env.N, '5');
    assert.equal(env.FLAG, 'true');
  });

  it('treats a missing file as empty and refuses encrypted settings', () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    assert.deepEqual(readLocalSettings(empty), { values: {} });
    writeFileSync(join(empty, 'local.settings.json'), JSON.stringify({ IsEncrypted: true, Values: {} }));
    assert.throws(() => readLocalSettings(empty), /encrypted settings are not supported/);
  });
});

describe('%Setting% references', () => {
  const table: [string, NodeJS.ProcessEnv, string, string[]][] = [
    ['%SCHEDULE%', { SCHEDULE: '0 */5 * * * *' }, '0 */5 * * * *', []],
    ['hub-%ENV%-x', { ENV: 'dev' }, 'hub-dev-x', []],
    ['%A%%B%', { A: '1', B: '2' }, '12', []],
    ['%MISSING%', {}, '%MISSING%', ['MISSING']],
    ['no refs', {}, 'no refs', []],
    ['100%', {}, '100%', []],
  ];
  for (const [input, env, expected, missing] of table) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, () => {
      const seen: string[] = [];
      assert.equal(resolveSettingRefs(input, env, (n) => seen.push(n)), expected);
      assert.deepEqual(seen, missing);
    });
  }
});

describe('package.json main', () => {
  it('expands a glob to every matching file, sorted', async () => {
    const app = join(dir, 'globapp');
    mkdirSync(join(app, 'dist', 'functions'), { recursive: true });
    for (const f of ['b.js', 'a.js', 'c.txt']) writeFileSync(join(app, 'dist', 'functions', f), '');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module', main: 'dist/functions/*.js' }));
    const pkg = readAppPackage(app);
    assert.equal(pkg.type, 'module');
    assert.deepEqual((await entryFiles(pkg)).map((f) => f.slice(app.length)), ['/dist/functions/a.js', '/dist/functions/b.js']);
  });

  it('names the missing file when main does not exist', async () => {
    const app = join(dir, 'nomain');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ main: 'dist/index.js' }));
    const pkg = readAppPackage(app);
    assert.equal(pkg.type, 'commonjs');
    await assert.rejects(entryFiles(pkg), /main 'dist\/index.js' not found/);
  });
});

describe('storage connection', () => {
  for (const [value, real] of [[undefined, false], ['', false], ['UseDevelopmentStorage=true', false], ['DefaultEndpointsProtocol=https;AccountName=x', true]] as const) {
    it(`${JSON.stringify(value)} is ${real ? 'real' : 'the emulator'}`, () => assert.equal(isRealStorageConnection(value), real));
  }
});

describe('development storage hand-off', () => {
  it('gives the emulator connection string to every setting that asks for it, whatever its name', () => {
    const env: NodeJS.ProcessEnv = {
      MY_BLOBS: 'UseDevelopmentStorage=true',
      Other_Store: '  UseDevelopmentStorage=true ',
      REAL: 'DefaultEndpointsProtocol=https;AccountName=x',
      NOT_IT: 'UseDevelopmentStorage=false',
      WITH_PROXY: 'UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1',
      EMPTY: '',
    };
    const names = handOffDevStorage(env, 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:1234/devstoreaccount1;');
    assert.deepEqual(names, ['MY_BLOBS', 'Other_Store']);
    assert.equal(env.MY_BLOBS, 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:1234/devstoreaccount1;');
    assert.equal(env.Other_Store, env.MY_BLOBS);
    assert.equal(env.REAL, 'DefaultEndpointsProtocol=https;AccountName=x');
    assert.equal(env.NOT_IT, 'UseDevelopmentStorage=false');
    assert.equal(env.WITH_PROXY, 'UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1');
    assert.equal(env.EMPTY, '');
  });

  it('changes nothing when no setting asks', () => {
    const env: NodeJS.ProcessEnv = { A: 'x' };
    assert.deepEqual(handOffDevStorage(env, 'conn'), []);
    assert.deepEqual(env, { A: 'x' });
  });
});

describe('logger', () => {
  it('understands host.json level names', () => {
    assert.equal(parseLogLevel('Information'), 'info');
    assert.equal(parseLogLevel('Warning'), 'warn');
    assert.equal(parseLogLevel('Critical'), 'error');
    assert.equal(parseLogLevel('None'), 'none');
    assert.equal(parseLogLevel('loud'), undefined);
  });

  it('picks the most specific host.json category', () => {
    const levels = { default: 'Warning', Function: 'Information', 'Function.quiet': 'Error' };
    assert.equal(levelFor(levels, 'Function.quiet.User', 'info'), 'error');
    assert.equal(levelFor(levels, 'Function.other.User', 'info'), 'info');
    assert.equal(levelFor(levels, 'Host.Results', 'trace'), 'trace');
    assert.equal(levelFor({ default: 'Warning' }, 'default', 'info'), 'warn');
  });

  it('writes timestamped lines with level, function name and invocation id, filtered by level', () => {
    const lines: string[] = [];
    const records: LogRecord[] = [];
    const log = new ConsoleLogger({ level: 'info', write: (l) => lines.push(l), onRecord: (r) => records.push(r) });
    const fnLog = log.child({ functionName: 'hello' });
    fnLog.debug('hidden');
    fnLog.info('shown', { invocationId: 'inv-1', extra: 'a b' });
    log.child({ category: 'host' }).warn('careful');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}\[hello inv-1\] shown extra="a b"$/);
    assert.match(lines[1]!, /WARN {2}\[host\] careful$/);
    assert.equal(records[0]!.fields.functionName, 'hello');
    const json: string[] = [];
    new ConsoleLogger({ format: 'json', write: (l) => json.push(l) }).error('bad', { invocationId: 'x' });
    assert.deepEqual(Object.keys(JSON.parse(json[0]!) as object), ['time', 'level', 'message', 'invocationId']);
  });
});
