// Test helper: a REAL git repository (in a temp dir, made with the git CLI) holding a tiny HTTP
// service with no npm dependencies and a `.conveyor/pipeline.yaml`, so pipeline tests never
// need the package registry. Helpers commit changes (including a broken /healthz) and return
// the new shas.
//
//   const svc = await createSampleService();            // ports picked free on 127.0.0.1
//   const sha = await svc.commitChange('second');      // new commit, /version reports it
//   const bad = await svc.commitBrokenHealth();        // /healthz answers 500
//   await svc.buildCommit(sha, workDir);               // runs the build step: workDir/dist/server.js
//   await svc.dispose();
//
// The service: GET /healthz -> 200 "ok" (or 500 "unhealthy"); GET /version -> JSON
// { commit, revision, env, app, message, pid } from the CONVEYOR_* variables; it listens on
// 127.0.0.1:$PORT and exits cleanly on SIGTERM.
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { x as extractTar } from 'tar';

const execFileAsync = promisify(execFile);

/** The build step of the sample pipeline; needs nothing but coreutils. */
export const SAMPLE_BUILD_COMMAND = 'mkdir -p dist && cp server.js dist/';
/** The start command of every environment (run in the release folder, which holds `dist/`). */
export const SAMPLE_START_COMMAND = 'node dist/server.js';
/** The environments of the sample pipeline, in promotion order. */
export const SAMPLE_ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;

/** One of the sample pipeline's environments. */
export type SampleEnvironment = (typeof SAMPLE_ENVIRONMENTS)[number];

/** Knobs for the generated pipeline file. */
export interface SamplePipelineOptions {
  /** Port per environment (default: free ports found on 127.0.0.1). */
  ports: Record<SampleEnvironment, number>;
  /** Health-check retries per environment (default 2) and interval (default `200ms`). */
  retries?: number;
  interval?: string;
  /** Start timeout (default `10s`). */
  startTimeout?: string;
  /** Rollback mode for every environment (default `auto`). */
  rollback?: 'auto' | 'manual';
  /** Include a `test:` step (default true): `node --check server.js`. */
  withTest?: boolean;
}

/** Options for {@link createSampleService}. */
export interface SampleServiceOptions extends Partial<SamplePipelineOptions> {
  /** Replace the generated pipeline file entirely. */
  pipelineYaml?: string;
  /** Branch to create (default `main`). */
  branch?: string;
}

/** Options of {@link SampleService.pushWebhook}. */
export interface PushWebhookOptions {
  /** Default `github`. */
  provider?: 'github' | 'gitlab' | 'azure-devops';
  /** Webhook secret (GitHub HMAC key, GitLab token, Azure DevOps `user:password`). */
  secret: string;
  /** Pushed commit; default HEAD. */
  commit?: string;
  /** Previous commit; default the commit's parent (zeros for the first commit). */
  before?: string;
  /** Full ref; default `refs/heads/<branch>`. */
  ref?: string;
  /** Delivery id; default a random UUID. */
  deliveryId?: string;
}

/** A sample repository on disk. */
export interface SampleService {
  /** Working tree of the repository (also its clone URL: an absolute path). */
  readonly dir: string;
  /** `file://` form of {@link dir}. */
  readonly url: string;
  readonly branch: string;
  readonly ports: Record<SampleEnvironment, number>;
  /** The first commit's sha. */
  readonly initialCommit: string;
  /** Current HEAD sha. */
  head(): Promise<string>;
  /** Changes the service's `message` (shown by /version), commits, returns the sha. */
  commitChange(message: string): Promise<string>;
  /** Makes /healthz answer 500, commits, returns the sha. */
  commitBrokenHealth(message?: string): Promise<string>;
  /** Makes /healthz answer 200 again, commits, returns the sha. */
  commitHealthy(message?: string): Promise<string>;
  /** Replaces `.conveyor/pipeline.yaml`, commits, returns the sha. */
  commitPipeline(yaml: string, message?: string): Promise<string>;
  /** Writes the tree of `commit` into `destDir` (like a checkout, without `.git`). */
  exportCommit(commit: string, destDir: string): Promise<void>;
  /** Exports `commit` into `workDir` and runs the build step there; returns `workDir`. */
  buildCommit(commit: string, workDir: string): Promise<string>;
  /**
   * A push webhook for a commit of this repository as `provider` would send it, signed or
   * authenticated with `secret` (Azure DevOps: `user:password`). Its repository URLs are this
   * repository's path and file:// URL.
   */
  pushWebhook(options: PushWebhookOptions): Promise<{ body: Buffer; headers: Record<string, string> }>;
  /** Runs git in the repository with the fixed identity; returns trimmed stdout. */
  git(...args: string[]): Promise<string>;
  /** Deletes the repository. */
  dispose(): Promise<void>;
}

/** Fixed identity and no user/system config, so commits are reproducible and hooks/signing never interfere. */
const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: tmpdir(),
  LANG: 'C',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Conveyor Test',
  GIT_AUTHOR_EMAIL: 'conveyor-test@example.com',
  GIT_COMMITTER_NAME: 'Conveyor Test',
  GIT_COMMITTER_EMAIL: 'conveyor-test@example.com',
  GIT_TERMINAL_PROMPT: '0',
};

/** The service's source; `healthStatus` and `message` are the two things tests change. */
export function sampleServerSource(state: { healthStatus: number; message: string }): string {
  return `'use strict';
// Sample service for Conveyor tests: no dependencies, listens on 127.0.0.1:$PORT.
const http = require('node:http');

const HEALTH_STATUS = ${state.healthStatus};
const MESSAGE = ${JSON.stringify(state.message)};

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/healthz') {
    res.statusCode = HEALTH_STATUS;
    res.setHeader('content-type', 'text/plain');
    res.end(HEALTH_STATUS === 200 ? 'ok' : 'unhealthy');
    return;
  }
  if (path === '/version') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({
      commit: process.env.CONVEYOR_COMMIT || null,
      revision: process.env.CONVEYOR_REVISION || null,
      env: process.env.CONVEYOR_ENV || null,
      app: process.env.CONVEYOR_APP || null,
      message: MESSAGE,
      pid: process.pid,
    }));
    return;
  }
  res.statusCode = 404;
  res.end('not found');
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log('listening on 127.0.0.1:' + process.env.PORT + ' commit=' + process.env.CONVEYOR_COMMIT);
});

function shutdown(signal) {
  console.log('received ' + signal + ', shutting down');
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
`;
}

/** The generated `.conveyor/pipeline.yaml` (the format of shared/pipeline/pipeline-spec.schema.ts). */
export function samplePipelineYaml(options: SamplePipelineOptions): string {
  const retries = options.retries ?? 2;
  const interval = options.interval ?? '200ms';
  const startTimeout = options.startTimeout ?? '10s';
  const rollback = options.rollback ?? 'auto';
  const envs = SAMPLE_ENVIRONMENTS.map(
    (name) => `  - name: ${name}
    target:
      type: process
      start: ${SAMPLE_START_COMMAND}
      port: ${options.ports[name]}
      startTimeout: ${startTimeout}
    verify:
      - http:
          path: /healthz
          expect: 200
          bodyContains: ok
          timeout: 2s
          retries: ${retries}
          interval: ${interval}
    rollback: ${rollback}
`,
  ).join('');
  const testStep = options.withTest === false ? '' : `test:\n  command: node --check server.js\n  timeout: 1m\n`;
  return `# Sample pipeline for Conveyor tests.
version: 1
build:
  command: ${SAMPLE_BUILD_COMMAND}
  artifact:
    - dist
  timeout: 2m
${testStep}environments:
${envs}`;
}

/**
 * Finds `count` distinct TCP ports that are free on 127.0.0.1 right now, chosen below the
 * kernel's ephemeral range (32768 and up on Linux). A test holds these ports only on paper until
 * its services start; taking them from outside the range that port-0 binds draw from means an
 * emulator or a server of another test file running in parallel cannot be handed one meanwhile.
 */
export async function findFreePorts(count: number): Promise<number[]> {
  const held: import('node:net').Server[] = [];
  const ports: number[] = [];
  const tryPort = (port: number) =>
    new Promise<import('node:net').Server | undefined>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(undefined));
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  for (let attempts = 0; ports.length < count; attempts++) {
    if (attempts > 1000) throw new Error(`no ${count} free ports found on 127.0.0.1 between 20000 and 32767`);
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    if (ports.includes(port)) continue;
    const s = await tryPort(port);
    if (!s) continue;
    held.push(s);
    ports.push(port);
  }
  // Held until every port is known, so none is counted twice.
  await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** Creates the sample repository with one commit (server.js, package.json, pipeline file). */
export async function createSampleService(options: SampleServiceOptions = {}): Promise<SampleService> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-sample-'));
  const dir = join(root, 'sample-service');
  await mkdir(join(dir, '.conveyor'), { recursive: true });
  const branch = options.branch ?? 'main';
  let ports = options.ports;
  if (!ports) {
    const [dev, staging, prod] = await findFreePorts(3);
    ports = { dev: dev!, staging: staging!, prod: prod! };
  }
  const state = { healthStatus: 200, message: 'initial' };

  const git = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileAsync('git', args, { cwd: dir, env: GIT_ENV, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  };
  const commitAll = async (message: string): Promise<string> => {
    await git('add', '--all');
    await git('commit', '--quiet', '--no-verify', '--no-gpg-sign', '-m', message);
    return git('rev-parse', 'HEAD');
  };
  const writeServer = () => writeFile(join(dir, 'server.js'), sampleServerSource(state));

  await git('init', '--quiet', `--initial-branch=${branch}`);
  // A package.json of its own so a parent folder's `"type": "module"` can never change how server.js loads.
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'sample-service', version: '1.0.0', private: true, type: 'commonjs' }, null, 2) + '\n');
  await writeFile(join(dir, 'README.md'), '# sample-service\n\nA dependency-free HTTP service used by Conveyor tests.\n');
  await writeServer();
  await writeFile(join(dir, '.conveyor', 'pipeline.yaml'), options.pipelineYaml ?? samplePipelineYaml({ ...options, ports }));
  const initialCommit = await commitAll('Initial sample service');

  const exportCommit = async (commit: string, destDir: string): Promise<void> => {
    await mkdir(destDir, { recursive: true });
    const child = spawn('git', ['archive', '--format=tar', commit], { cwd: dir, env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    let extractError: unknown;
    await pipeline(child.stdout, extractTar({ cwd: destDir, strict: true })).catch((err: unknown) => (extractError = err));
    const code = await exited;
    if (code !== 0) throw new Error(`git archive ${commit} failed (exit ${code}): ${stderr.trim()}`);
    if (extractError !== undefined) throw extractError;
  };

  const pushWebhook = async (options: PushWebhookOptions): Promise<{ body: Buffer; headers: Record<string, string> }> => {
    const commit = options.commit ?? (await git('rev-parse', 'HEAD'));
    const before = options.before ?? (await git('rev-parse', '--verify', '--quiet', `${commit}^`).catch(() => '0'.repeat(40)));
    const ref = options.ref ?? `refs/heads/${branch}`;
    const deliveryId = options.deliveryId ?? randomUUID();
    const message = await git('log', '-1', '--format=%B', commit);
    const author = { name: GIT_ENV.GIT_AUTHOR_NAME!, email: GIT_ENV.GIT_AUTHOR_EMAIL! };
    const url = `file://${dir}`;
    const provider = options.provider ?? 'github';
    if (provider === 'github') {
      const body = Buffer.from(
        JSON.stringify({
          ref,
          before,
          after: commit,
          created: /^0+$/.test(before),
          deleted: false,
          forced: false,
          commits: [{ id: commit, message, author: { ...author, username: 'conveyor-test' } }],
          head_commit: { id: commit, message, timestamp: new Date().toISOString(), author: { ...author, username: 'conveyor-test' } },
          repository: { name: 'sample-service', full_name: 'local/sample-service', clone_url: url, html_url: url, url: dir },
          pusher: { name: 'conveyor-test', email: author.email },
          sender: { login: 'conveyor-test' },
        }),
      );
      const signature = `sha256=${createHmac('sha256', options.secret).update(body).digest('hex')}`;
      return {
        body,
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': deliveryId, 'x-hub-signature-256': signature, 'user-agent': 'GitHub-Hookshot/test' },
      };
    }
    if (provider === 'gitlab') {
      const body = Buffer.from(
        JSON.stringify({
          object_kind: 'push',
          event_name: 'push',
          before,
          after: commit,
          ref,
          checkout_sha: commit,
          user_name: author.name,
          user_username: 'conveyor-test',
          user_email: author.email,
          project: { name: 'sample-service', path_with_namespace: 'local/sample-service', git_http_url: url, web_url: url },
          commits: [{ id: commit, message, author }],
          total_commits_count: 1,
        }),
      );
      return { body, headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': options.secret, 'idempotency-key': deliveryId } };
    }
    const body = Buffer.from(
      JSON.stringify({
        id: deliveryId,
        eventType: 'git.push',
        publisherId: 'tfs',
        resource: {
          commits: [{ commitId: commit, author, comment: message }],
          refUpdates: [{ name: ref, oldObjectId: before, newObjectId: commit }],
          repository: { name: 'sample-service', remoteUrl: url, url: dir, project: { name: 'local' } },
          pushedBy: { displayName: author.name, uniqueName: author.email },
        },
      }),
    );
    return { body, headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(options.secret).toString('base64')}` } };
  };

  return {
    dir,
    url: `file://${dir}`,
    pushWebhook,
    branch,
    ports,
    initialCommit,
    head: () => git('rev-parse', 'HEAD'),
    git,
    async commitChange(message: string) {
      state.message = message;
      await writeServer();
      return commitAll(message);
    },
    async commitBrokenHealth(message = 'Break /healthz (answers 500)') {
      state.healthStatus = 500;
      await writeServer();
      return commitAll(message);
    },
    async commitHealthy(message = 'Fix /healthz') {
      state.healthStatus = 200;
      await writeServer();
      return commitAll(message);
    },
    async commitPipeline(yaml: string, message = 'Change the pipeline') {
      await writeFile(join(dir, '.conveyor', 'pipeline.yaml'), yaml);
      return commitAll(message);
    },
    exportCommit,
    async buildCommit(commit: string, workDir: string) {
      await exportCommit(commit, workDir);
      await execFileAsync('bash', ['-c', SAMPLE_BUILD_COMMAND], { cwd: workDir, env: { PATH: process.env.PATH } });
      return workDir;
    },
    async dispose() {
      await rm(root, { recursive: true, force: true });
    },
  };
}
