import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SecretRegistry, StreamingRedactor, redact } from '../../shared/secrets/index.js';

test('every occurrence of every secret is masked', () => {
  assert.equal(redact('token=hunter22 and again hunter22', ['hunter22']), 'token=*** and again ***');
  assert.equal(redact('a-s3cr3t-b p@ss.w*rd', ['s3cr3t', 'p@ss.w*rd']), 'a-***-b ***');
});

test('overlapping secrets are masked completely (longest first)', () => {
  assert.equal(redact('xxabcdefyy', ['abcd', 'abcdef']), 'xx***yy');
});

test('values that are too short to be meaningful are not registered', () => {
  const reg = new SecretRegistry(['', 'ab', 'abcd']);
  assert.deepEqual(reg.list(), ['abcd']);
});

test('multi-line secrets are also masked line by line', () => {
  const reg = new SecretRegistry(['-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----']);
  assert.equal(reg.redact('line: AAAABBBBCCCC'), 'line: ***');
});

test('a secret split across chunks is still masked', () => {
  const reg = new SecretRegistry(['SECRET-VALUE']);
  const r = new StreamingRedactor(reg);
  const out = [r.push('before SEC'), r.push('RET-'), r.push('VAL'), r.push('UE after SE'), r.push('CRET'), r.end()].join('');
  assert.equal(out, 'before *** after SECRET');
});

test('text that cannot start a secret is emitted immediately', () => {
  const r = new StreamingRedactor(new SecretRegistry(['SECRET']));
  assert.equal(r.push('hello world\n'), 'hello world\n');
  assert.equal(r.push('abc S'), 'abc ');
  assert.equal(r.end(), 'S');
});

test('streamed redaction equals whole-text redaction for any chunking (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[ab]{4,7}$/), { minLength: 1, maxLength: 3 }),
      fc.stringMatching(/^[abc]{0,60}$/),
      fc.array(fc.nat(60), { maxLength: 8 }),
      (secrets, text, cuts) => {
        const reg = new SecretRegistry(secrets);
        const points = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((x, y) => x - y);
        const r = new StreamingRedactor(reg);
        let out = '';
        let prev = 0;
        for (const p of points) {
          out += r.push(text.slice(prev, p));
          prev = p;
        }
        out += r.push(text.slice(prev)) + r.end();
        assert.equal(out, reg.redact(text));
      },
    ),
    { numRuns: 2000 },
  );
});
