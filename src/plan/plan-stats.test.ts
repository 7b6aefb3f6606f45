import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../core/errors.ts';
import type { Plan } from '../core/plan.ts';
import { makeTokenRoutes } from '../core/token-routes.ts';
import { loadCluster } from './cluster/load.ts';
import { parseClusterJson } from './cluster/cluster-json.ts';
import { expertsMoved, planStats } from './plan-stats.ts';

function plan(rows: number[][], E: number, G: number, ranksPerNode = G): Plan {
  return {
    version: 1,
    numLayers: rows.length,
    numExperts: E,
    numRanks: G,
    layerIds: rows.map((_, i) => i),
    phy2log: rows.map((r) => Int32Array.from(r)),
    ranksPerNode,
  };
}

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

test('no replicas: max/mean, the bound (heaviest + lightest on its rank), gap; an idle layer counts as 1', () => {
  // w = [6,2,1,1], G = 2. Linear: ranks 8 | 2 -> max/mean 8/5 = 1.6.
  // Bound: max(sum/G = 5, heaviest 6, 6 + lightest 1 (S = 2 slots per rank) = 7, w(2)+w(3) = 3) = 7 -> 1.4.
  const load = Float64Array.of(6, 2, 1, 1, 0, 0, 0, 0);
  const s = planStats(plan([[0, 1, 2, 3], [0, 1, 2, 3]], 4, 2), load);
  close(s.maxOverMean, (1.6 + 1) / 2);
  close(s.lowerBound, (1.4 + 1) / 2);
  close(s.gapToBound, (1.3 - 1.2) / 1.2);
  assert.equal(s.worstLayer, 0);
  close(s.worstMaxOverMean, 1.6);
  assert.equal(s.extraSlotsPerRank, 0);
  // The optimal pairing {6,1} | {2,1} meets the bound.
  const best = planStats(plan([[0, 2, 1, 3]], 4, 2), Float64Array.of(6, 2, 1, 1));
  close(best.maxOverMean, 1.4);
  close(best.gapToBound, 0);
});

test('replicas split load evenly; moved replicas, extra slots and bytes', () => {
  // P = 6 on G = 2: rank 0 {0,1,2}, rank 1 {0,3,1}; c = [2,2,1,1] -> ranks 3+1+1 | 3+1+1 -> 1.
  const w = Float64Array.of(6, 2, 1, 1);
  const p = plan([[0, 1, 2, 0, 3, 1]], 4, 2);
  const cur = plan([[0, 1, 2, 3]], 4, 2);
  const s = planStats(p, w, { current: cur, expertBytes: 1000 });
  close(s.maxOverMean, 1);
  close(s.lowerBound, 1); // max(5, greedy w/c with c_e <= 2: 3) / 5
  // new triples (expert, rank): (2, r0), (0, r1), (1, r1) were not in current (r0 {0,1}, r1 {2,3})
  assert.equal(s.expertsMoved, 3);
  assert.equal(s.movedBytes, 3000);
  assert.equal(s.extraSlotsPerRank, 1);
  assert.equal(s.extraHbmBytes, 1000);
  assert.equal(expertsMoved(cur, cur), 0);
});

test('DeepSeek-V3 shape: one redundant slot per rank in 58 layers at 44 MB per expert = 2.552 GB per rank (deepseek-ai/EPLB, eplb.py)', () => {
  const E = 256;
  const G = 32;
  const row = Array.from({ length: E + G }, (_, p) => p % E); // slot p holds p mod 256
  const p = plan(Array.from({ length: 58 }, () => row), E, G);
  p.allowColocatedReplicas = true;
  const s = planStats(p, new Float64Array(58 * E).fill(1), { expertBytes: 44e6 });
  assert.equal(s.extraSlotsPerRank, 58);
  assert.equal(s.extraHbmBytes, 2.552e9);
});

test('distinct ranks and nodes per token from routes; the cluster sets ranks per node', () => {
  // tokens: (0,1) both on rank 0 -> 1 rank; (0,2) ranks 0 and 1 -> 2 ranks. Mean 1.5.
  const routes = makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: 4, topK: 2, experts: Uint8Array.of(0, 1, 0, 2) });
  const p = plan([[0, 1, 2, 3]], 4, 2);
  const one = planStats(p, Float64Array.of(2, 1, 1, 0), { routes });
  close(one.distinctRanksPerToken!, 1.5);
  close(one.distinctNodesPerToken!, 1);
  const twoNodes = parseClusterJson({ nodes: 2, gpusPerNode: 1, gpu: 'H100-SXM' }, 'c.json');
  const split = planStats(p, Float64Array.of(2, 1, 1, 0), { routes, cluster: twoNodes });
  close(split.distinctNodesPerToken!, 1.5);
  assert.ok(loadCluster('8xH100-SXM'));
});

test('a current plan of another shape is refused with the numbers', () => {
  assert.throws(
    () => planStats(plan([[0, 1, 2, 3]], 4, 2), Float64Array.of(1, 1, 1, 1), { current: plan([[0, 1, 2, 3]], 4, 4) }),
    (e: unknown) => e instanceof InputError && /1 layers x 4 experts on 4 ranks; the new plan is 1 x 4 on 2/.test(e.message),
  );
});

test('a slower GPU: speed-adjusted max/mean is 1 when load follows speed', () => {
  // ranks carry 2 | 1 tokens; speeds 1 | 0.5 -> times 2 | 2; proportional split time 3 / 1.5 = 2 -> 1.
  const c = parseClusterJson({ gpusPerNode: 2, gpu: 'H100-SXM', gpus: { '1': { speed: 0.5 } } }, 'c.json');
  const s = planStats(plan([[0, 1]], 2, 2), Float64Array.of(2, 1), { cluster: c });
  close(s.maxOverMean, 2 / 1.5);
  close(s.speedAdjustedMaxOverMean!, 1);
  // same speeds: the stat is left out
  const even = parseClusterJson({ gpusPerNode: 2 }, 'd.json');
  assert.equal(planStats(plan([[0, 1]], 2, 2), Float64Array.of(2, 1), { cluster: even }).speedAdjustedMaxOverMean, undefined);
});
