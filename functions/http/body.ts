/** Request body helpers: a size cap (413) and JSON parsing with a schema (400/415). */
import type { HttpRequest } from '@azure/functions';
import type { z } from 'zod';
import { HttpProblem } from './problem.js';

/** Default cap for API request bodies. */
export const MAX_API_BODY_BYTES = 64 * 1024;

/** Reads the raw body, refusing more than `max` bytes (by declared length first, then by actual size). */
export async function readCappedBody(request: HttpRequest, max: number): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) throw new HttpProblem(413, `request body of ${declared} bytes is over the ${max}-byte limit`);
  const body = Buffer.from(await request.arrayBuffer());
  if (body.length > max) throw new HttpProblem(413, `request body of ${body.length} bytes is over the ${max}-byte limit`);
  return body;
}

/** Request headers as a plain object with lower-cased names. */
export function headerRecord(request: HttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    out[name.toLowerCase()] = value;
  });
  return out;
}

/**
 * Parses a JSON body against `schema`. An empty body is treated as `{}` when `allowEmpty`.
 * Wrong content type -> 415; invalid UTF-8 or JSON -> 400; schema violations -> 400 naming each field.
 */
export async function readJsonBody<S extends z.ZodType>(request: HttpRequest, schema: S, options: { allowEmpty?: boolean; max?: number } = {}): Promise<z.output<S>> {
  const raw = await readCappedBody(request, options.max ?? MAX_API_BODY_BYTES);
  let value: unknown = {};
  if (raw.length > 0 || !options.allowEmpty) {
    const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json' && !type.endsWith('+json')) {
      throw new HttpProblem(415, `expected a JSON body (Content-Type: application/json), got ${type ? JSON.stringify(type) : 'no content type'}`);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new HttpProblem(400, 'request body is not valid UTF-8');
    }
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new HttpProblem(400, `request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
    throw new HttpProblem(400, `invalid request body: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  return parsed.data;
}
