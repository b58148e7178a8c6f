// Step limits and secret files as the pipeline file states them, and the reason a run record
// gives when a step ran into a limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePipelineSpec } from '../../shared/pipeline/parse-pipeline.js';
import { effectiveLimits, limitHit, parseBytes } from '../../shared/steps/index.js';
import { stepFailure } from '../../shared/use-cases/run-step.use-case.js';

const pipeline = (build: string) => `build:\n  command: make\n  artifact: [dist]\n${build}environments:\n  - name: dev\n    target: { type: process, start: node a.js, port: 4000 }\n`;

test('sizes: Kubernetes-style quantities', () => {
  assert.equal(parseBytes('512Mi'), 512 * 1024 ** 2);
  assert.equal(parseBytes('2Gi'), 2 * 1024 ** 3);
  assert.equal(parseBytes('1G'), 1e9);
  assert.equal(parseBytes('1.5Gi'), 1.5 * 1024 ** 3);
  for (const bad of ['', 'lots', '-1Gi', '0', '2GB']) assert.equal(parseBytes(bad), undefined, bad);
});

test('resources: in the file, each at most the installation\'s (a push may lower, never raise)', () => {
  const spec = parsePipelineSpec(pipeline('  resources: { cpu: 1, memory: 512Mi, disk: 5Gi }\n'));
  assert.deepEqual(spec.build.resources, { cpu: 1, memoryBytes: 512 * 1024 ** 2, diskBytes: 5 * 1024 ** 3 });
  const ceiling = { cpu: 2, memoryBytes: 1024 ** 3, diskBytes: 4 * 1024 ** 3 };
  assert.deepEqual(effectiveLimits(spec.build.resources, ceiling), {
    limits: { cpu: 1, memoryBytes: 512 * 1024 ** 2, diskBytes: 4 * 1024 ** 3 },
    notes: ['disk 5Gi asked, 4Gi allowed by the installation'],
  });
  assert.deepEqual(effectiveLimits(undefined, ceiling), { limits: ceiling, notes: [] });
  assert.throws(() => parsePipelineSpec(pipeline('  resources: { memory: lots }\n')), /build\.resources\.memory must be a size such as 512Mi/);
  assert.throws(() => parsePipelineSpec(pipeline('  resources: { gpu: 1 }\n')), /gpu/);
});

test('secrets as files: `{ secret, as: file }` binds a file, a name binds a variable', () => {
  const spec = parsePipelineSpec(`secrets:\n  npm: { file: .conveyor/npm.age }\n${pipeline('  secrets: { NPM_TOKEN: npm, NPMRC: { secret: npm, as: file } }\n')}`);
  assert.equal(spec.build.secrets?.NPM_TOKEN?.as, undefined);
  assert.equal(spec.build.secrets?.NPMRC?.as, 'file');
  assert.equal(spec.build.secrets?.NPMRC?.secret, 'npm');
  assert.throws(() => parsePipelineSpec(`secrets:\n  npm: { file: a.age }\n${pipeline('  secrets: { NPMRC: { secret: npm, as: disk } }\n')}`), /NPMRC/);
});

test('a step that ran into a limit fails with the limit named in the run record', () => {
  const limits = { cpu: 2, memoryBytes: 256 * 1024 ** 2, diskBytes: 1024 ** 3 };
  const base = { durationMs: 10, timedOut: false, isolation: { runner: 'bubblewrap', sandbox: true, network: 'on' as const, enforcement: [] } };
  const oom = { ...base, exitCode: 1, signal: null, outputTail: 'RangeError: Array buffer allocation failed' };
  const hit = limitHit(oom, limits);
  assert.deepEqual(hit, { limit: 'memory', why: 'it ran out of memory (limit 256Mi per process)' });
  assert.equal(stepFailure('build', { ...oom, limitHit: hit }), 'build hit its memory limit: it ran out of memory (limit 256Mi per process) (exited with code 1)');
  assert.equal(limitHit({ exitCode: 153, signal: null, outputTail: '' }, limits)?.limit, 'disk');
  assert.equal(limitHit({ exitCode: 1, signal: null, outputTail: 'tests failed' }, limits), undefined, 'an ordinary failure is not a limit');
  assert.equal(limitHit({ exitCode: 0, signal: null, outputTail: 'out of memory (a test of the OOM handler)' }, limits), undefined, 'success is success');
  assert.equal(stepFailure('build', { ...base, exitCode: 0, signal: null, outputTail: '', limitHit: { limit: 'disk', why: 'the workspace grew by 3Gi, past the disk limit of 1Gi' } }), 'build hit its disk limit: the workspace grew by 3Gi, past the disk limit of 1Gi (exited with code 0)');
});
