// The path-scoped purity rule (eslint.config.js, docs/architecture.md principle 2) bites under
// orchestrations/ and stays quiet elsewhere. Uses the ESLint Node API with the repo's config.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const forbidden: [label: string, code: string, rule: string][] = [
  ['Date.now()', 'export const t = Date.now();', 'no-restricted-syntax'],
  ['new Date()', 'export const d = new Date();', 'no-restricted-syntax'],
  ['Math.random()', 'export const r = Math.random();', 'no-restricted-syntax'],
  ['process.env', 'export const e = process.env.X;', 'no-restricted-syntax'],
  ['setTimeout', 'setTimeout(() => undefined, 1);', 'no-restricted-globals'],
  ["import fs from 'node:fs'", "import fs from 'node:fs';\nexport const f = fs;", 'no-restricted-imports'],
  ["import from '@azure/storage-blob'", "import { BlobClient } from '@azure/storage-blob';\nexport const b = BlobClient;", 'no-restricted-imports'],
];

async function lint(code: string, filePath: string) {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  return result!.messages;
}

describe('orchestrator purity lint rule', () => {
  for (const [label, code, rule] of forbidden) {
    it(`reports ${label} under orchestrations/`, async () => {
      const messages = await lint(code, 'orchestrations/lint-probe.orchestrator.ts');
      assert.ok(
        messages.some((m) => m.ruleId === rule && m.severity === 2),
        `expected ${rule} for ${label}, got ${JSON.stringify(messages.map((m) => [m.ruleId, m.message]))}`,
      );
    });

    it(`does not report ${label} under shared/`, async () => {
      const messages = await lint(code, 'shared/lint-probe.ts');
      const purity = messages.filter((m) => ['no-restricted-syntax', 'no-restricted-globals', 'no-restricted-imports'].includes(m.ruleId ?? ''));
      assert.deepEqual(purity, []);
    });
  }

  it('accepts deterministic orchestrator code', async () => {
    const code = "export function* pipeline(context: { df: { currentUtcDateTime: Date } }) {\n  const now = context.df.currentUtcDateTime;\n  yield now;\n}\n";
    const messages = await lint(code, 'orchestrations/lint-probe.orchestrator.ts');
    assert.deepEqual(messages.filter((m) => m.severity === 2), []);
  });
});
