// Proof that the real Functions host accepts Conveyor: load the app the way the Node.js worker
// does (test/support/index-app.child.ts) and check what the host would index against the host's
// rules and the extension bundle (test/support/host-indexer.ts). A deliberately bad app shows
// that each rule bites.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostProblems, hostView, indexApp, routeTemplateProblems } from '../support/host-indexer.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('host indexing: Conveyor', () => {
  const index = indexApp(root);
  const functions = hostView(index);

  it('loads without errors through the v4 programming model', () => {
    assert.deepEqual(index.errors, []);
    assert.equal(index.programmingModel?.name, '@azure/functions');
  });

  it('the host accepts every registration', () => {
    assert.deepEqual(hostProblems(functions), []);
  });

  it('registers every orchestration, activity, entity and HTTP function functions/index.ts declares', () => {
    const source = readFileSync(join(root, 'functions', 'index.ts'), 'utf8');
    const declaredHttp = [...source.matchAll(/app\.http\('([^']+)'/g)].map((m) => m[1]!);
    const declaredDurable = [...source.matchAll(/df\.app\.(?:orchestration|entity)\('([^']+)'/g)].map((m) => m[1]!);
    const names = new Set(functions.map((f) => f.name));
    for (const n of [...declaredHttp, ...declaredDurable]) assert.ok(names.has(n), `${n} is not registered`);
    assert.ok(functions.filter((f) => f.trigger?.type === 'activityTrigger').length >= 5);
  });

  it('HTTP functions carry the routes, methods and auth levels the API documents', () => {
    const webhook = functions.find((f) => f.name === 'webhook')!;
    assert.deepEqual(webhook.http, { route: 'webhooks/{provider}', methods: ['POST'], authLevel: 'anonymous' });
    const putApp = functions.find((f) => f.name === 'putApp')!;
    assert.equal(putApp.http?.authLevel, 'admin');
    for (const f of functions.filter((x) => x.http)) assert.ok(f.bindings.some((b) => b.type === 'http' && b.direction === 'out' && b.name === '$return'), f.name);
  });

  it('the Service Bus triggers are SDK-bound (deferred binding) and settle their own messages', () => {
    for (const name of ['approvalQueue', 'gitFeedback']) {
      const trigger = functions.find((f) => f.name === name)!.trigger!;
      assert.equal(trigger.type, 'serviceBusTrigger', name);
      assert.deepEqual(trigger.raw.properties, { supportsDeferredBinding: 'true' }, name);
      assert.equal(trigger.raw.autoCompleteMessages, false, name);
    }
  });

  it('functions that start or query orchestrations have a durable client input binding', () => {
    for (const name of ['webhook', 'requestRollback', 'decideApproval', 'getRun']) {
      const f = functions.find((x) => x.name === name)!;
      assert.ok(f.bindings.some((b) => b.type === 'durableClient' && b.direction === 'in'), name);
    }
  });
});

describe('host indexing: an app the host would reject', () => {
  const index = indexApp(join(root, 'test', 'fixtures', 'bad-host-app'));
  const problems = hostProblems(hostView(index));
  const expect = (fn: string, pattern: RegExp) => assert.ok(problems.some((p) => p.includes(`"${fn}"`) && pattern.test(p)), `expected a problem for ${fn} matching ${pattern}; got:\n${problems.join('\n')}`);

  it('loads (the worker API accepts it; the host is what refuses it)', () => {
    assert.deepEqual(index.errors, []);
    assert.equal(index.functions.length, 11);
  });
  it('a route under admin/ conflicts with built-in routes', () => expect('adminStatus', /built in routes/));
  it('the same route with an overlapping method conflicts', () => expect('listThingsAgain', /conflicts with the route defined by function "listThings"/));
  it('a malformed route template is refused', () => expect('badTemplate', /route "things\/\{id\/\{\*rest\}\/x"/));
  it('a function name must start with a letter', () => expect('1-starts-with-digit', /not a valid function name/));
  it('a binding type outside the extension bundle is refused', () => expect('customTrigger', /mqttTrigger.*not provided/));
  it('a function without a trigger is refused', () => expect('noTrigger', /no trigger/));
  it('binding names and auth levels are checked', () => {
    expect('badBinding', /binding name in-put is invalid/);
    expect('badBinding', /auth level "owner"/);
  });
  it('a Service Bus trigger must name a queue or a topic subscription', () => expect('sbNowhere', /queueName or topicName and subscriptionName/));
  it('an SDK-type binding needs an extension that defers binding; autoCompleteMessages is a boolean', () => {
    expect('sdkTimer', /deferred binding\) is not supported for "timerTrigger"/);
    expect('sbAutoComplete', /autoCompleteMessages must be a boolean/);
    assert.ok(!problems.some((p) => p.includes('"sbAutoComplete"') && /deferred/.test(p)), problems.join('\n'));
  });
  it('nothing else is reported for the valid functions of that app', () => {
    assert.ok(!problems.some((p) => p.startsWith('function "listThings":')), problems.join('\n'));
  });
});

describe('host indexing: route templates', () => {
  const cases: [string, RegExp | null][] = [
    ['apps/{app}/environments/{env}/history', null],
    ['files/{*path}', null],
    ['items/{id:int}', null],
    ['items/{id?}', null],
    ['a//b', /empty segment/],
    ['a/{id', /unclosed/],
    ['a/id}', /unmatched/],
    ['{*rest}/tail', /last segment/],
    ['{a}{b}', /two consecutive parameters/],
    ['{a}/{A}', /more than once/],
    ['{opt?}/tail', /end of the route/],
    ['what?', /"\?" is not allowed/],
  ];
  for (const [route, problem] of cases) {
    it(`${route} -> ${problem ?? 'valid'}`, () => {
      const found = routeTemplateProblems(route);
      if (problem === null) assert.deepEqual(found, []);
      else assert.ok(found.some((p) => problem.test(p)), found.join('; '));
    });
  }
});
