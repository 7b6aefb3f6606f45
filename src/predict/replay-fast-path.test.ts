import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPlan } from '../core/default-placements.ts';
import { allocExpertIds, makeTokenRoutes, routesToCounts, type TokenRoutes } from '../core/token-routes.ts';
import { getSolver } from '../plan/solvers/index.ts';
import { defaultCluster } from './cluster-spec.ts';
import { buildCostModel } from './cost-model.ts';
import { loadModelConfig } from './model-config.ts';
import { compilePlan } from './plan-tables.ts';
import { ReplayScratch, scoreRoutesBatchGeneral, scoreRoutesBatchMulti, SharedScratch, type BatchSeries } from './replay.ts';
import { mulberry32 } from '../core/random.ts';
import { zipfRoutes } from './synthetic.ts';

// The byte-lane communication counter (8-GPU nodes), the expert-grouped replica pass and the
// Int32 finishBatchCounts must give exactly (===) the general path's numbers: every count is an
// integer, and the time formulas are evaluated in the same order.

const names = ['maxOverMean', 'activatedMax', 'activatedMean', 'distinctRanks', 'distinctNodes', 'dispatchUs', 'computeUs', 'combineUs', 'timeUs'] as const;
const series = (B: number): BatchSeries =>
  Object.fromEntries([...names, 'moveUs', 'expertsMoved'].map((n) => [n, new Float64Array(B)])) as unknown as BatchSeries;

/** Uniform random routes with k distinct experts per token; Uint16 ids when E > 256. */
function randomRoutes(T: number, L: number, E: number, k: number, seed: number): TokenRoutes {
  const rnd = mulberry32(seed);
  const experts = allocExpertIds(E, T * L * k);
  for (let t = 0; t < T * L; t++) {
    for (let j = 0; j < k; j++) {
      let e: number;
      do {
        // Skewed: half the choices from the first 16 experts, so they get replicas.
        e = rnd() < 0.5 ? Math.floor(rnd() * 16) : Math.floor(rnd() * E);
        let dup = false;
        for (let q = 0; q < j; q++) if (experts[t * k + q] === e) dup = true;
        if (!dup) break;
      } while (true);
      experts[t * k + j] = e;
    }
  }
  return makeTokenRoutes({ meta: { layerIds: Array.from({ length: L }, (_, i) => i), sources: [] }, numLayers: L, numExperts: E, topK: k, experts });
}

async function compare(routes: TokenRoutes, G: number, batches: Array<[number, number]>, i0: number, overlap: number): Promise<void> {
  const { numLayers: L, numExperts: E } = routes;
  const cluster = defaultCluster(G);
  const layerIds = Array.from({ length: L }, (_, i) => i);
  const solveIn = { load: routesToCounts(routes), numLayers: L, numExperts: E, layerIds, numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: 3 * G };
  const plans = [defaultPlan('linear', L, E, G, layerIds, cluster.gpusPerNode), await getSolver('deepseek').solve(solveIn), await getSolver('ballast').solve({ ...solveIn, cluster })];
  const tables = plans.map((p) => compilePlan(p));
  assert.ok(tables[1].maxReplicas >= 3, `replicated plan has up to ${tables[1].maxReplicas} replicas`);
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster, overrides: { overlap } });
  const scs = plans.map(() => new ReplayScratch(cm));
  assert.equal(scs[0].node8, true);
  const fast = plans.map(() => series(batches.length));
  const slow = plans.map(() => series(batches.length));
  const shared = new SharedScratch();
  batches.forEach(([t0, t1], b) => {
    scoreRoutesBatchMulti(routes, tables.map((t, i) => ({ tables: t, sc: scs[i], out: fast[i] })), t0, t1, i0, b, shared);
    tables.forEach((t, i) => scoreRoutesBatchGeneral(routes, t, t0, t1, i0, new ReplayScratch(cm), 'token-mod', slow[i], b));
  });
  for (let i = 0; i < plans.length; i++) {
    for (const n of names) {
      for (let b = 0; b < batches.length; b++) assert.equal(fast[i][n][b], slow[i][n][b], `G=${G} plan ${i} ${n}[${b}]`);
    }
  }
}

test('fast path === general path: Uint8 ids, 1-4 nodes of 8, uneven and long batches, overlap on/off', async () => {
  const routes = zipfRoutes({ tokens: 4000, layers: 2, experts: 96, topK: 8, s: 1.0, seed: 5 });
  for (const G of [8, 16, 24, 32]) {
    // Batches of 512, 37 (fewer tokens than ranks for G = 32... some ranks send nothing), 1300 (runs of
    // more than 31 and chunks of more than 255 tokens per source on 8 ranks).
    await compare(routes, G, [[7, 519], [519, 556], [556, 1856], [2000, 2001]], 3, G === 32 ? 1 : 0);
  }
});

test('fast path === general path: Uint16 ids (E = 320), top-6', async () => {
  const routes = randomRoutes(1200, 2, 320, 6, 9);
  assert.ok(routes.experts instanceof Uint16Array);
  await compare(routes, 32, [[0, 512], [512, 1100]], 0, 0);
});
