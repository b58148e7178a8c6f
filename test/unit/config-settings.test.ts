import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readSettings, SETTING_CATALOGUE } from '../../shared/config/settings.js';
import { ValidationError } from '../../shared/errors.js';

/** Rows of the README's settings table: first cell's setting name, then the other cells. */
async function readmeSettingRows(): Promise<Map<string, { meaning: string; default: string; secret: string }>> {
  const readme = await readFile(join(process.cwd(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Settings'));
  const table = section.slice(0, section.indexOf('\n## ')).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| setting'));
  const rows = new Map<string, { meaning: string; default: string; secret: string }>();
  for (const line of table) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const name = /`([^`]+)`/.exec(cells[0]!)?.[1];
    assert.ok(name, `README settings row without a setting name: ${line}`);
    rows.set(name, { meaning: cells[1]!, default: cells[2]!, secret: cells[3]! });
  }
  return rows;
}

test('the README settings table lists exactly the catalogued settings, with the same meaning, default and secrecy', async () => {
  const rows = await readmeSettingRows();
  assert.deepEqual([...rows.keys()], SETTING_CATALOGUE.map((s) => s.name), 'same settings, same order');
  for (const entry of SETTING_CATALOGUE) {
    const row = rows.get(entry.name)!;
    assert.equal(row.meaning, entry.meaning, `meaning of ${entry.name}`);
    assert.equal(row.default, entry.default ?? '', `default of ${entry.name}`);
    assert.equal(row.secret, entry.secret ? 'yes' : 'no', `secrecy of ${entry.name}`);
  }
});

test('settings are parsed once: storage falls back to AzureWebJobsStorage, the data folder is absolute', () => {
  const s = readSettings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' });
  assert.equal(s.storageConnection, 'UseDevelopmentStorage=true');
  assert.equal(s.dataDir, resolve('.conveyor/data'));
  assert.equal(s.appServiceAuth, false);
  assert.equal(readSettings({ CONVEYOR_STORAGE_CONNECTION: 'a', AzureWebJobsStorage: 'b' }).storageConnection, 'a');
});

test('a missing storage setting fails with a message naming it', () => {
  assert.throws(() => readSettings({}), (err: unknown) => err instanceof ValidationError && /CONVEYOR_STORAGE_CONNECTION/.test(err.message));
});

test('WEBSITE_AUTH_ENABLED is on only for "true" (any case)', () => {
  for (const [value, on] of [['true', true], ['TRUE', true], ['1', false], ['', false], [undefined, false]] as const) {
    assert.equal(readSettings({ AzureWebJobsStorage: 'x', WEBSITE_AUTH_ENABLED: value }).appServiceAuth, on, String(value));
  }
});

test('API tokens are parsed into a table; a malformed table is kept as an error naming the setting', () => {
  const good = readSettings({ AzureWebJobsStorage: 'x', CONVEYOR_API_TOKENS: JSON.stringify({ 'token-0123456789abcdef': { id: 'ann@example.com', groups: ['ops'] } }) });
  assert.ok(good.apiTokens.ok);
  assert.deepEqual(good.apiTokens.table.get('token-0123456789abcdef'), { id: 'ann@example.com', groups: ['ops'] });
  for (const raw of ['{not json', JSON.stringify({ short: { id: 'x' } }), JSON.stringify({ 'token-0123456789abcdef': { nope: 1 } })]) {
    const bad = readSettings({ AzureWebJobsStorage: 'x', CONVEYOR_API_TOKENS: raw });
    assert.ok(!bad.apiTokens.ok, raw);
    assert.match(bad.apiTokens.error.message, /CONVEYOR_API_TOKENS/);
  }
});

test("an app's webhook secret setting is split on commas and trimmed, empty parts dropped", () => {
  const s = readSettings({ AzureWebJobsStorage: 'x', SHOP_SECRET: ' old-secret , new-secret,, ' });
  assert.deepEqual(s.webhookSecrets('SHOP_SECRET'), ['old-secret', 'new-secret']);
  assert.deepEqual(s.webhookSecrets('UNSET_SECRET'), []);
});
