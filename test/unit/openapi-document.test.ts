// The OpenAPI document is generated from the schemas the handlers validate with
// (shared/contracts/http.ts): these checks fail if a body is redeclared by hand and drifts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { openApiDocument } from '../../functions/http/openapi.function.js';
import { appRegistrationBody, approvalDecisionBody, breakGlassBody, freezeBody, rollbackRequestBody, unfreezeBody } from '../../shared/contracts/http.js';

const doc = openApiDocument('http://127.0.0.1/api') as { paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: unknown } } } }>> };
const bodyOf = (path: string, method: string) => doc.paths[path]?.[method]?.requestBody?.content['application/json'].schema;
const asInput = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

test('each request body in the document is the JSON Schema of the schema its handler validates with', () => {
  assert.deepEqual(bodyOf('/apps/{app}', 'put'), asInput(appRegistrationBody));
  assert.deepEqual(bodyOf('/apps/{app}/environments/{env}/rollback', 'post'), asInput(rollbackRequestBody));
  assert.deepEqual(bodyOf('/runs/{runId}/environments/{env}/approval', 'post'), asInput(approvalDecisionBody));
  assert.deepEqual(bodyOf('/runs/{runId}/environments/{env}/break-glass', 'post'), asInput(breakGlassBody));
  assert.deepEqual(bodyOf('/apps/{app}/environments/{env}/freeze', 'post'), asInput(freezeBody));
  assert.deepEqual(bodyOf('/apps/{app}/environments/{env}/unfreeze', 'post'), asInput(unfreezeBody));
});

test('every route registered in functions/index.ts is in the document with its methods (the dashboard UI aside)', async () => {
  const index = await readFile('functions/index.ts', 'utf8');
  const routes = [...index.matchAll(/route: '([^']+)',\s*methods: \[([^\]]+)\]/g)].map((m) => ({ path: `/${m[1]}`, methods: [...m[2]!.matchAll(/'([A-Z]+)'/g)].map((x) => x[1]!.toLowerCase()) }));
  assert.ok(routes.length >= 10, `found ${routes.length} routes`);
  for (const { path, methods } of routes) {
    if (path.startsWith('/dashboard/')) continue; // static files of the UI, not an API
    for (const method of methods) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is registered but not documented`);
  }
});

test('the rollback body documents force as optional with default false, as the handler applies it', () => {
  const schema = bodyOf('/apps/{app}/environments/{env}/rollback', 'post') as { properties: Record<string, { default?: unknown }>; required?: string[] };
  assert.equal(schema.properties.force?.default, false);
  assert.ok(!(schema.required ?? []).includes('force'));
  assert.equal(rollbackRequestBody.parse({}).force, false);
});

test('ledger records are documented under the one vocabulary (docs/glossary.md), from the schema the ledger reads them with', () => {
  const schemas = ((doc as unknown as { components: unknown }).components as { schemas: Record<string, { properties: Record<string, { properties?: Record<string, unknown> }> }> }).schemas;
  const record = schemas.DeploymentRecord!;
  for (const name of ['digest', 'rolledBackTo', 'requestedBy', 'finishedAt']) assert.ok(record.properties[name], `${name} is documented`);
  for (const old of ['artifactDigest', 'rollbackOf', 'deployedAt']) assert.equal(record.properties[old], undefined, `${old} is not`);
  assert.deepEqual(Object.keys(record.properties.requestedBy!.properties ?? {}), ['id', 'name'], 'the requester is a whole actor');
});
