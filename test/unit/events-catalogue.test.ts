// Deployment events: what a recorded change announces, CloudEvents shape, stable ids (a retried
// activity publishes the same ids, dropped by the topic's duplicate detection), schema checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEvent, EVENT_CATALOGUE, eventsFromDeployment, eventsFromRunPatch, filterProperties, toServiceBusMessage } from '../../shared/events/index.js';
import { ValidationError } from '../../shared/errors.js';

const T1 = '2026-11-30T03:00:00.000Z';
const T2 = '2026-11-30T03:00:05.000Z';

test('an environment deployed: one CloudEvents 1.0 event with source, subject and validated data', () => {
  const [e, ...rest] = eventsFromRunPatch('shop', 'shop.abc1234', { environments: { prod: { status: 'Succeeded', revision: 7 } } }, T1);
  assert.equal(rest.length, 0);
  assert.deepEqual(
    { ...e, id: undefined },
    {
      specversion: '1.0',
      id: undefined,
      type: 'dev.conveyor.environment.deployed',
      source: '/apps/shop/environments/prod',
      subject: 'runs/shop.abc1234',
      time: T1,
      datacontenttype: 'application/json',
      data: { app: 'shop', environment: 'prod', runId: 'shop.abc1234', status: 'Succeeded', revision: 7 },
    },
  );
  assert.match(e!.id, /^[0-9a-f]{32}$/);
  assert.deepEqual(filterProperties(e!), { type: 'dev.conveyor.environment.deployed', app: 'shop', environment: 'prod', status: 'Succeeded' });
});

test('the same change built again (a retried activity) has the same id; another change has another', () => {
  const patch = { status: 'Failed' as const, reason: 'tests broke', environments: { dev: { status: 'Skipped' as const } } };
  const a = eventsFromRunPatch('shop', 'shop.abc1234', patch, T1);
  const b = eventsFromRunPatch('shop', 'shop.abc1234', patch, T2);
  assert.deepEqual(a.map((e) => e.type), ['dev.conveyor.run.failed', 'dev.conveyor.environment.skipped']);
  assert.deepEqual(a.map((e) => e.id), b.map((e) => e.id));
  const other = eventsFromRunPatch('shop', 'shop.def5678', patch, T1);
  assert.notEqual(other[0]!.id, a[0]!.id);
  const succeeded = eventsFromRunPatch('shop', 'shop.abc1234', { status: 'Succeeded' }, T1);
  assert.notEqual(succeeded[0]!.id, a[0]!.id);
});

test('approval requested when the gate opens, decided when it closes; nothing for a Pending status alone', () => {
  const gate = { waitingSince: T1, until: '2026-12-01T03:00:00.000Z', approvers: ['ann@example.com'], required: 1, allowSelfApproval: false, decisions: [] };
  const opened = eventsFromRunPatch('shop', 'shop.abc1234', { environments: { prod: { status: 'Pending', approval: gate } } }, T1);
  assert.deepEqual(opened.map((e) => e.type), ['dev.conveyor.approval.requested']);
  const decided = eventsFromRunPatch(
    'shop',
    'shop.abc1234',
    { environments: { prod: { status: 'Pending', approval: { ...gate, decisions: [{ decision: 'approve', by: 'ann@example.com', at: T2 }], outcome: 'approved' } } } },
    T2,
  );
  assert.deepEqual(decided.map((e) => [e.type, e.data.outcome]), [['dev.conveyor.approval.decided', 'approved']]);
  assert.deepEqual(eventsFromRunPatch('shop', 'shop.abc1234', { environments: { prod: { status: 'Pending' } } }, T1), []);
});

test('ledger records announce deployments and rollbacks', () => {
  const base = { app: 'shop', environment: 'prod', runId: 'shop.abc1234', revision: 3, commit: 'abc1234', digest: 'sha256:' + 'a'.repeat(64), requestedBy: { id: 'system' } };
  assert.equal(eventsFromDeployment({ ...base, kind: 'deploy', status: 'Succeeded' }, T1)[0]!.type, 'dev.conveyor.deployment.succeeded');
  const rb = eventsFromDeployment({ ...base, kind: 'rollback', status: 'Succeeded', rolledBackTo: 2 }, T1)[0]!;
  assert.equal(rb.type, 'dev.conveyor.rollback.succeeded');
  assert.equal(rb.subject, 'revisions/3');
  assert.equal(rb.data.rolledBackTo, 2);
  assert.equal(eventsFromDeployment({ ...base, kind: 'deploy', status: 'Failed', reason: 'x' }, T1)[0]!.type, 'dev.conveyor.deployment.failed');
});

test('data that does not match the type\'s schema, or an unknown type, is a programming error', () => {
  assert.throws(() => buildEvent('dev.conveyor.environment.deployed', { source: '/x', subject: 'y', time: T1, change: 'c', data: { app: 'shop' } }), ValidationError);
  assert.throws(() => buildEvent('dev.conveyor.nope', { source: '/x', subject: 'y', time: T1, change: 'c', data: {} }), ValidationError);
});

test('every catalogued type has a distinct name under dev.conveyor.', () => {
  const types = EVENT_CATALOGUE.map((e) => e.type);
  assert.equal(new Set(types).size, types.length);
  for (const t of types) assert.match(t, /^dev\.conveyor\.[a-z]+\.[a-z-]+$/);
});

test('the Service Bus message: structured CloudEvent body, event id as message id, filter properties', () => {
  const [e] = eventsFromRunPatch('shop', 'shop.abc1234', { status: 'Running' }, T1);
  const m = toServiceBusMessage(e!);
  assert.equal(m.messageId, e!.id);
  assert.equal(m.contentType, 'application/cloudevents+json');
  assert.equal(m.subject, 'dev.conveyor.run.running');
  assert.deepEqual(m.body, e);
  assert.deepEqual(m.applicationProperties, { type: 'dev.conveyor.run.running', app: 'shop', status: 'Running' });
});

test('docs/events.md carries the catalogue generated from the schemas (npm run events-doc)', async () => {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { renderEventsCatalogue } = await import('../../shared/events/events-doc.js');
  const doc = await readFile(join(process.cwd(), 'docs', 'events.md'), 'utf8');
  assert.ok(doc.includes(renderEventsCatalogue()), 'docs/events.md is stale: run npm run events-doc');
  for (const e of EVENT_CATALOGUE) assert.ok(doc.includes(`\`${e.type}\``));
});
