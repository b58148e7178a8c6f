/**
 * RFC 9457 problem+json responses for every HTTP error Conveyor answers, and the mapping from
 * the domain's named errors to statuses.
 */
import type { HttpResponseInit } from '@azure/functions';
import { ConflictError, ConveyorError, NotFoundError, ValidationError } from '../../shared/errors.js';

/** A problem document (RFC 9457). */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** An error that already knows its HTTP problem. Thrown inside handlers, answered by `errorToResponse`. */
export class HttpProblem extends Error {
  readonly problem: Problem;
  constructor(status: number, detail: string, extensions: Record<string, unknown> = {}) {
    super(detail);
    this.problem = { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...extensions };
  }
}

/** Builds the HTTP response for a problem. */
export function problemResponse(problem: Problem, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status: problem.status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: JSON.stringify(problem),
  };
}

/** Shorthand: a problem response with a status and detail. */
export function problem(status: number, detail: string, extensions: Record<string, unknown> = {}): HttpResponseInit {
  return problemResponse(new HttpProblem(status, detail, extensions).problem);
}

/** Maps a thrown error to a problem response; unknown errors become a 500 that leaks nothing. */
export function errorToResponse(err: unknown, log?: (message: string) => void): HttpResponseInit {
  if (err instanceof HttpProblem) return problemResponse(err.problem);
  if (err instanceof ValidationError) return problem(400, err.message, { errors: err.issues });
  if (err instanceof NotFoundError) return problem(404, err.message);
  if (err instanceof ConflictError) return problem(409, err.message);
  if (err instanceof ConveyorError) return problem(422, err.message);
  log?.(`unhandled error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return problem(500, 'An internal error occurred; see the host log for details.');
}
