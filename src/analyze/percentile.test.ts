import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nearestRankPercentile } from './percentile.ts';

test('nearest rank over [15,20,35,40,50]: p30 -> rank ceil(1.5)=2 -> 20; p40 -> rank 2 -> 20; p50 -> rank 3 -> 35; p100 -> 50', () => {
  const x = [50, 15, 40, 20, 35];
  assert.equal(nearestRankPercentile(x, 0.3), 20);
  assert.equal(nearestRankPercentile(x, 0.4), 20);
  assert.equal(nearestRankPercentile(x, 0.5), 35);
  assert.equal(nearestRankPercentile(x, 1), 50);
  assert.equal(nearestRankPercentile(x, 0), 15);
});

test('p99 over 1..100 is 99; over 1..50 it is 50 (ceil(49.5)); empty gives NaN', () => {
  const hundred = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(nearestRankPercentile(hundred, 0.99), 99);
  assert.equal(nearestRankPercentile(Float64Array.from({ length: 50 }, (_, i) => i + 1), 0.99), 50);
  assert.ok(Number.isNaN(nearestRankPercentile([], 0.99)));
});
