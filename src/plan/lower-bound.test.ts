import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greedyReplicaCounts, layerRankLoads, minMaxSlotLoad, rankLowerBound } from './lower-bound.ts';

test('no replicas: max of sum/G, heaviest + S-1 lightest, and the pigeonhole pair', () => {
  // w = [9,1,1,1], G = 2, S = 2: sum/G = 6; heaviest + 1 lightest = 10; G-th + (G+1)-th heaviest = 1+1.
  assert.equal(rankLowerBound(Float64Array.from([9, 1, 1, 1]), 2, 4), 10);
  // w = [5,5,5,1,1,1], G = 2, S = 3: sum/G = 9; 5+1+1 = 7; pigeonhole 5+5 = 10.
  assert.equal(rankLowerBound(Float64Array.from([5, 5, 5, 1, 1, 1]), 2, 6), 10);
  // w = [4,4,4,4], G = 2: sum/G = 8, 4+4 = 8.
  assert.equal(rankLowerBound(Float64Array.from([4, 4, 4, 4]), 2, 4), 8);
});

test('with replicas: max(sum/G, min over counts of max w/c) — greedy w/c attains the min', () => {
  // w = [90,10,30,20], 2 redundant, at most 2 replicas each: c0 -> 2 (45), then 45 is capped,
  // next max is 30 -> c2 = 2 (15). max w/c = max(45,10,15,20) = 45; sum/G = 75.
  const w = Float64Array.from([90, 10, 30, 20]);
  assert.deepEqual(Array.from(greedyReplicaCounts(w, 2, 2)), [2, 1, 2, 1]);
  assert.equal(minMaxSlotLoad(w, 2, 2), 45);
  assert.equal(rankLowerBound(w, 2, 6), 75);
  // 4 GPUs, 4 redundant (cap 4): 90 -> 45 -> 30 (c0=3) -> 30 vs 30: expert 0 first (22.5), then 2.
  assert.deepEqual(Array.from(greedyReplicaCounts(w, 4, 4)), [4, 1, 2, 1]);
  assert.equal(rankLowerBound(w, 4, 8), 37.5);
});

test('layerRankLoads splits an expert evenly over its replicas', () => {
  const loads = layerRankLoads(Float64Array.from([90, 10, 30, 20]), Int32Array.from([0, 3, 2, 0, 2, 1]), 2);
  assert.deepEqual(Array.from(loads), [45 + 20 + 15, 45 + 15 + 10]);
});
