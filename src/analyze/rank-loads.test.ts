import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPlan } from '../core/default-placements.ts';
import { rankLoads } from './rank-loads.ts';
import { planOf } from './test-plans.ts';

const load = Float64Array.of(1, 2, 3, 6); // one layer, 4 experts

test('linear over 2 ranks: rank 0 holds experts 0,1 (1+2 = 3), rank 1 holds 2,3 (3+6 = 9)', () => {
  assert.deepEqual(Array.from(rankLoads(load, defaultPlan('linear', 1, 4, 2, [0]))), [3, 9]);
});

test('round-robin over 2 ranks: rank 0 holds experts 0,2 (1+3 = 4), rank 1 holds 1,3 (2+6 = 8)', () => {
  assert.deepEqual(Array.from(rankLoads(load, defaultPlan('round-robin', 1, 4, 2, [0]))), [4, 8]);
});

test('replicas split load evenly: slots [3,0,1 | 2,3,1] -> rank0 6/2+1+2/2 = 5, rank1 3+6/2+2/2 = 7', () => {
  assert.deepEqual(Array.from(rankLoads(load, planOf(4, 2, [[3, 0, 1, 2, 3, 1]]))), [5, 7]);
});

test('two layers give [L][G] row-major', () => {
  const two = Float64Array.of(1, 2, 3, 6, 10, 0, 0, 10);
  // layer 1 round-robin: rank0 = e0 + e2 = 10, rank1 = e1 + e3 = 10
  assert.deepEqual(Array.from(rankLoads(two, defaultPlan('round-robin', 2, 4, 2, [0, 1]))), [4, 8, 10, 10]);
});
