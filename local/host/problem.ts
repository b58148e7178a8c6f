/** RFC 9457 problem details, the host's only error body format. */
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** Writes a problem+json response (unless headers already went out, then just ends). */
export function sendProblem(res: ServerResponse, problem: Problem, extraHeaders?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    type: problem.type ?? 'about:blank',
    title: problem.title ?? STATUS_CODES[problem.status] ?? 'Error',
    ...problem,
  });
  const headers: Record<string, string | number> = {
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extraHeaders,
  };
  res.writeHead(problem.status, headers);
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
