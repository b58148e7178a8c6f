// Raw HTTP for hostile-input tests: fetch() normalises paths (`..`, `%2e`), refuses control
// characters and fixes up headers, so requests that must arrive byte for byte as written go
// over a plain TCP socket to 127.0.0.1.
import { connect } from 'node:net';

/** A parsed raw response. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Options of {@link rawRequest}. */
export interface RawRequest {
  port: number;
  method: string;
  /** The request target exactly as sent (not encoded or normalised). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Leave out Content-Length (the server then sees no body). */
  omitLength?: boolean;
  timeoutMs?: number;
}

/** Sends one HTTP/1.1 request (Connection: close) and reads the whole response. */
export function rawRequest(req: RawRequest): Promise<RawResponse> {
  const body = req.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
  const headers: Record<string, string> = { host: `127.0.0.1:${req.port}`, connection: 'close', ...req.headers };
  if (!req.omitLength) headers['content-length'] = String(body.length);
  const head = `${req.method} ${req.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: req.port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response to ${req.method} ${JSON.stringify(req.path).slice(0, 200)} within ${req.timeoutMs ?? 30_000} ms`));
    }, req.timeoutMs ?? 30_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    // The server may answer (413, 400) and close before the whole body is written.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err as Error);
      }
    });
    // No half-close (socket.end()): the host treats a client that closed its side as gone and
    // drops the invocation; `Connection: close` makes the server close after answering.
    socket.write(head);
    if (body.length > 0) socket.write(body);
  });
}

function parse(raw: Buffer): RawResponse {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no HTTP response (got ${raw.length} bytes: ${JSON.stringify(raw.subarray(0, 200).toString('latin1'))})`);
  const lines = raw.subarray(0, split).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = raw.subarray(split + 4);
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(body);
  return { status: Number(m[1]), headers, body };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < data.length) {
    const eol = data.indexOf('\r\n', pos);
    if (eol < 0) break;
    const size = parseInt(data.subarray(pos, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
