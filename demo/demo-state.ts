/**
 * The demo's state folder and what lives in it:
 *
 *   <root>/repo/            the demo service's git repository (post-commit hook installed)
 *   <root>/host/            the local host's state: keys, Azurite data, durable store
 *   <root>/data/            CONVEYOR_DATA_DIR: git cache, workspaces, process-target releases
 *   <root>/secrets.json     webhook secret and the demo approver's API token (generated once, 0600)
 *   <root>/hook.json        where the post-commit hook sends webhooks (rewritten on each start)
 *   <root>/conveyor.log     the host's log
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEMO_BRANCH, DEMO_ENVIRONMENTS, type EnvironmentPorts } from './demo-repo.js';

/** The repository root (Conveyor's app folder): dist/demo -> ../.. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Paths of one demo state folder. */
export interface DemoPaths {
  root: string;
  repo: string;
  hostState: string;
  data: string;
  secrets: string;
  hookConfig: string;
  log: string;
  /** process-target root (where deployed environments' state lives). */
  processTargets: string;
}

/** Paths under `root`. */
export function demoPaths(root: string): DemoPaths {
  const r = resolve(root);
  const data = join(r, 'data');
  return {
    root: r,
    repo: join(r, 'repo'),
    hostState: join(r, 'host'),
    data,
    secrets: join(r, 'secrets.json'),
    hookConfig: join(r, 'hook.json'),
    log: join(r, 'conveyor.log'),
    processTargets: join(data, 'targets', 'process'),
  };
}

const secretsSchema = z.object({ webhookSecret: z.string().min(16), approverToken: z.string().min(16) });
/** Secrets generated once per state folder. */
export type DemoSecrets = z.infer<typeof secretsSchema>;

/** Reads the state folder's secrets, generating and storing them (mode 0600) on first use. */
export function loadSecrets(paths: DemoPaths): DemoSecrets {
  if (existsSync(paths.secrets)) {
    const parsed = secretsSchema.safeParse(JSON.parse(readFileSync(paths.secrets, 'utf8')));
    if (parsed.success) return parsed.data;
  }
  const secrets: DemoSecrets = { webhookSecret: randomBytes(24).toString('base64url'), approverToken: `demo-${randomBytes(24).toString('base64url')}` };
  mkdirSync(paths.root, { recursive: true });
  writeFileSync(paths.secrets, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  chmodSync(paths.secrets, 0o600);
  return secrets;
}

const hookConfigSchema = z.object({ origin: z.string().url(), secretsFile: z.string(), branch: z.string(), repo: z.string() });
/** What the post-commit hook reads. */
export type HookConfig = z.infer<typeof hookConfigSchema>;

/** Reads hook.json (validated: the hook must fail with a clear message, not a stack). */
export function readHookConfig(file: string): HookConfig {
  return hookConfigSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/**
 * Writes hook.json and `.git/hooks/post-commit`. The hook runs this very node binary on the
 * compiled hook script, so it works whatever `node` is first on the PATH of the person's shell.
 */
export function installPostCommitHook(paths: DemoPaths, origin: string): string {
  const config: HookConfig = { origin, secretsFile: paths.secrets, branch: DEMO_BRANCH, repo: paths.repo };
  writeFileSync(paths.hookConfig, JSON.stringify(config, null, 2) + '\n');
  const script = join(REPO_ROOT, 'dist', 'demo', 'post-commit.hook.js');
  const hook = join(paths.repo, '.git', 'hooks', 'post-commit');
  mkdirSync(dirname(hook), { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(
    hook,
    `#!/bin/sh
# Installed by Conveyor's demo (npm start / npm run demo): sends every commit on ${DEMO_BRANCH} to
# Conveyor as a signed GitHub push webhook, so \`git commit\` deploys.
exec ${q(process.execPath)} ${q(script)} ${q(paths.hookConfig)}
`,
    { mode: 0o755 },
  );
  chmodSync(hook, 0o755);
  return hook;
}

/** Parses `a,b,c` into the three environment ports. */
export function parseEnvironmentPorts(value: string, what: string): EnvironmentPorts {
  const parts = value.split(',').map((s) => Number(s.trim()));
  if (parts.length !== DEMO_ENVIRONMENTS.length || parts.some((p) => !Number.isInteger(p) || p < 1024 || p > 65535) || new Set(parts).size !== parts.length) {
    throw new Error(`${what} must be three distinct ports 1024-65535 for ${DEMO_ENVIRONMENTS.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return { dev: parts[0]!, staging: parts[1]!, prod: parts[2]! };
}

/** Parses a port (0 allowed: pick a free one). */
export function parsePort(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${what} must be a port 0-65535 (got ${JSON.stringify(value)})`);
  return n;
}
