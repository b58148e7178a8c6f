/**
 * `GET /api/openapi.json`: an OpenAPI 3.1 description of every endpoint. Request bodies come
 * from the same zod schemas the handlers validate with, so the document cannot drift from them.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { appRegistrationBody, approvalDecisionBody, breakGlassBody, freezeBody, PAGE_SIZE, rollbackRequestBody, unfreezeBody } from '../../shared/contracts/http.js';
import { LOGGED_STEPS } from '../../shared/domain/ids.js';
import { deploymentRecordSchema } from '../../shared/ledger/deployment-ledger.js';
import { PROVIDER_NAMES } from '../../shared/webhooks/index.js';

type Json = Record<string, unknown>;

const problem = { $ref: '#/components/schemas/Problem' };
const errors = (...codes: number[]): Json =>
  Object.fromEntries(codes.map((c) => [String(c), { description: `problem (${c})`, content: { 'application/problem+json': { schema: problem } } }]));
const ok = (code: number, description: string, schema: Json = { type: 'object' }): Json => ({ [String(code)]: { description, content: { 'application/json': { schema } } } });
const jsonBody = (schema: z.ZodType): Json => ({ required: true, content: { 'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) } } });
const componentSchema = (schema: z.ZodType): Json => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
  return rest;
};
const path = (name: string): Json => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const paging: Json[] = [
  { name: 'pageSize', in: 'query', schema: { type: 'integer', minimum: PAGE_SIZE.min, maximum: PAGE_SIZE.max, default: PAGE_SIZE.default } },
  { name: 'continuation', in: 'query', schema: { type: 'string' } },
];
const fnKey = [{ functionKey: [] }, { adminKey: [] }];
const withIdentity = [{ functionKey: [], bearer: [] }, { adminKey: [], bearer: [] }];

/** The document (exported for tests). */
export function openApiDocument(serverUrl: string): Json {
  return {
    openapi: '3.1.0',
    info: { title: 'Conveyor API', version: '1', description: 'Event-driven GitOps deployments: webhooks, runs, approvals, rollbacks, what runs where.' },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key', description: 'A function key (or the master key).' },
        adminKey: { type: 'apiKey', in: 'header', name: 'x-functions-key', description: 'The master (admin) key.' },
        bearer: { type: 'http', scheme: 'bearer', description: 'Caller identity: a token from CONVEYOR_API_TOKENS (locally) or App Service authentication (Azure).' },
      },
      schemas: {
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details',
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, instance: { type: 'string' } },
          required: ['title', 'status'],
        },
        // What the ledger answers, from the schema it reads records with (after the upgrade of older names).
        DeploymentRecord: componentSchema(deploymentRecordSchema),
      },
    },
    paths: {
      '/webhooks/{provider}': {
        post: {
          summary: 'Receive a push webhook (GitHub, GitLab, Azure DevOps); starts one run per app and commit',
          security: [],
          parameters: [{ ...path('provider'), schema: { enum: [...PROVIDER_NAMES] } }],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
          responses: { ...ok(202, 'run started (runId, statusUrl)'), ...ok(200, 'ping, duplicate delivery, or ignored push (with the reason)'), ...errors(400, 401, 404, 413) },
        },
      },
      '/apps': { get: { summary: 'Registered apps with what runs in each environment', security: fnKey, responses: { ...ok(200, 'apps'), ...errors(401) } } },
      '/overview': { get: { summary: 'Every app with its environment matrix and newest runs (the dashboard); ETag / If-None-Match', security: fnKey, responses: { ...ok(200, 'overview'), ...errors(401) } } },
      '/me': { get: { summary: 'Who the caller is (identity or null)', security: withIdentity, responses: { ...ok(200, 'identity'), ...errors(401) } } },
      '/apps/{app}/metrics': {
        get: {
          summary: 'DORA metrics per environment in promotion order (docs/metrics.md)',
          security: fnKey,
          parameters: [path('app'), { name: 'window', in: 'query', schema: { type: 'string', pattern: '^[1-9][0-9]{0,3}[hdw]$', default: '30d' }, description: 'hours, days or weeks, up to 366d' }],
          responses: { ...ok(200, 'metrics'), ...errors(400, 401, 404) },
        },
      },
      '/apps/{app}': {
        parameters: [path('app')],
        get: { summary: 'One app with its environment matrix', security: fnKey, responses: { ...ok(200, 'app'), ...errors(401, 404) } },
        put: {
          summary: 'Register (201) or update (200) an app; If-Match makes the update conditional',
          security: [{ adminKey: [] }],
          requestBody: jsonBody(appRegistrationBody),
          responses: { ...ok(201, 'registered'), ...ok(200, 'updated'), ...errors(400, 401, 409, 412, 415) },
        },
        delete: { summary: 'Remove a registration (ledger and runs are kept)', security: [{ adminKey: [] }], responses: { 204: { description: 'deleted' }, ...errors(401, 404, 409) } },
      },
      '/apps/{app}/runs': { parameters: [path('app')], get: { summary: 'Runs of an app, newest first', security: fnKey, parameters: paging, responses: { ...ok(200, 'a page of runs'), ...errors(400, 401, 404) } } },
      '/apps/{app}/environments/{env}/history': {
        parameters: [path('app'), path('env')],
        get: { summary: 'Deployments and rollbacks of an environment, newest first', security: fnKey, parameters: paging, responses: {
            ...ok(200, 'a page of ledger records', {
              type: 'object',
              properties: { records: { type: 'array', items: { $ref: '#/components/schemas/DeploymentRecord' } }, continuation: { type: 'string' } },
              required: ['records'],
            }),
            ...errors(400, 401, 404),
          },
        },
      },
      '/apps/{app}/environments/{env}/rollback': {
        parameters: [path('app'), path('env')],
        post: {
          summary: 'Roll an environment back (default: the last good revision before the current one)',
          security: withIdentity,
          requestBody: { ...jsonBody(rollbackRequestBody), required: false },
          responses: { ...ok(202, 'rollback started (operationId, statusUrl)'), ...errors(400, 401, 403, 404, 409, 415) },
        },
      },
      '/operations/{operationId}': { parameters: [path('operationId')], get: { summary: 'Status of a rollback operation', security: fnKey, responses: { ...ok(200, 'operation'), ...errors(401, 404) } } },
      '/runs/{runId}': { parameters: [path('runId')], get: { summary: 'A run: stages, environments, approvals, verification tries, live progress', security: fnKey, responses: { ...ok(200, 'run'), ...errors(401, 404) } } },
      '/runs/{runId}/logs/{step}': {
        parameters: [path('runId'), { ...path('step'), schema: { enum: [...LOGGED_STEPS] } }],
        get: { summary: "A step's log (streamed; partial while the step runs)", security: fnKey, responses: { 200: { description: 'log text', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(401, 404) } },
      },
      '/runs/{runId}/environments/{env}/approval': {
        parameters: [path('runId'), path('env')],
        post: {
          summary: 'Approve or reject a promotion waiting for approval',
          security: withIdentity,
          requestBody: jsonBody(approvalDecisionBody),
          responses: { ...ok(202, 'decision recorded'), ...errors(400, 401, 403, 404, 409, 415) },
        },
      },
      '/runs/{runId}/environments/{env}/break-glass': {
        parameters: [path('runId'), path('env')],
        post: {
          summary: 'Let a run waiting for a closed deploy window enter now (people on the environment\'s break-glass list)',
          security: withIdentity,
          requestBody: jsonBody(breakGlassBody),
          responses: { ...ok(202, 'the run enters'), ...errors(400, 401, 403, 404, 409, 415) },
        },
      },
      '/operations/{operationId}/break-glass': {
        parameters: [path('operationId')],
        post: {
          summary: 'Let a rollback waiting for a closed deploy window enter now (people on the environment\'s break-glass list)',
          security: withIdentity,
          requestBody: jsonBody(breakGlassBody),
          responses: { ...ok(202, 'the rollback enters'), ...errors(400, 401, 403, 404, 409, 415) },
        },
      },
      '/apps/{app}/environments/{env}/freeze': {
        parameters: [path('app'), path('env')],
        post: {
          summary: 'Freeze an environment by hand: later runs wait until it is unfrozen; rollbacks still run',
          security: withIdentity,
          requestBody: jsonBody(freezeBody),
          responses: { ...ok(201, 'frozen'), ...ok(200, 'already frozen'), ...errors(400, 401, 404, 415) },
        },
      },
      '/apps/{app}/environments/{env}/unfreeze': {
        parameters: [path('app'), path('env')],
        post: {
          summary: 'Lift a freeze and wake the run waiting for it',
          security: withIdentity,
          requestBody: { ...jsonBody(unfreezeBody), required: false },
          responses: { ...ok(200, 'lifted'), ...errors(400, 401, 404, 409, 415) },
        },
      },
      '/public-key': {
        get: {
          summary: "The age recipient an app's sealed secrets are sealed to (one per app; docs/security.md)",
          security: fnKey,
          parameters: [{ name: 'app', in: 'query', required: true, schema: { type: 'string' } }],
          responses: { ...ok(200, 'app, recipient, sealCommand'), ...errors(400, 401, 404) },
        },
      },
      '/openapi.json': { get: { summary: 'This document', security: fnKey, responses: ok(200, 'OpenAPI 3.1') } },
      '/health': { get: { summary: 'Liveness', security: [], responses: ok(200, 'ok') } },
    },
  };
}

export async function getOpenApi(request: HttpRequest): Promise<HttpResponseInit> {
  return { status: 200, jsonBody: openApiDocument(`${new URL(request.url).origin}/api`) };
}
