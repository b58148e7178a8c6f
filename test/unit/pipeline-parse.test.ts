import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePipelineSpec, pipelineJsonSchemaText, parseDuration, MAX_PIPELINE_BYTES } from '../../shared/pipeline/index.js';
import { ValidationError, type ValidationIssue } from '../../shared/errors.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const FULL = `version: 1
build:
  command: npm ci && npm run build
  artifact: [dist, package.json, package-lock.json]
  timeout: 15m
  env: { NODE_ENV: production, DEBUG: 1 }
test:
  command: npm test
  timeout: 10m
environments:
  - name: dev
    target: { type: process, start: node dist/server.js, port: 8101 }
    verify:
      - http: { path: /healthz, expect: 200 }
  - name: staging
    target: { type: process, start: node dist/server.js, port: 8102, env: { LOG: debug }, startTimeout: 90s }
    verify:
      - http: { path: /healthz, expect: 200, retries: 5, interval: 2s, successes: 2 }
      - http: { path: /version, bodyContains: ok, json: { path: build.commit, equals: abc }, timeout: 500ms }
  - name: prod
    approval: { approvers: [alice@example.com, group:release-managers], required: 1, timeout: 24h, allowSelfApproval: false }
    target: { type: process, start: node dist/server.js, port: 8103 }
    verify:
      - http: { path: /healthz, expect: 200 }
    rollback: manual
    concurrency: queue
`;

function issuesOf(text: string): ValidationIssue[] {
  try {
    parsePipelineSpec(text, 'pipeline.yaml');
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail('expected the pipeline to be rejected');
}

function find(issues: ValidationIssue[], path: string): ValidationIssue {
  const hit = issues.find((i) => i.path === path);
  assert.ok(hit, `no issue for ${path}; got ${JSON.stringify(issues, null, 1)}`);
  return hit;
}

test('a full pipeline file becomes the normalised spec with durations in ms and defaults filled in', () => {
  const spec = parsePipelineSpec(FULL);
  assert.equal(spec.version, 1);
  assert.deepEqual(spec.build, {
    command: 'npm ci && npm run build',
    artifact: ['dist', 'package.json', 'package-lock.json'],
    timeoutMs: 15 * 60_000,
    env: { NODE_ENV: 'production', DEBUG: '1' },
  });
  assert.deepEqual(spec.test, { command: 'npm test', timeoutMs: 10 * 60_000, env: {} });
  assert.deepEqual(spec.environments.map((e) => e.name), ['dev', 'staging', 'prod']);
  const [dev, staging, prod] = spec.environments;
  assert.deepEqual(dev, {
    name: 'dev',
    target: { type: 'process', start: 'node dist/server.js', port: 8101, env: {}, startTimeoutMs: 30_000 },
    verify: [{ type: 'http', path: '/healthz', expectStatus: 200, timeoutMs: 5000, retries: 0, intervalMs: 2000, successes: 1 }],
    rollback: 'auto',
    concurrency: 'latest',
    drift: 'report',
  });
  assert.equal(staging!.target.type === 'process' && staging!.target.startTimeoutMs, 90_000);
  assert.deepEqual(staging!.target.type === 'process' && staging!.target.env, { LOG: 'debug' });
  assert.deepEqual(staging!.verify[1], {
    type: 'http',
    path: '/version',
    expectStatus: 200,
    bodyContains: 'ok',
    json: { path: 'build.commit', equals: 'abc' },
    timeoutMs: 500,
    retries: 0,
    intervalMs: 2000,
    successes: 1,
  });
  assert.deepEqual(prod!.approval, { approvers: ['alice@example.com', 'group:release-managers'], required: 1, timeoutMs: 86_400_000, allowSelfApproval: false });
  assert.equal(prod!.rollback, 'manual');
  assert.equal(prod!.concurrency, 'queue');
  assert.equal(dev!.approval, undefined);
});

test('a minimal file gets the documented defaults', () => {
  const spec = parsePipelineSpec(`build: { command: make, artifact: [out] }
environments:
  - name: dev
    target: { type: process, start: ./out/app, port: 9000 }
`);
  assert.equal(spec.version, 1);
  assert.equal(spec.build.timeoutMs, 30 * 60_000);
  assert.equal(spec.test, undefined);
  assert.deepEqual(spec.environments[0]!.verify, []);
  assert.equal(spec.environments[0]!.rollback, 'auto');
});

test('a step may turn its network off; anything but on or none is refused', () => {
  const spec = parsePipelineSpec(`build: { command: make, artifact: [out], network: none }
test: { command: make check, network: on }
environments:
  - name: dev
    target: { type: process, start: ./out/app, port: 9000 }
`);
  assert.equal(spec.build.network, 'none');
  assert.equal(spec.test!.network, 'on');
  const bad = issuesOf(`build: { command: make, artifact: [out], network: off }
environments:
  - name: dev
    target: { type: process, start: ./out/app, port: 9000 }
`);
  assert.deepEqual(bad.map((i) => i.path), ['build.network']);
});

test('durations accept ms, s, m, h and d', () => {
  const table: [string, number | undefined][] = [
    ['500ms', 500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['15', undefined],
    ['1.5h', undefined],
    ['-1s', undefined],
    ['15 m', undefined],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
});

test('every problem is reported at once with its path, line and column', () => {
  const text = `build:
  command: ""
  artifact: [/etc/passwd, ../secret]
  timout: 15m
environments:
  - name: Dev_1
    target: { type: process, start: x, port: 80 }
    verify:
      - http: { path: healthz, retries: 0, successes: 3 }
  - name: qa
    target: { type: docker }
    approval: { approvers: [bob], required: 2, timeout: soon }
    rollback: sometimes
`;
  const issues = issuesOf(text);
  const expected: [string, number, number, RegExp][] = [
    ['build.command', 2, 12, /empty/],
    ['build.artifact[0]', 3, 14, /relative/],
    ['build.artifact[1]', 3, 27, /\.\./],
    ['build.timout', 4, 3, /unknown key "timout"/],
    ['environments[0].name', 6, 11, /lowercase/],
    ['environments[0].target.port', 7, 46, />=1024/],
    ['environments[0].verify[0].http.path', 9, 23, /start with/],
    ['environments[0].verify[0].http.successes', 9, 55, /retries/],
    ['environments[1].target.type', 11, 21, /process/],
    ['environments[1].approval.approvers[0]', 12, 29, /e-mail/],
    ['environments[1].approval.timeout', 12, 57, /duration/],
    ['environments[1].rollback', 13, 15, /auto|manual/],
  ];
  for (const [path, line, column, message] of expected) {
    const issue = find(issues, path);
    assert.equal(issue.line, line, `${path} line`);
    assert.equal(issue.column, column, `${path} column`);
    assert.match(issue.message, message, path);
  }
});

test('a missing required key points at its parent', () => {
  const issues = issuesOf(`build:
  artifact: [dist]
environments:
  - name: dev
    target: { type: process, port: 8101 }
`);
  const cmd = find(issues, 'build.command');
  assert.equal(cmd.message, 'is required');
  assert.equal(cmd.line, 2);
  const start = find(issues, 'environments[0].target.start');
  assert.equal(start.line, 5);
});

test('wrong types, bad variable names and missing values get precise messages', () => {
  const issues = issuesOf(`build:
  command: make
  artifact: [out]
  env: { "bad key": x, CONVEYOR_APP: y, LIST: [1] }
environments: dev
`);
  const badKey = find(issues, 'build.env.bad key');
  assert.match(badKey.message, /valid environment variable name/);
  assert.deepEqual([badKey.line, badKey.column], [4, 10], 'points at the key');
  assert.match(find(issues, 'build.env.CONVEYOR_APP').message, /set by Conveyor/);
  assert.match(find(issues, 'build.env.LIST').message, /string, number or boolean/);
  assert.match(find(issues, 'environments').message, /expected array, received string/);
  const more = issuesOf(`build: make
environments:
  - name: dev
    target: { type: process, start: a, port: 9000 }
    verify: [ { http: { path: /x, json: { path: a } } } ]
`);
  assert.match(find(more, 'build').message, /expected object, received string/);
  assert.equal(find(more, 'environments[0].verify[0].http.json.equals').message, 'is required');
});

test('environment names and ports must be unique', () => {
  const issues = issuesOf(`build: { command: make, artifact: [out] }
environments:
  - name: dev
    target: { type: process, start: a, port: 8101 }
  - name: dev
    target: { type: process, start: a, port: 8101 }
`);
  const name = find(issues, 'environments[1].name');
  assert.match(name.message, /already declared at environments\[0\]/);
  assert.equal(name.line, 5);
  const port = find(issues, 'environments[1].target.port');
  assert.match(port.message, /already used/);
  assert.equal(port.line, 6);
});

test('approval cannot require more approvers than listed', () => {
  const issues = issuesOf(`build: { command: make, artifact: [out] }
environments:
  - name: prod
    target: { type: process, start: a, port: 8101 }
    approval: { approvers: [a@x.io, group:ops], required: 3 }
`);
  assert.match(find(issues, 'environments[0].approval.required').message, /3 approvals from 2/);
});

test('environment names must be URL and blob-path safe', () => {
  for (const bad of ['Prod', 'a/b', '../x', 'a b', '1st', 'x'.repeat(33), 'é']) {
    const issues = issuesOf(`build: { command: make, artifact: [out] }
environments:
  - name: ${JSON.stringify(bad)}
    target: { type: process, start: a, port: 8101 }
`);
    assert.ok(issues.some((i) => i.path === 'environments[0].name'), bad);
  }
});

test('YAML syntax errors and duplicate keys carry line and column', () => {
  const syntax = issuesOf('build:\n  command: [unclosed\nenvironments: []\n');
  assert.ok(syntax.length >= 1);
  assert.ok(syntax.every((i) => typeof i.line === 'number' && typeof i.column === 'number'));
  const dup = issuesOf('build: { command: a, artifact: [x] }\nbuild: { command: b, artifact: [y] }\nenvironments: []\n');
  assert.equal(dup[0]!.line, 2);
  assert.match(dup[0]!.message, /unique|duplicate/i);
});

test('empty or non-mapping files are rejected clearly', () => {
  assert.match(issuesOf('')[0]!.message, /empty/);
  assert.equal(issuesOf('- a\n- b\n')[0]!.path, '(root)');
});

test('hostile input is bounded: size, alias bombs and nesting', () => {
  const big = `build: { command: make, artifact: [out] }\n#${'x'.repeat(MAX_PIPELINE_BYTES)}\n`;
  assert.match(issuesOf(big)[0]!.message, /larger than/);
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
  assert.match(issuesOf(bomb.join('\n'))[0]!.message, /alias|expanded/i);
  const deep = `${'['.repeat(60)}${']'.repeat(60)}`;
  assert.match(issuesOf(deep)[0]!.message, /deeper/);
  const absurd = '['.repeat(200_000);
  const issues = issuesOf(absurd);
  assert.match(issues[0]!.message, /deeper/, 'rejected by the cheap pre-check, before the parser recurses');
  // Brackets inside quotes and comments do not count; apostrophes inside words are not quotes.
  const spec = parsePipelineSpec(`build: { command: "echo '${'['.repeat(40)}'", artifact: [out] }  # ${'{'.repeat(40)}
test:
  command: echo it's [fine]
environments:
  - name: dev
    target: { type: process, start: a, port: 9000 }
`);
  assert.equal(spec.test?.command, "echo it's [fine]");
});

test('the error message names the file, line and column of the first problem', () => {
  try {
    parsePipelineSpec('build: { command: make, artifact: [out], foo: 1 }\nenvironments: []\n', 'repo/.conveyor/pipeline.yaml');
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    assert.match(err.message, /^repo\/\.conveyor\/pipeline\.yaml:1:\d+: build\.foo unknown key/);
    assert.equal(err.issues.length, 2);
  }
});

test('docs/pipeline.schema.json is up to date with the zod definition (run `npm run schema`)', () => {
  const committed = readFileSync(join(repoRoot, 'docs', 'pipeline.schema.json'), 'utf8');
  assert.equal(committed, pipelineJsonSchemaText(), 'docs/pipeline.schema.json is stale: run `npm run schema`');
});

test('the JSON Schema rejects unknown keys and documents defaults', () => {
  const schema = JSON.parse(pipelineJsonSchemaText()) as { additionalProperties: boolean; required: string[]; properties: Record<string, { properties?: Record<string, { default?: unknown }> }> };
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.required.sort(), ['build', 'environments']);
  assert.equal(schema.properties.build!.properties!.timeout!.default, '30m');
});
