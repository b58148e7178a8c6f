/**
 * Request body schemas of Conveyor's HTTP API: the handlers validate with these, and the
 * OpenAPI document (functions/http/openapi.function.ts) is generated from the very same
 * schemas, so the two cannot drift. A client (the CLI) may validate with them too.
 */
import { z } from 'zod';
import { appChangesSchema } from '../apps/app-record.schema.js';

/** `PUT /api/apps/{app}`: the registration (the name, if given, must match the URL). */
export const appRegistrationBody = appChangesSchema.extend({ name: z.string().optional() });

/** `POST /api/apps/{app}/environments/{env}/rollback`: all optional; an empty body rolls back to the last good revision. */
export const rollbackRequestBody = z.strictObject({
  toRevision: z.number().int().positive().optional(),
  reason: z.string().max(2000).optional(),
  force: z.boolean().default(false),
  /** Break-glass for a closed deploy window (checked against the environment's policy). */
  breakGlass: z.strictObject({ reason: z.string().trim().min(1).max(2000) }).optional(),
});

/** `POST /api/runs/{runId}/environments/{env}/break-glass`. */
export const breakGlassBody = z.strictObject({ reason: z.string().trim().min(1, 'say why the window is overridden').max(2000) });

/** `POST /api/apps/{app}/environments/{env}/freeze`: why (required). */
export const freezeBody = z.strictObject({ reason: z.string().trim().min(1, 'say why the environment is frozen').max(2000) });

/** `POST /api/apps/{app}/environments/{env}/unfreeze`: optionally why. */
export const unfreezeBody = z.strictObject({ reason: z.string().trim().max(2000).optional() });

/** `POST /api/runs/{runId}/environments/{env}/approval`. */
export const approvalDecisionBody = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  comment: z.string().max(2000).optional(),
});

/** Paging of list endpoints (`?pageSize=&continuation=`). */
export const PAGE_SIZE = { default: 20, min: 1, max: 200 } as const;
