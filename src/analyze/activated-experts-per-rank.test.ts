import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPlan } from '../core/default-placements.ts';
import { activatedExpertsPerRank } from './activated-experts-per-rank.ts';
import { planOf } from './test-plans.ts';

test('linear, loads [0,2,3,0]: rank0 {e0:0, e1:2} -> 1 active; rank1 {e2:3, e3:0} -> 1', () => {
  assert.deepEqual(Array.from(activatedExpertsPerRank(Float64Array.of(0, 2, 3, 0), defaultPlan('linear', 1, 4, 2, [0]))), [1, 1]);
});

test('round-robin, loads [0,2,3,0]: rank0 {e0:0, e2:3} -> 1; rank1 {e1:2, e3:0} -> 1; all loaded -> 2,2', () => {
  const rr = defaultPlan('round-robin', 2, 4, 2, [0, 1]);
  assert.deepEqual(Array.from(activatedExpertsPerRank(Float64Array.of(0, 2, 3, 0, 1, 1, 1, 1), rr)), [1, 1, 2, 2]);
});

test('replicas of a loaded expert count on each rank holding one', () => {
  // slots [3,0,1 | 2,3,1], loads [1,0,3,6]: rank0 e3 yes, e0 yes, e1 no -> 2; rank1 e2 yes, e3 yes, e1 no -> 2
  const plan = planOf(4, 2, [[3, 0, 1, 2, 3, 1]]);
  assert.deepEqual(Array.from(activatedExpertsPerRank(Float64Array.of(1, 0, 3, 6), plan)), [2, 2]);
  // loads [0,5,0,0]: only e1, which has a replica on both ranks -> 1, 1
  assert.deepEqual(Array.from(activatedExpertsPerRank(Float64Array.of(0, 5, 0, 0), plan)), [1, 1]);
});
