import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPlan } from '../core/default-placements.ts';
import { makeTokenRoutes } from '../core/token-routes.ts';
import { distinctRanksPerToken } from './distinct-ranks-per-token.ts';
import { planOf } from './test-plans.ts';

// E=8 linear over G=4: rank r holds experts 2r, 2r+1. With 2 ranks per node: node 0 = experts 0..3.
// t0 [0,1,2] -> ranks {0,1} = 2, nodes {0} = 1
// t1 [0,2,4] -> ranks {0,1,2} = 3, nodes {0,1} = 2
// t2 [1,3,7] -> ranks {0,1,3} = 3, nodes {0,1} = 2
// t3 [5,6,7] -> ranks {2,3} = 2, nodes {1} = 1
const oneLayer = makeTokenRoutes({
  meta: { layerIds: [0], sources: [] },
  numLayers: 1,
  numExperts: 8,
  topK: 3,
  experts: Uint8Array.from([0, 1, 2, 0, 2, 4, 1, 3, 7, 5, 6, 7]),
});

test('one layer: ranks (2+3+3+2)/4 = 2.5, nodes of 2 ranks (1+2+2+1)/4 = 1.5', () => {
  const plan = defaultPlan('linear', 1, 8, 4, [0], 2);
  assert.deepEqual(distinctRanksPerToken(oneLayer, plan), { ranks: 2.5, nodes: 1.5 });
  assert.deepEqual(distinctRanksPerToken(oneLayer, plan, 4), { ranks: 2.5, nodes: 1 });
  assert.deepEqual(distinctRanksPerToken(oneLayer, plan, 1), { ranks: 2.5, nodes: 2.5 });
  // scored part [1, 3): (3 + 3) / 2
  assert.deepEqual(distinctRanksPerToken(oneLayer, plan, 2, { startToken: 1, endToken: 3 }), { ranks: 3, nodes: 2 });
});

test('two layers: mean over tokens and layers; layer 1 always [0,2,4] (3 ranks) -> (10 + 12) / 8 = 2.75', () => {
  const ids: number[] = [];
  const l0 = [[0, 1, 2], [0, 2, 4], [1, 3, 7], [5, 6, 7]];
  for (const t of l0) ids.push(...t, 0, 2, 4);
  const routes = makeTokenRoutes({ meta: { layerIds: [0, 1], sources: [] }, numLayers: 2, numExperts: 8, topK: 3, experts: Uint8Array.from(ids) });
  const r = distinctRanksPerToken(routes, defaultPlan('linear', 2, 8, 4, [0, 1], 2));
  assert.equal(r.ranks, 2.75);
  // nodes: layer0 1,2,2,1; layer1 [0,2,4] -> nodes {0,1} = 2 each -> (6 + 8) / 8 = 1.75
  assert.equal(r.nodes, 1.75);
});

test('replicas: token index picks the replica, so [e0,e1] alternates 1 and 2 ranks', () => {
  // slots [0,1 | 2,0]: even index e0 -> rank0 (with e1) = {0}; odd e0 -> rank1 -> {1,0}
  const routes = makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: 3, topK: 2, experts: Uint8Array.from([0, 1, 0, 1, 0, 1, 0, 1]) });
  assert.deepEqual(distinctRanksPerToken(routes, planOf(3, 2, [[0, 1, 2, 0]])), { ranks: 1.5, nodes: 1 });
});

test('ranksPerNode must divide G; empty scored part gives NaN', () => {
  const plan = defaultPlan('linear', 1, 8, 4, [0]);
  assert.throws(() => distinctRanksPerToken(oneLayer, plan, 3), RangeError);
  const r = distinctRanksPerToken(oneLayer, plan, 4, { startToken: 2, endToken: 2 });
  assert.ok(Number.isNaN(r.ranks) && Number.isNaN(r.nodes));
});

test('more than 32 ranks (the counting path without bit masks): E=64 over G=64, 8 ranks per node', () => {
  // one expert per rank, so ranks = experts; node = floor(rank / 8)
  // t0 [0,1,8,9,63,62] -> 6 ranks, nodes {0,1,7} = 3;  t1 [0,2,4,6,10,12] -> 6 ranks, nodes {0,1} = 2
  const routes = makeTokenRoutes({
    meta: { layerIds: [0], sources: [] },
    numLayers: 1,
    numExperts: 64,
    topK: 6,
    experts: Uint8Array.from([0, 1, 8, 9, 63, 62, 0, 2, 4, 6, 10, 12]),
  });
  assert.deepEqual(distinctRanksPerToken(routes, defaultPlan('linear', 1, 64, 64, [0], 8)), { ranks: 6, nodes: 2.5 });
  // the same tokens over 32 ranks (2 experts each, bit-mask path): t0 ranks {0,4,31} = 3, t1 {0,1,2,3,5,6} = 6
  // with 4 ranks per node: t0 nodes {0,1,7} = 3, t1 {0,1} = 2
  assert.deepEqual(distinctRanksPerToken(routes, defaultPlan('linear', 1, 64, 32, [0], 4)), { ranks: 4.5, nodes: 2.5 });
});
