import { test } from 'node:test';
import assert from 'node:assert/strict';
import { environmentMetrics, failures, percentile, type MetricsEntry } from '../../shared/metrics/dora.js';
import { parseWindow } from '../../shared/metrics/window.js';
import { ValidationError } from '../../shared/errors.js';

const H = 3_600_000;
const D = 24 * H;
const NOW = Date.parse('2026-03-31T00:00:00Z');

/** A ledger in revision order from short descriptions: [kind, status, finished hours before NOW, lead hours]. */
function ledger(rows: Array<[kind: 'deploy' | 'rollback', status: 'Succeeded' | 'Failed', hoursAgo: number, leadHours?: number]>): MetricsEntry[] {
  return rows.map(([kind, status, hoursAgo, leadHours], i) => {
    const finishedAt = NOW - hoursAgo * H;
    return {
      revision: i + 1,
      kind,
      status,
      commit: (i + 1).toString(16).padStart(40, '0'),
      runId: `run-${i + 1}`,
      startedAt: finishedAt - 60_000,
      finishedAt,
      ...(leadHours !== undefined ? { changeAt: finishedAt - leadHours * H } : {}),
    };
  });
}

test('percentile is nearest-rank and null for no values', () => {
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([7], 90), 7);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), 5);
});

test('failures are failed records and deployments the next record rolled back', () => {
  const entries = ledger([
    ['deploy', 'Succeeded', 10],
    ['deploy', 'Succeeded', 9], // rolled back by the next record
    ['rollback', 'Succeeded', 8],
    ['deploy', 'Failed', 7],
    ['rollback', 'Failed', 6],
    ['rollback', 'Succeeded', 5],
  ]);
  assert.deepEqual([...failures(entries)].sort(), [2, 4, 5]);
});

test('a quiet environment has zero counts and null rates, one day point per day of the window', () => {
  const m = environmentMetrics('prod', [], parseWindow('7d', NOW));
  assert.equal(m.deployments.attempted, 0);
  assert.equal(m.changeFailureRate.rate, null);
  assert.equal(m.reworkRate.rate, null);
  assert.deepEqual(m.leadTime, { count: 0, p50Seconds: null, p90Seconds: null });
  assert.equal(m.daily.length, 7);
  assert.ok(m.daily.every((d) => d.deployments === 0 && d.failures === 0));
});

test('the five metrics over a mixed history, counting only records finished inside the window', () => {
  const entries = ledger([
    ['deploy', 'Succeeded', 40 * 24, 1], // outside a 30d window
    ['deploy', 'Succeeded', 100, 2],
    ['deploy', 'Succeeded', 90, 4],
    ['deploy', 'Failed', 80, 1], // failed verification
    ['rollback', 'Succeeded', 79.5], // auto-rollback restores 30 min later
    ['deploy', 'Succeeded', 70, 10], // fix forward 9.5 h after the failure: rework
    ['deploy', 'Succeeded', 20, 3], // rolled back by the operator
    ['rollback', 'Succeeded', 18],
    ['deploy', 'Succeeded', 2, 6], // 18 h after the rolled-back deployment finished: rework
  ]);
  const m = environmentMetrics('prod', entries, parseWindow('30d', NOW));
  // deploys in window: revs 2,3,4,6,7,9 = 6 attempted, 5 succeeded
  assert.equal(m.deployments.attempted, 6);
  assert.equal(m.deployments.succeeded, 5);
  assert.ok(Math.abs(m.deployments.perDay - 5 / 30) < 1e-9);
  assert.ok(Math.abs(m.deployments.perWeek - (5 / 30) * 7) < 1e-9);
  // lead times (h) of succeeded deploys in window: 2, 4, 10, 3, 6 -> sorted 2,3,4,6,10: p50 = 4, p90 = 10
  assert.deepEqual(m.leadTime, { count: 5, p50Seconds: 4 * 3600, p90Seconds: 10 * 3600 });
  // failures among deploys: rev 4 (failed), rev 7 (rolled back) -> 2 / 6
  assert.deepEqual(m.changeFailureRate, { failures: 2, deployments: 6, rate: 2 / 6 });
  // restore: rev 4 (80h ago) -> rev 5 (79.5h ago) = 0.5 h; rev 7 (20h ago) -> rev 8 (18h ago) = 2 h
  assert.equal(m.timeToRestore.count, 2);
  assert.equal(m.timeToRestore.p50Seconds, 0.5 * 3600);
  assert.equal(m.timeToRestore.p90Seconds, 2 * 3600);
  assert.equal(m.timeToRestore.unrestored, 0);
  // rework among 8 records in window: rollbacks 5 and 8, deploy 6 (9.5 h after failure 4) and
  // deploy 9 (18 h after failure 7, within 24 h) -> 4 / 8
  assert.deepEqual(m.reworkRate, { rework: 4, records: 8, rate: 0.5 });
  assert.equal(m.daily.length, 30);
  assert.equal(
    m.daily.reduce((n, d) => n + d.deployments, 0),
    5,
  );
  assert.equal(
    m.daily.reduce((n, d) => n + d.failures, 0),
    2,
  );
});

test('a deployment long after a failure is not rework, and a failure with nothing good after it is unrestored', () => {
  const entries = ledger([
    ['deploy', 'Failed', 100],
    ['deploy', 'Succeeded', 50], // 50 h later: outside the 24 h fix-forward window
    ['deploy', 'Failed', 10],
  ]);
  const m = environmentMetrics('dev', entries, parseWindow('30d', NOW));
  assert.equal(m.reworkRate.rework, 0);
  assert.equal(m.timeToRestore.count, 1);
  assert.equal(m.timeToRestore.p50Seconds, 50 * 3600);
  assert.equal(m.timeToRestore.unrestored, 1);
  const wide = environmentMetrics('dev', entries, parseWindow('30d', NOW), { reworkWindowMs: 60 * H });
  assert.equal(wide.reworkRate.rework, 1);
});

test('a deployment with no known change time counts for frequency but not lead time', () => {
  const entries = ledger([['deploy', 'Succeeded', 1]]);
  const m = environmentMetrics('dev', entries, parseWindow('1d', NOW));
  assert.equal(m.deployments.succeeded, 1);
  assert.equal(m.leadTime.count, 0);
});

test('windows: hours, days and weeks up to 366 days; anything else names the window field', () => {
  assert.equal(parseWindow('12h', NOW).from, NOW - 12 * H);
  assert.equal(parseWindow('30d', NOW).from, NOW - 30 * D);
  assert.equal(parseWindow('8w', NOW).from, NOW - 56 * D);
  assert.equal(parseWindow('366d', NOW).from, NOW - 366 * D);
  for (const bad of ['', '0d', '30', 'd', '30m', '-1d', '1.5d', '367d', '53w', '9000h', '30d ', '030d']) {
    assert.throws(
      () => parseWindow(bad, NOW),
      (err: unknown) => err instanceof ValidationError && err.issues[0]?.path === 'window',
      bad,
    );
  }
});
