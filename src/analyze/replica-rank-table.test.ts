import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicaRank, replicaRankTable } from './replica-rank-table.ts';
import { planOf } from './test-plans.ts';

test('slots [3,0,1 | 2,3,1] over 2 ranks: e3 replicas on ranks 0 then 1; e0 on 0; e2 on 1', () => {
  const t = replicaRankTable(planOf(4, 2, [[3, 0, 1, 2, 3, 1]]));
  assert.equal(t.maxReplicas, 2);
  assert.deepEqual(Array.from(t.replicas), [1, 2, 1, 2]);
  assert.deepEqual(Array.from(t.ranks), [0, -1, 0, 1, 1, -1, 0, 1]);
  assert.deepEqual(Array.from(t.firstRank), [0, 0, 1, 0]);
  // token index i picks replica i mod count
  assert.deepEqual([0, 1, 2, 3].map((i) => replicaRank(t, 0, 3, i)), [0, 1, 0, 1]);
  assert.deepEqual([0, 1, 2].map((i) => replicaRank(t, 0, 2, i)), [1, 1, 1]);
});

test('replica order follows slot order, not rank order', () => {
  // 4 ranks x 2 slots: e0 in slots 6 (rank 3) and... slot list [1,2 | 3,0 | 1,2 | 3,0] -> e0 at slots 3 (rank 1), 7 (rank 3)
  const t = replicaRankTable(planOf(4, 4, [[1, 2, 3, 0, 1, 2, 3, 0]]));
  assert.deepEqual([0, 1, 2].map((i) => replicaRank(t, 0, 0, i)), [1, 3, 1]);
  assert.deepEqual([0, 1].map((i) => replicaRank(t, 0, 1, i)), [0, 2]);
});
