// The shared part of the fake Git hosts: a real HTTP server on 127.0.0.1 that reads each
// request whole, records it, can answer the next requests with an injected fault (a 5xx, a
// 429 with Retry-After), and hands the rest to the host's own routing.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** The answer the fake gave. */
  status: number;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: { method: string; path: string; query: URLSearchParams; headers: IncomingMessage['headers']; rawBody: string; body: unknown }) => Reply;

export interface LoopbackServer {
  url: string;
  requests: RecordedRequest[];
  /** Answers the next `count` requests with `reply` instead of handling them. */
  failNext(reply: Reply, count?: number): void;
  close(): Promise<void>;
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw === '') return undefined;
  if ((contentType ?? '').includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export async function startLoopbackServer(handle: Handler): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  const faults: Reply[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const body = parseBody(rawBody, req.headers['content-type']);
      let reply: Reply;
      try {
        reply = faults.shift() ?? handle({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, rawBody, body });
      } catch (err) {
        reply = { status: 500, body: { message: (err as Error).message } };
      }
      requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, status: reply.status });
      const text = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        'content-type': typeof reply.body === 'string' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
        ...reply.headers,
      });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(reply: Reply, count = 1) {
      for (let i = 0; i < count; i++) faults.push(reply);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const SHA = /^[0-9a-f]{40}$/;
