import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateX25519Identity } from 'age-encryption';
import { NotFoundError } from '../../shared/errors.js';
import { parsePipelineSpec } from '../../shared/pipeline/index.js';
import { deriveAppIdentity, loadSealedSecrets, parseIdentities, SealedSecrets, UnsealError } from '../../shared/secrets/index.js';

const VALUE = 'db-p4ssw0rd-ZQ81x';

/** The Debian `age` CLI: seal to a recipient (armored). */
function ageSeal(recipient: string, value: string): string {
  return execFileSync('age', ['-r', recipient, '-a'], { input: value }).toString();
}

/** The Debian `age` CLI: open with an identity file. */
function ageOpen(identity: string, sealed: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-age-'));
  try {
    writeFileSync(join(dir, 'key.txt'), `${identity}\n`, { mode: 0o600 });
    return execFileSync('age', ['-d', '-i', join(dir, 'key.txt')], { input: sealed }).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rejectsWith(p: Promise<unknown>, reason: string, reference: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof UnsealError, String(err));
    assert.equal(err.reason, reason);
    assert.ok(err.message.includes(reference), err.message);
    assert.ok(!err.message.includes(VALUE), 'the message never holds the value');
    return true;
  });
}

test('a value sealed with the age CLI to an app recipient opens in Conveyor; Conveyor-sealed values open with the age CLI', async () => {
  const installation = await generateX25519Identity();
  const keys = new SealedSecrets([installation]);
  const recipient = (await keys.recipientFor('shop'))!;
  assert.match(recipient, /^age1[0-9a-z]{58}$/);
  assert.equal(await keys.open('shop', ageSeal(recipient, VALUE), 'secrets.db'), VALUE);
  // The other way: Conveyor seals, the CLI opens with the app's derived identity.
  const appIdentity = deriveAppIdentity(installation, 'shop');
  assert.equal(ageOpen(appIdentity, await keys.seal('shop', VALUE)), VALUE);
  // The derived identity is a well-formed age key: age-keygen computes the same recipient.
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-age-'));
  try {
    writeFileSync(join(dir, 'key.txt'), `${appIdentity}\n`);
    assert.equal(execFileSync('age-keygen', ['-y', join(dir, 'key.txt')]).toString().trim(), recipient);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a value sealed for app A does not open for app B, nor under another installation's key", async () => {
  const keys = new SealedSecrets([await generateX25519Identity()]);
  const forA = ageSeal((await keys.recipientFor('app-a'))!, VALUE);
  assert.notEqual(await keys.recipientFor('app-a'), await keys.recipientFor('app-b'));
  await rejectsWith(keys.open('app-b', forA, 'secrets.stolen (build.secrets.X)'), 'not-for-this-app', 'secrets.stolen (build.secrets.X)');
  const other = new SealedSecrets([await generateX25519Identity()]);
  await rejectsWith(other.open('app-a', forA, 'secrets.x'), 'not-for-this-app', 'secrets.x');
});

test('rotation: with a second identity added first, old values still open and new ones are sealed to the new key', async () => {
  const [oldKey, newKey] = [await generateX25519Identity(), await generateX25519Identity()];
  const before = new SealedSecrets([oldKey]);
  const sealedBefore = ageSeal((await before.recipientFor('shop'))!, VALUE);
  const rotated = new SealedSecrets(parseIdentities(`# current\n${newKey}\n# previous, until values are re-sealed\n${oldKey}\n`));
  assert.notEqual(await rotated.recipientFor('shop'), await before.recipientFor('shop'));
  assert.equal(await rotated.open('shop', sealedBefore, 'secrets.db'), VALUE);
  const sealedAfter = ageSeal((await rotated.recipientFor('shop'))!, 'new-value-1234');
  assert.equal(await rotated.open('shop', sealedAfter, 'secrets.db'), 'new-value-1234');
  // Once the old identity is removed, values still sealed to it stop opening.
  await rejectsWith(new SealedSecrets([newKey]).open('shop', sealedBefore, 'secrets.db'), 'not-for-this-app', 'secrets.db');
});

test('damaged, unarmored and keyless values fail with the reference and the reason only', async () => {
  const keys = new SealedSecrets([await generateX25519Identity()]);
  const good = ageSeal((await keys.recipientFor('shop'))!, VALUE);
  const lines = good.split('\n');
  lines[3] = lines[3]!.split('').reverse().join('');
  await rejectsWith(keys.open('shop', lines.join('\n'), 'secrets.db'), 'corrupt', 'secrets.db');
  await rejectsWith(keys.open('shop', good.slice(0, good.length - 60), 'secrets.db'), 'corrupt', 'secrets.db');
  await rejectsWith(keys.open('shop', VALUE, 'secrets.plain'), 'not-armored', 'secrets.plain');
  await rejectsWith(new SealedSecrets([]).open('shop', good, 'secrets.db'), 'no-identity', 'secrets.db');
  assert.throws(() => new SealedSecrets(['not-a-key']), /CONVEYOR_AGE_IDENTITY: entry 1 is not an age X25519 identity/);
});

test('loading a pipeline fills file secrets from the repository and opens every used one; the first that fails names its use', async () => {
  const keys = new SealedSecrets([await generateX25519Identity()]);
  const forShop = ageSeal((await keys.recipientFor('shop'))!, VALUE);
  const forOther = ageSeal((await keys.recipientFor('other'))!, 'other-app-value');
  const indent = (t: string) => t.trim().split('\n').join('\n    ');
  const yaml = (dbSecret: string) => `secrets:
  npm: |
    ${indent(forShop)}
  db: ${dbSecret}
build: { command: make, artifact: [out], secrets: { NPM_TOKEN: npm } }
environments:
  - name: prod
    target: { type: process, start: ./out/app, port: 9000 }
    secrets: { DB_PASSWORD: db }
`;
  const files: Record<string, string> = { '.conveyor/secrets/db.age': forShop, '.conveyor/secrets/other.age': forOther };
  const read = async (path: string) => {
    const text = files[path];
    if (text === undefined) throw new NotFoundError(`file ${path} not found`);
    return text;
  };
  const spec = await loadSealedSecrets(parsePipelineSpec(yaml('{ file: .conveyor/secrets/db.age }')), 'shop', read, keys);
  assert.equal(spec.environments[0]!.target.secrets!.DB_PASSWORD!.sealed, forShop);
  assert.equal(spec.build.secrets!.NPM_TOKEN!.sealed.trim(), forShop.trim());
  assert.ok(!JSON.stringify(spec).includes(VALUE), 'only ciphertext leaves the loader');
  assert.deepEqual(await keys.openAll('shop', spec.environments[0]!.target.secrets!), { DB_PASSWORD: VALUE });

  await rejectsWith(loadSealedSecrets(parsePipelineSpec(yaml('{ file: .conveyor/secrets/gone.age }')), 'shop', read, keys), 'missing-file', 'secrets.db (file .conveyor/secrets/gone.age)');
  await rejectsWith(
    loadSealedSecrets(parsePipelineSpec(yaml('{ file: .conveyor/secrets/other.age }')), 'shop', read, keys),
    'not-for-this-app',
    'secrets.db (environments.prod.secrets.DB_PASSWORD)',
  );
});

test('the pipeline file refuses secrets: uses of undeclared names, names also in env, and inline text that is not armored age', () => {
  const bad = (yaml: string) => {
    try {
      parsePipelineSpec(yaml);
    } catch (err) {
      return (err as { issues: { path: string; message: string }[] }).issues.map((i) => `${i.path}: ${i.message}`);
    }
    return [];
  };
  const env = `environments:\n  - name: dev\n    target: { type: process, start: x, port: 9000 }\n`;
  assert.deepEqual(bad(`build: { command: make, artifact: [out], secrets: { TOKEN: nope } }\n${env}`), ['build.secrets.TOKEN: secret "nope" is not declared in the top-level secrets']);
  assert.deepEqual(bad(`secrets: { t: { file: a.age } }\nbuild: { command: make, artifact: [out], env: { TOKEN: x }, secrets: { TOKEN: t } }\n${env}`), ['build.secrets.TOKEN: TOKEN is also set in env']);
  assert.match(bad(`secrets: { t: hunter2 }\nbuild: { command: make, artifact: [out] }\n${env}`).join(), /secrets\.t: must be ASCII-armored age output/);
  assert.match(bad(`secrets: { t: { file: ../../etc/passwd } }\nbuild: { command: make, artifact: [out] }\n${env}`).join(), /secrets\.t\.file: must be relative/);
  assert.match(bad(`build: { command: make, artifact: [out], secrets: { CONVEYOR_X: t } }\n${env}`).join(), /CONVEYOR_\* variables are set by Conveyor/);
});
