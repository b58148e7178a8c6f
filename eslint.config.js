// ESLint flat config. The orchestrations/** block enforces docs/architecture.md principle 2:
// orchestrator code is replayed, so it must not touch the clock, randomness, the environment,
// timers or any I/O module. A test (test/unit/lint-purity.test.ts) proves the rule bites.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** Syntax that breaks replay determinism inside an orchestrator. */
export const orchestratorPurity = {
  'no-restricted-imports': [
    'error',
    {
      paths: nodeBuiltins.map((name) => ({ name, message: 'Orchestrators are replayed: no Node built-ins (do I/O in an activity).' })),
      patterns: [
        { group: ['@azure/*', 'azure-*', 'simple-git', 'better-sqlite3', 'tar', 'yaml'], message: 'Orchestrators are replayed: no SDK or I/O imports (do I/O in an activity).' },
        { group: ['**/local/**', '**/functions/**'], message: 'Orchestrators may import shared/domain and shared/contracts only.' },
        { group: ['**/shared/*', '!**/shared/domain', '!**/shared/contracts', '**/shared/*/**', '!**/shared/domain/**', '!**/shared/contracts/**'], message: 'Orchestrators may import shared/domain and shared/contracts only.' },
      ],
    },
  ],
  'no-restricted-syntax': [
    'error',
    { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Use context.df.currentUtcDateTime, not Date.now().' },
    { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use context.df.currentUtcDateTime, not new Date().' },
    { selector: "CallExpression[callee.name='Date']", message: 'Use context.df.currentUtcDateTime, not Date().' },
    { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'Use context.df.newGuid, not Math.random().' },
    { selector: "MemberExpression[object.name='process']", message: 'No process.* in orchestrators: pass settings in the input.' },
    { selector: "MemberExpression[object.name='crypto'][property.name='randomUUID']", message: 'Use context.df.newGuid.' },
    { selector: "MemberExpression[object.name='performance'][property.name='now']", message: 'Use context.df.currentUtcDateTime.' },
  ],
  'no-restricted-globals': [
    'error',
    { name: 'setTimeout', message: 'Use context.df.createTimer.' },
    { name: 'setInterval', message: 'Use a durable timer loop.' },
    { name: 'setImmediate', message: 'Orchestrators must not schedule work outside the durable runtime.' },
    { name: 'fetch', message: 'Orchestrators must not do I/O: call an activity.' },
    { name: 'process', message: 'No process.* in orchestrators.' },
    { name: 'require', message: 'No dynamic loading in orchestrators.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.conveyor/**', 'bench/out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['shared/**/*.ts', 'orchestrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  {
    files: ['local/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'functions/**/*.ts', 'cli/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['test/fixtures/**/*.js', 'test/fixtures/**/*.cjs', 'test/fixtures/**/*.mjs', 'scripts/**/*.mjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['orchestrations/**/*.ts'],
    rules: orchestratorPurity,
  },
  {
    // The dashboard runs in the browser (bundled by scripts/build-dashboard.mjs).
    files: ['dashboard/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
