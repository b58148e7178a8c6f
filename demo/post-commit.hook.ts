#!/usr/bin/env node
/**
 * The demo repository's `post-commit` hook (installed by demo-state.ts):
 *
 *   node dist/demo/post-commit.hook.js <hook.json>
 *
 * Sends HEAD to Conveyor as a signed GitHub push webhook and prints the run it started. A
 * post-commit hook cannot undo the commit, so every problem is reported and the exit code is 0
 * except for a misconfigured hook.
 */
import { readFileSync } from 'node:fs';
import { DemoRepo } from './demo-repo.js';
import { readHookConfig } from './demo-state.js';
import { sendPush } from './push-webhook.js';

async function main(): Promise<number> {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('conveyor hook: usage: post-commit.hook.js <hook.json>\n');
    return 2;
  }
  const config = readHookConfig(file);
  const secrets = JSON.parse(readFileSync(config.secretsFile, 'utf8')) as { webhookSecret?: string };
  if (!secrets.webhookSecret) {
    process.stderr.write(`conveyor hook: no webhookSecret in ${config.secretsFile}\n`);
    return 2;
  }
  const repo = new DemoRepo(config.repo);
  const branch = await repo.git('symbolic-ref', '--quiet', '--short', 'HEAD').catch(() => '');
  const commit = await repo.head();
  if (branch !== config.branch) {
    process.stderr.write(`conveyor hook: ${commit.slice(0, 7)} is not on ${config.branch} (${branch || 'detached HEAD'}); not sent\n`);
    return 0;
  }
  try {
    const result = await sendPush({ origin: config.origin, secret: secrets.webhookSecret, repo, commit, branch });
    if (result.status === 202 || result.status === 200) {
      process.stderr.write(`conveyor hook: pushed ${commit.slice(0, 7)} -> ${result.body.status ?? result.status} run ${result.body.runId ?? '?'}\n`);
      if (result.body.statusUrl) process.stderr.write(`conveyor hook: status ${result.body.statusUrl}\n`);
    } else {
      process.stderr.write(`conveyor hook: Conveyor answered ${result.status}: ${result.body.detail ?? result.body.title ?? ''}\n`);
    }
  } catch (err) {
    process.stderr.write(`conveyor hook: could not reach Conveyor at ${config.origin} (${(err as Error).message}); is \`npm start\` running? The commit is kept; it deploys on the next start.\n`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`conveyor hook: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(0);
  },
);
