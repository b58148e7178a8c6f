// Activity inputs are parsed where they enter: a malformed input never reaches the activity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import functions from '@azure/functions';
import { withValidInput } from '../../functions/activities/valid-input.js';
import { activityInputSchemas } from '../../shared/contracts/activity-inputs.schema.js';
import { ValidationError } from '../../shared/errors.js';
import { DEPLOYMENT_KINDS } from '../../shared/domain/deployment.js';

const context = new functions.InvocationContext({ functionName: 'recordDeployment', invocationId: 't' });
const DIGEST = `sha256:${'a'.repeat(64)}`;
const outcome = {
  app: 'shop',
  environment: 'prod',
  runId: 'shop.abcdef0',
  commit: 'abcdef0',
  digest: DIGEST,
  kind: 'deploy',
  requestedBy: { id: 'pat@example.com' },
  revision: 3,
  status: 'Succeeded',
  verification: [{ check: 0, attempt: 1, ok: true, at: 't', durationMs: 4, status: 200 }],
  startedAt: 't0',
  finishedAt: 't1',
};

test('a valid input reaches the activity unchanged, extra fields included', async () => {
  let seen: unknown;
  const handler = withValidInput('recordDeployment', async (input) => {
    seen = input;
    return { revision: input.revision };
  });
  assert.deepEqual(await handler({ ...outcome, newerField: 1 }, context), { revision: 3 });
  assert.deepEqual(seen, { ...outcome, newerField: 1 });
});

const refused: [string, Record<string, unknown>, RegExp][] = [
  ['a digest that is not sha256', { ...outcome, digest: 'md5:abc' }, /digest: must be sha256/],
  ['an environment name with a path in it', { ...outcome, environment: '../prod' }, /environment: must be an app or environment name/],
  ['a status outside the ledger vocabulary', { ...outcome, status: 'Running' }, /status/],
  ['a missing actor', { ...outcome, requestedBy: undefined }, /requestedBy/],
  ['a revision of zero', { ...outcome, revision: 0 }, /revision/],
];
for (const [name, input, message] of refused) {
  test(`refused before the activity runs: ${name}`, async () => {
    let ran = false;
    const handler = withValidInput('recordDeployment', async () => {
      ran = true;
      return { revision: 0 };
    });
    await assert.rejects(handler(input, context), (err: unknown) => err instanceof ValidationError && message.test(err.message));
    assert.equal(ran, false);
  });
}

test('every activity has a schema, and each refuses a non-object input', () => {
  for (const [name, schema] of Object.entries(activityInputSchemas)) assert.equal(schema.safeParse('not an object').success, false, name);
  assert.equal(activityInputSchemas.recordRun.safeParse({ app: 'shop', runId: 'shop.abcdef0', patch: { status: 'Bogus' } }).success, false, 'a run patch with an unknown status');
  assert.equal(activityInputSchemas.recordRun.safeParse({ app: 'shop', runId: 'shop.abcdef0', patch: { status: 'Running' } }).success, true);
});

test('every deployment kind the domain knows is accepted (deploy, rollback, heal)', () => {
  for (const kind of DEPLOYMENT_KINDS) {
    assert.ok(activityInputSchemas.recordDeployment.safeParse({ ...outcome, kind }).success, kind);
    assert.ok(activityInputSchemas.deployArtifact.safeParse({ app: 'shop', environment: 'prod', runId: 'r', commit: 'c', digest: DIGEST, kind, target: { type: 'process' } }).success, kind);
  }
});

test('a recordDeployment input scheduled before the names were unified (rollbackOf, kept in a durable history) arrives as rolledBackTo', async () => {
  let seen: unknown;
  const handler = withValidInput('recordDeployment', async (input) => {
    seen = input;
    return { revision: input.revision };
  });
  await handler({ ...outcome, kind: 'rollback', rollbackOf: 2 }, context);
  assert.deepEqual(seen, { ...outcome, kind: 'rollback', rolledBackTo: 2 });
});
