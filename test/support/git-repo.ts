// Test helper: real git repositories in temp folders, and a loopback smart-HTTP git server
// (git http-backend behind node:http) that demands a token, for credential tests.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export interface TestRepo {
  /** Working repository folder. */
  dir: string;
  /** file:// URL of it. */
  url: string;
  /** Writes files (path -> content; null deletes) and commits; returns the commit id. */
  commit(files: Record<string, string | null>, message?: string): string;
  dispose(): void;
}

/** A non-bare repository with branch `main` in a temp folder. */
export function createRepo(): TestRepo {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-repo-'));
  git(dir, 'init', '--quiet', '--initial-branch=main');
  let n = 0;
  return {
    dir,
    url: `file://${dir}`,
    commit(files, message) {
      for (const [path, content] of Object.entries(files)) {
        const full = join(dir, path);
        if (content === null) rmSync(full, { force: true });
        else {
          mkdirSync(dirname(full), { recursive: true });
          writeFileSync(full, content);
        }
      }
      git(dir, 'add', '-A');
      git(dir, 'commit', '--quiet', '--allow-empty', '-m', message ?? `commit ${++n}`);
      return git(dir, 'rev-parse', 'HEAD');
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface GitHttpServer {
  /** Base URL, e.g. http://127.0.0.1:1234/ ; repositories under it by folder name. */
  baseUrl: string;
  /** Authorization headers received, in order. */
  authHeaders: (string | undefined)[];
  close(): Promise<void>;
}

/**
 * Serves the repositories under `root` with git's smart HTTP protocol on 127.0.0.1, requiring
 * `Authorization: Basic base64(user:token)`; anything else gets 401.
 */
export async function startGitHttpServer(root: string, expectedAuth: string): Promise<GitHttpServer> {
  const authHeaders: (string | undefined)[] = [];
  const server: Server = createServer((req, res) => {
    authHeaders.push(req.headers.authorization);
    if (req.headers.authorization !== expectedAuth) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' });
      res.end('unauthorised');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
        HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    baseUrl: `http://127.0.0.1:${port}/`,
    authHeaders,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
