/**
 * The demo application: a REAL git repository (made with the git CLI) holding a tiny,
 * dependency-free HTTP service and its `.conveyor/pipeline.yaml` (dev -> staging -> prod, prod
 * gated by an approval). Created on first use under the demo's state folder and reused after.
 *
 * The service answers `GET /` (a line of text), `GET /version` (JSON: commit, revision, env,
 * message) and `GET /healthz` (`ok`, or 500 when HEALTHZ_STATUS in server.js says so). Its
 * message lives in `message.txt`, so "push a change" is `echo ... > message.txt && git commit -am ...`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The environments of the demo pipeline, in promotion order. */
export const DEMO_ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
/** One of the demo environments. */
export type DemoEnvironment = (typeof DEMO_ENVIRONMENTS)[number];
/** Port per environment. */
export type EnvironmentPorts = Record<DemoEnvironment, number>;

/** Who may approve prod in the demo (the identity behind the demo API token). */
export const DEMO_APPROVER = { id: 'demo@conveyor.local', name: 'Demo Approver' } as const;
/** The identity that commits in the demo repository (not an approver: no self-approval). */
export const DEMO_DEVELOPER = { name: 'Demo Developer', email: 'developer@conveyor.local' } as const;
/** The app name the demo registers. */
export const DEMO_APP = 'demo';
/** The tracked branch. */
export const DEMO_BRANCH = 'main';

/** server.js of the demo service; only HEALTHZ_STATUS changes between commits. */
export function demoServerSource(healthzStatus: number): string {
  return `'use strict';
// Conveyor demo service: no dependencies, listens on 127.0.0.1:$PORT.
// Change message.txt and commit to ship a new version; set HEALTHZ_STATUS to 500 to ship a
// broken one (Conveyor's verification fails in dev and rolls it back automatically).
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const HEALTHZ_STATUS = ${healthzStatus};
const MESSAGE = fs.readFileSync(path.join(__dirname, 'message.txt'), 'utf8').trim();

const version = () => ({
  app: process.env.CONVEYOR_APP || null,
  env: process.env.CONVEYOR_ENV || null,
  commit: process.env.CONVEYOR_COMMIT || null,
  revision: process.env.CONVEYOR_REVISION || null,
  message: MESSAGE,
  pid: process.pid,
});

const server = http.createServer((req, res) => {
  const url = (req.url || '/').split('?')[0];
  if (url === '/healthz') {
    res.writeHead(HEALTHZ_STATUS, { 'content-type': 'text/plain' });
    res.end(HEALTHZ_STATUS === 200 ? 'ok' : 'unhealthy');
  } else if (url === '/version') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(version()));
  } else if (url === '/') {
    const v = version();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(MESSAGE + '\\n(' + v.env + ', revision ' + v.revision + ', commit ' + String(v.commit).slice(0, 7) + ')\\n');
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  }
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log('demo service on 127.0.0.1:' + process.env.PORT + ' commit=' + process.env.CONVEYOR_COMMIT);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
`;
}

/** The demo's `.conveyor/pipeline.yaml` for the given ports. */
export function demoPipelineYaml(ports: EnvironmentPorts): string {
  const env = (name: DemoEnvironment, extra = '') => `  - name: ${name}
${extra}    target: { type: process, start: node dist/server.js, port: ${ports[name]}, startTimeout: 10s }
    verify:
      - http: { path: /healthz, expect: 200, bodyContains: ok, timeout: 2s, retries: 3, interval: 200ms }
    rollback: auto
`;
  return `# Conveyor demo pipeline: build once, test, then dev -> staging -> prod (prod needs an approval).
version: 1
build:
  # package.json goes along: it says CommonJS, whatever folder the release is extracted under.
  command: mkdir -p dist && cp server.js message.txt package.json dist/
  artifact: [dist]
  timeout: 2m
test:
  command: node --check server.js && test -s message.txt
  timeout: 1m
environments:
${env('dev')}${env('staging')}${env('prod', `    approval: { approvers: [${DEMO_APPROVER.id}], required: 1, timeout: 24h }\n`)}`;
}

/**
 * git with a fixed identity and without the user's or the system's configuration, so commit
 * signing, global hooks paths or templates can never change what the demo does. Hooks of the
 * repository itself still run (the post-commit hook is the point).
 */
export function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: DEMO_DEVELOPER.name,
    GIT_AUTHOR_EMAIL: DEMO_DEVELOPER.email,
    GIT_COMMITTER_NAME: DEMO_DEVELOPER.name,
    GIT_COMMITTER_EMAIL: DEMO_DEVELOPER.email,
    GIT_TERMINAL_PROMPT: '0',
  };
}

/** Output of a git command: stdout and stderr (hook output goes to stderr). */
export interface GitOutput {
  stdout: string;
  stderr: string;
}

/** The demo repository on disk. */
export class DemoRepo {
  constructor(readonly dir: string) {}

  /** Clone URL Conveyor is registered with (and that webhooks name). */
  get url(): string {
    return `file://${this.dir}`;
  }

  /** Runs git in the repository; returns trimmed stdout (and stderr, for hook output). */
  async run(...args: string[]): Promise<GitOutput> {
    try {
      const { stdout, stderr } = await execFileAsync('git', args, { cwd: this.dir, env: gitEnv(), maxBuffer: 16 * 1024 * 1024 });
      return { stdout: stdout.trim(), stderr: stderr.trim() };
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string; code?: number };
      const output = [e.stdout, e.stderr].map((s) => (s ?? '').trim()).filter((s) => s !== '').join('\n');
      throw new Error(`git ${args.join(' ')} failed (exit ${e.code ?? '?'}) in ${this.dir}${output ? `:\n${output}` : ''}`, { cause: err });
    }
  }

  async git(...args: string[]): Promise<string> {
    return (await this.run(...args)).stdout;
  }

  head(): Promise<string> {
    return this.git('rev-parse', 'HEAD');
  }

  /** Writes files (path -> content) into the working tree. */
  async write(files: Record<string, string>): Promise<void> {
    for (const [path, content] of Object.entries(files)) {
      const full = join(this.dir, path);
      await mkdir(join(full, '..'), { recursive: true });
      await writeFile(full, content);
    }
  }

  read(path: string): Promise<string> {
    return readFile(join(this.dir, path), 'utf8');
  }

  /**
   * Commits everything. `hooks: false` skips the post-commit hook (house-keeping commits that
   * must not deploy). Returns the sha and the hook's output.
   */
  async commitAll(message: string, options: { hooks?: boolean } = {}): Promise<{ sha: string; hookOutput: string }> {
    await this.git('add', '--all');
    const noHooks = options.hooks === false ? ['-c', 'core.hooksPath=/dev/null'] : [];
    // --allow-empty: re-committing content an interrupted run already committed must still make a commit.
    const { stderr, stdout } = await this.run(...noHooks, 'commit', '--quiet', '--no-gpg-sign', '--allow-empty', '-m', message);
    return { sha: await this.head(), hookOutput: [stdout, stderr].filter((s) => s !== '').join('\n') };
  }

  /** True when `.conveyor/pipeline.yaml` at HEAD names exactly these ports. */
  async pipelineMatches(ports: EnvironmentPorts): Promise<boolean> {
    const current = await this.read('.conveyor/pipeline.yaml').catch(() => '');
    return current === demoPipelineYaml(ports);
  }
}

/**
 * Opens the demo repository at `dir`, creating it with one commit (nothing deployed yet) when
 * it does not exist. When the environment ports changed since, commits the updated pipeline
 * file without running hooks (the next commit deploys it). Local config pins the commit
 * identity and the hooks folder, so commits typed by a person in a shell behave the same.
 */
export async function openDemoRepo(dir: string, ports: EnvironmentPorts): Promise<{ repo: DemoRepo; created: boolean; pipelineUpdated: boolean }> {
  const repo = new DemoRepo(dir);
  const created = !existsSync(join(dir, '.git'));
  if (created) {
    await mkdir(dir, { recursive: true });
    await repo.git('init', '--quiet', `--initial-branch=${DEMO_BRANCH}`);
    await repo.write({
      // Its own package.json, so a parent folder's "type": "module" never changes how server.js loads.
      'package.json': JSON.stringify({ name: 'conveyor-demo-service', version: '1.0.0', private: true, type: 'commonjs' }, null, 2) + '\n',
      'README.md': '# Conveyor demo service\n\nEdit `message.txt` and commit: the post-commit hook tells Conveyor, which builds, tests and\npromotes the commit dev -> staging -> prod (prod waits for an approval).\n',
      'message.txt': 'Hello from the Conveyor demo (initial version)\n',
      'server.js': demoServerSource(200),
      '.conveyor/pipeline.yaml': demoPipelineYaml(ports),
    });
  }
  await repo.git('config', 'user.name', DEMO_DEVELOPER.name);
  await repo.git('config', 'user.email', DEMO_DEVELOPER.email);
  await repo.git('config', 'commit.gpgsign', 'false');
  // A global core.hooksPath would otherwise hide the repository's own post-commit hook.
  await repo.git('config', 'core.hooksPath', join(dir, '.git', 'hooks'));
  if (created) {
    await repo.commitAll('Initial demo service', { hooks: false });
    return { repo, created, pipelineUpdated: false };
  }
  let pipelineUpdated = false;
  if (!(await repo.pipelineMatches(ports))) {
    await repo.write({ '.conveyor/pipeline.yaml': demoPipelineYaml(ports) });
    await repo.git('add', '.conveyor/pipeline.yaml');
    await repo.run('-c', 'core.hooksPath=/dev/null', 'commit', '--quiet', '--no-gpg-sign', '-m', `Demo: update the pipeline file (ports ${DEMO_ENVIRONMENTS.map((e) => ports[e]).join(', ')})`);
    pipelineUpdated = true;
  }
  return { repo, created, pipelineUpdated };
}
