import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPlan } from '../core/default-placements.ts';
import { makeTokenRoutes } from '../core/token-routes.ts';
import { batchRankLoad } from './batch-rank-load.ts';
import { planOf } from './test-plans.ts';

const meta = { layerIds: [0, 1], sources: [] };

test('two layers, top-2, linear over 2 ranks (rank0 = e0,e1; rank1 = e2,e3), batches of 2', () => {
  // token: layer0 choices | layer1 choices
  // t0: [0,1] | [0,2]    t1: [0,2] | [1,3]    t2: [2,3] | [0,1]    t3: [2,3] | [2,3]    t4: [0,0] | [3,3] (partial batch, dropped)
  const routes = makeTokenRoutes({
    meta,
    numLayers: 2,
    numExperts: 4,
    topK: 2,
    experts: Uint8Array.from([0, 1, 0, 2, 0, 2, 1, 3, 2, 3, 0, 1, 2, 3, 2, 3, 0, 0, 3, 3]),
  });
  // mean rank tokens per layer = 2 tokens * 2 choices / 2 ranks = 2
  // batch 0: layer0 ranks [2+1, 1] = [3,1] -> 1.5; layer1 [1+1, 1+1] = [2,2] -> 1; mean 1.25
  // batch 1: layer0 [0, 4] -> 2; layer1 [2, 2] -> 1; mean 1.5
  const r = batchRankLoad(routes, defaultPlan('linear', 2, 4, 2, [0, 1]), 2);
  assert.deepEqual(Array.from(r.perBatch), [1.25, 1.5]);
  assert.equal(r.mean, 1.375);
  assert.equal(r.p99, 1.5); // nearest rank ceil(0.99 * 2) = 2 -> the larger
});

test('replicated expert: choices alternate replicas by token index within the scored part', () => {
  // E=3, slots [0,1 | 2,0]: e0 replica 0 on rank 0, replica 1 on rank 1; e1 on rank 0; e2 on rank 1.
  // Every token picks [e0, e1]. Even index: e0 -> rank0, e1 -> rank0 -> [2,0], max/mean 2/1 = 2.
  // Odd index: e0 -> rank1, e1 -> rank0 -> [1,1] -> 1.
  const plan = planOf(3, 2, [[0, 1, 2, 0]]);
  const routes = makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: 3, topK: 2, experts: Uint8Array.from([0, 1, 0, 1, 0, 1, 0, 1]) });
  const one = batchRankLoad(routes, plan, 1);
  assert.deepEqual(Array.from(one.perBatch), [2, 1, 2, 1]);
  assert.equal(one.mean, 1.5);
  assert.equal(one.p99, 2);
  // Scoring from token 1: token 1 has index 0 and goes to replica 0.
  assert.deepEqual(Array.from(batchRankLoad(routes, plan, 1, { startToken: 1 }).perBatch), [2, 1, 2]);
  assert.deepEqual(Array.from(batchRankLoad(routes, plan, 1, { startToken: 1, endToken: 3 }).perBatch), [2, 1]);
  // Batches of 2: each holds one even and one odd token -> ranks [3,1], mean 2 -> 1.5.
  assert.deepEqual(Array.from(batchRankLoad(routes, plan, 2).perBatch), [1.5, 1.5]);
});

test('no full batch: empty perBatch, NaN mean and p99; mismatched plan and bad sizes are errors', () => {
  const routes = makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: 4, topK: 1, experts: Uint8Array.from([0, 1, 2]) });
  const r = batchRankLoad(routes, defaultPlan('linear', 1, 4, 2, [0]), 4);
  assert.equal(r.perBatch.length, 0);
  assert.ok(Number.isNaN(r.mean) && Number.isNaN(r.p99));
  assert.throws(() => batchRankLoad(routes, defaultPlan('linear', 1, 8, 2, [0]), 1), RangeError);
  assert.throws(() => batchRankLoad(routes, defaultPlan('linear', 1, 4, 2, [0]), 0), RangeError);
  assert.throws(() => batchRankLoad(routes, defaultPlan('linear', 1, 4, 2, [0]), 1, { endToken: 9 }), RangeError);
});
