// The OpenAPI document is generated from the schemas the handlers validate with
// (shared/contracts/http.ts): these checks fail if a body is redeclared by hand and drifts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { openApiDocument } from '../../functions/http/openapi.function.js';
import { appRegistrationBody, approvalDecisionBody, rollbackRequestBody } from '../../shared/contracts/http.js';

const doc = openApiDocument('http://127.0.0.1/api') as { paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: unknown } } } }>> };
const bodyOf = (path: string, method: string) => doc.paths[path]?.[method]?.requestBody?.content['application/json'].schema;
const asInput = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

test('each request body in the document is the JSON Schema of the schema its handler validates with', () => {
  assert.deepEqual(bodyOf('/apps/{app}', 'put'), asInput(appRegistrationBody));
  assert.deepEqual(bodyOf('/apps/{app}/environments/{env}/rollback', 'post'), asInput(rollbackRequestBody));
  assert.deepEqual(bodyOf('/runs/{runId}/environments/{env}/approval', 'post'), asInput(approvalDecisionBody));
});

test('the rollback body documents force as optional with default false, as the handler applies it', () => {
  const schema = bodyOf('/apps/{app}/environments/{env}/rollback', 'post') as { properties: Record<string, { default?: unknown }>; required?: string[] };
  assert.equal(schema.properties.force?.default, false);
  assert.ok(!(schema.required ?? []).includes('force'));
  assert.equal(rollbackRequestBody.parse({}).force, false);
});
