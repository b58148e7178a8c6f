// Activity inputs are parsed where they enter: a malformed input never reaches the activity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import functions from '@azure/functions';
import { withValidInput } from '../../functions/activities/valid-input.js';
import { activityInputSchemas } from '../../shared/contracts/activity-inputs.schema.js';
import { ValidationError } from '../../shared/errors.js';
import { DEPLOYMENT_KINDS } from '../../shared/domain/deployment.js';
import { parsePipelineSpec } from '../../shared/pipeline/parse-pipeline.js';

const context = new functions.InvocationContext({ functionName: 'recordDeployment', invocationId: 't' });
const DIGEST = `sha256:${'a'.repeat(64)}`;

// A spec as the pipeline loader makes it: every spec object below is taken from here.
const loaded = parsePipelineSpec(`
build: { command: make, artifact: [dist, deploy] }
test: { command: make test, timeout: 5m, env: { CI: true } }
environments:
  - name: dev
    target: { type: process, start: node dist/server.js, port: 8080 }
    verify: [{ http: { path: /healthz, retries: 2 } }]
  - name: prod
    target:
      type: kubernetes
      namespace: shop
      manifests: deploy
      image: { name: registry.example/shop, digestFile: deploy/digest.txt }
      url: https://shop.example
`);
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
    assert.ok(activityInputSchemas.deployArtifact.safeParse({ app: 'shop', environment: 'prod', runId: 'r', commit: 'c', digest: DIGEST, kind, target: loaded.environments[0]!.target }).success, kind);
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

test('a freezeAfterRollback input scheduled before actors were whole (`by` as the id, kept in a durable history) arrives with a whole actor', async () => {
  let seen: unknown;
  const handler = withValidInput('freezeAfterRollback', async (input) => {
    seen = input.by;
    return null;
  });
  await handler({ app: 'shop', environment: 'prod', by: 'ops@example.com', reason: 'r', freeze: true, quarantine: 'current' }, context);
  assert.deepEqual(seen, { id: 'ops@example.com' });
  await handler({ app: 'shop', environment: 'prod', by: { id: 'ann@example.com', name: 'Ann' }, reason: 'r', freeze: false }, context);
  assert.deepEqual(seen, { id: 'ann@example.com', name: 'Ann' });
  await assert.rejects(async () => handler({ app: 'shop', environment: 'prod', by: 7, reason: 'r', freeze: false }, context), ValidationError);
});

const subject = { app: 'shop', runId: 'shop.abcdef0', requestedAt: 't', repoUrl: 'https://example.com/shop.git', commit: 'abcdef0', pusher: { id: 'pat@example.com' } };
const spec = { build: loaded.build, test: loaded.test!, target: loaded.environments[1]!.target, check: loaded.environments[0]!.verify[0]! };

test('spec objects exactly as the pipeline loader made them are accepted (build, test, process and kubernetes targets, checks)', () => {
  assert.ok(activityInputSchemas.runTests.safeParse({ subject, build: spec.build, test: spec.test }).success);
  for (const env of loaded.environments) {
    assert.ok(activityInputSchemas.readRollout.safeParse({ app: 'shop', environment: env.name, target: env.target, revision: 1 }).success, env.name);
  }
  assert.ok(activityInputSchemas.verifyEnvironment.safeParse({ baseUrl: 'http://127.0.0.1:8080', check: spec.check, checkIndex: 0, attempt: 1 }).success);
});

// Each is shaped right (an object with the fields' names) but breaks a rule of the pipeline schema.
const malformedSpecs: [string, 'buildArtifact' | 'runTests' | 'deployArtifact' | 'verifyEnvironment', Record<string, unknown>, RegExp][] = [
  ['a build with an absolute artifact path', 'buildArtifact', { subject, keepWorkspace: false, build: { ...spec.build, artifact: ['/etc'] } }, /build\.artifact\.0: must be relative to the repository root/],
  ['a build whose artifact climbs out with ..', 'buildArtifact', { subject, keepWorkspace: false, build: { ...spec.build, artifact: ['../x'] } }, /build\.artifact\.0: must not contain "\.\." segments/],
  ['a test step with a zero timeout', 'runTests', { subject, build: spec.build, test: { ...spec.test, timeoutMs: 0 } }, /test\.timeoutMs/],
  ['a test step that sets a CONVEYOR_ variable', 'runTests', { subject, build: spec.build, test: { ...spec.test, env: { CONVEYOR_API_TOKENS: 'x' } } }, /test\.env\.CONVEYOR_API_TOKENS: CONVEYOR_\* variables are set by Conveyor/],
  ['a process target on a privileged port', 'deployArtifact', { app: 'shop', environment: 'dev', runId: 'r', commit: 'c', digest: DIGEST, kind: 'deploy', target: { ...loaded.environments[0]!.target, port: 80 } }, /target\.port/],
  ['a kubernetes target with a namespace that is no DNS label', 'deployArtifact', { app: 'shop', environment: 'prod', runId: 'r', commit: 'c', digest: DIGEST, kind: 'deploy', target: { ...spec.target, namespace: 'Shop_Prod' } }, /target\.namespace: must be a Kubernetes namespace name/],
  ['a target of an unknown type', 'deployArtifact', { app: 'shop', environment: 'prod', runId: 'r', commit: 'c', digest: DIGEST, kind: 'deploy', target: { type: 'ftp' } }, /target\.type/],
  ['a check whose path is not a path', 'verifyEnvironment', { baseUrl: 'http://127.0.0.1:1', check: { ...spec.check, path: 'healthz' }, checkIndex: 0, attempt: 1 }, /check\.path: must start with "\/"/],
  ['a check that needs more passes than tries', 'verifyEnvironment', { baseUrl: 'http://127.0.0.1:1', check: { ...spec.check, retries: 0, successes: 3 }, checkIndex: 0, attempt: 1 }, /check\.successes: cannot need more passing tries than there are tries/],
];
for (const [what, name, input, message] of malformedSpecs) {
  test(`a malformed spec in an activity input is refused with the field and the rule: ${what}`, async () => {
    let ran = false;
    const handler = withValidInput(name, async () => {
      ran = true;
      throw new Error('unreachable');
    });
    await assert.rejects(handler(input, context), (err: unknown) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.match(err.message, new RegExp(`^activity ${name} refused its input: `));
      assert.match(err.message, message);
      return true;
    });
    assert.equal(ran, false);
  });
}
