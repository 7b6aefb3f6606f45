import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../core/errors.ts';
import { makeLoadTrace } from '../core/load-trace.ts';
import { makeTokenRoutes } from '../core/token-routes.ts';
import { loadFromRoutes } from '../ingest/routes-to-load.ts';
import { analyzeTrace } from './analyze-trace.ts';
import { planOf } from './test-plans.ts';

// 2 windows x 2 layers (model ids 3, 5) x 4 experts. Summed: layer 3 = [1,2,3,6], layer 5 = [2,2,2,2].
const load = makeLoadTrace(
  { model: 'toy', layerIds: [3, 5], topK: 2, sources: [{ path: 'toy.csv', format: 'csv' }], phase: 'decode' },
  2,
  4,
  Float64Array.from([1, 2, 3, 0, 2, 2, 2, 2, 0, 0, 0, 6, 0, 0, 0, 0]),
);
const close = (a: number | undefined, b: number) => assert.ok(a !== undefined && Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('expert metrics per layer, windows summed, file order kept', () => {
  const a = analyzeTrace(load);
  assert.deepEqual(a.trace, {
    model: 'toy',
    layers: 2,
    experts: 4,
    topK: 2,
    windows: 2,
    sources: [{ path: 'toy.csv', format: 'csv' }],
    phase: 'decode',
  });
  assert.deepEqual(a.layers.map((x) => x.layer), [3, 5]);
  const [l3, l5] = a.layers;
  // [1,2,3,6]: max/mean 6/3; cv sqrt(3.5)/3; gini 1/3; entropy 1.19885/ln4; hottest e3 with 6/12;
  // top 10% = ceil(0.4) = 1 expert -> 0.5; top 25% = 1 expert -> 0.5
  assert.equal(l3.expertMaxOverMean, 2);
  close(l3.cv, 0.6236095644623235);
  close(l3.gini, 1 / 3);
  close(l3.entropy, 0.8647869792568114);
  assert.equal(l3.hottestExpert, 3);
  assert.equal(l3.hottestShare, 0.5);
  assert.equal(l3.top10Share, 0.5);
  assert.equal(l3.top25Share, 0.5);
  // [2,2,2,2]: even; the hottest is the lowest id on ties
  assert.equal(l5.expertMaxOverMean, 1);
  assert.equal(l5.cv, 0);
  assert.equal(l5.gini, 0);
  close(l5.entropy, 1);
  assert.equal(l5.hottestExpert, 0);
  assert.equal(l5.hottestShare, 0.25);
  assert.equal(l3.rankLoads, undefined);
  assert.deepEqual(a.summary, { meanExpertMaxOverMean: 1.5, worstLayer: 3 });
});

test('rank metrics under linear (default) and round-robin placements', () => {
  const a = analyzeTrace(load, { ranks: 2 });
  // linear: layer 3 ranks [1+2, 3+6] = [3,9] -> 9/6 = 1.5; layer 5 [4,4] -> 1
  assert.deepEqual(a.layers[0].rankLoads, [3, 9]);
  assert.deepEqual(a.layers[1].rankLoads, [4, 4]);
  assert.equal(a.layers[0].rankMaxOverMean, 1.5);
  assert.deepEqual(a.layers[0].activatedExpertsPerRank, [2, 2]);
  const s = a.summary;
  assert.equal(s.balancednessVllm, 10 / 13); // (6 + 4) / (9 + 4)
  close(s.balancednessSglang, 0.8333335185183128); // ((6+1e-5)/(9+1e-5) + 1) / 2
  assert.equal(s.meanRankMaxOverMean, 1.25);
  assert.equal(s.worstRankLayer, 3);
  assert.equal(s.placement, 'linear');
  assert.equal(s.ranks, 2);
  assert.equal(s.ranksPerNode, 2);
  assert.equal(s.redundantSlots, 0);
  // round-robin: layer 3 ranks [1+3, 2+6] = [4,8] -> 8/6
  const rr = analyzeTrace(load, { ranks: 2, placement: 'round-robin' });
  assert.deepEqual(rr.layers[0].rankLoads, [4, 8]);
  close(rr.layers[0].rankMaxOverMean, 4 / 3);
  assert.equal(rr.summary.placement, 'round-robin');
});

test('a Plan with replicas: loads split over replicas; ranks come from the plan', () => {
  // both layers: slots [3,0,1 | 2,3,1] -> layer 3: rank0 6/2+1+2/2 = 5, rank1 3+3+1 = 7
  const plan = planOf(4, 2, [[3, 0, 1, 2, 3, 1], [3, 0, 1, 2, 3, 1]]);
  const a = analyzeTrace(load, { placement: plan, planFile: 'p.json' });
  assert.deepEqual(a.layers[0].rankLoads, [5, 7]);
  // layer 5 [2,2,2,2]: rank0 1+2+1 = 4, rank1 2+1+1 = 4
  assert.deepEqual(a.layers[1].rankLoads, [4, 4]);
  assert.deepEqual(a.layers[0].activatedExpertsPerRank, [3, 3]);
  assert.equal(a.summary.placement, 'plan:p.json');
  assert.equal(a.summary.redundantSlots, 4);
  assert.throws(() => analyzeTrace(load, { placement: plan, ranks: 4 }), InputError);
  assert.throws(() => analyzeTrace(load, { placement: planOf(8, 2, [[0, 1, 2, 3, 4, 5, 6, 7]]) }), InputError);
});

test('bad ranks are input errors', () => {
  assert.throws(() => analyzeTrace(load, { ranks: 3 }), (e: unknown) => e instanceof InputError && e.file === '--ranks');
  assert.throws(() => analyzeTrace(load, { ranks: 2, ranksPerNode: 3 }), InputError);
});

test('with routes: per-batch replay and distinct ranks per token', () => {
  // same routes as batch-rank-load.test.ts: t0 [0,1]|[0,2] t1 [0,2]|[1,3] t2 [2,3]|[0,1] t3 [2,3]|[2,3] t4 [0,0]|[3,3]
  const routes = makeTokenRoutes({
    meta: { layerIds: [0, 1], topK: 2, sources: [{ path: 'r', format: 'test' }] },
    numLayers: 2,
    numExperts: 4,
    topK: 2,
    experts: Uint8Array.from([0, 1, 0, 2, 0, 2, 1, 3, 2, 3, 0, 1, 2, 3, 2, 3, 0, 0, 3, 3]),
  });
  const a = analyzeTrace(loadFromRoutes(routes), { ranks: 2, routes, batchTokens: 2 });
  assert.equal(a.summary.batchTokens, 2);
  assert.equal(a.summary.batches, 2);
  assert.deepEqual(a.summary.perBatchMaxOverMean, { mean: 1.375, p99: 1.5 });
  // distinct ranks per (token, layer): 1,2 | 2,2 | 1,1 | 1,1 | 1,1 -> 13 / 10
  close(a.summary.distinctRanksPerToken ?? undefined, 1.3);
  assert.equal(a.summary.distinctNodesPerToken, 1);
  assert.equal(a.summary.tokens, 5);
  // batches longer than the trace: no full batch -> nulls, still valid JSON
  const none = analyzeTrace(loadFromRoutes(routes), { ranks: 2, routes, batchTokens: 100 });
  assert.deepEqual(none.summary.perBatchMaxOverMean, { mean: null, p99: null });
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(none)));
});
