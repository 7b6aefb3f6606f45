/**
 * Test helper (no test of its own): score the same batches with a fast kernel and with the reference
 * scorer (reference.ts, scoreRoutesBatchGeneral: token by token with stamp arrays) and assert every
 * series value equal (===: all counts are integers and the time formulas run in the same order).
 *
 * Shapes: routes [T][L][k]; batches [[t0, t1)...] token ranges; i0 the first token of the scored part.
 */
import assert from 'node:assert/strict';
import type { Cluster } from '../../../core/cluster.ts';
import { defaultPlan } from '../../../core/default-placements.ts';
import { allocExpertIds, makeTokenRoutes, routesToCounts, type TokenRoutes } from '../../../core/token-routes.ts';
import { mulberry32 } from '../../../core/random.ts';
import { getSolver } from '../../../plan/solvers/index.ts';
import { buildCostModel } from '../../cost-model.ts';
import { loadModelConfig } from '../../model-config.ts';
import { compilePlan } from '../../plan-tables.ts';
import { scoreRoutesBatchGeneral } from '../reference.ts';
import { ReplayScratch, SharedScratch } from '../scratch.ts';
import { type BatchSeries, newSeries } from '../series.ts';
import { scoreRoutesBatchMulti } from './multi.ts';

export const SERIES_NAMES = ['maxOverMean', 'activatedMax', 'activatedMean', 'distinctRanks', 'distinctNodes', 'dispatchUs', 'computeUs', 'combineUs', 'timeUs'] as const;

/** Uniform-plus-hot random routes with k distinct experts per token (half the choices from experts 0-15). */
export function skewedRoutes(T: number, L: number, E: number, k: number, seed: number): TokenRoutes {
  const rnd = mulberry32(seed);
  const experts = allocExpertIds(E, T * L * k);
  for (let t = 0; t < T * L; t++) {
    for (let j = 0; j < k; j++) {
      let e: number;
      for (;;) {
        e = rnd() < 0.5 ? Math.floor(rnd() * 16) : Math.floor(rnd() * E);
        let dup = false;
        for (let q = 0; q < j; q++) if (experts[t * k + q] === e) dup = true;
        if (!dup) break;
      }
      experts[t * k + j] = e;
    }
  }
  return makeTokenRoutes({ meta: { layerIds: Array.from({ length: L }, (_, i) => i), sources: [] }, numLayers: L, numExperts: E, topK: k, experts });
}

/** Linear, DeepSeek EPLB and ballast plans with `redundant` extra slots, planned on all of `routes`. */
export async function threePlans(routes: TokenRoutes, cluster: Cluster, redundant: number) {
  const { numLayers: L, numExperts: E } = routes;
  const G = cluster.gpus.length;
  const layerIds = Array.from({ length: L }, (_, i) => i);
  const solveIn = { load: routesToCounts(routes), numLayers: L, numExperts: E, layerIds, numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: redundant };
  return [defaultPlan('linear', L, E, G, layerIds, cluster.gpusPerNode), await getSolver('deepseek').solve(solveIn), await getSolver('ballast').solve({ ...solveIn, cluster })];
}

/**
 * Score `batches` with scoreRoutesBatchMulti (all plans together) and with the reference (each plan
 * alone), assert all series ===. `check` sees the first plan's scratch (which kernels apply).
 */
export async function assertMultiEqualsReference(opts: {
  routes: TokenRoutes;
  cluster: Cluster;
  plans: Awaited<ReturnType<typeof threePlans>>;
  batches: Array<[number, number]>;
  i0: number;
  overrides?: Parameters<typeof buildCostModel>[0]['overrides'];
  check?: (sc: ReplayScratch) => void;
}): Promise<void> {
  const { routes, cluster, plans, batches, i0 } = opts;
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster, overrides: opts.overrides });
  const tables = plans.map((p) => compilePlan(p));
  const scs = plans.map(() => new ReplayScratch(cm));
  opts.check?.(scs[0]);
  const fast: BatchSeries[] = plans.map(() => newSeries(batches.length));
  const slow: BatchSeries[] = plans.map(() => newSeries(batches.length));
  const shared = new SharedScratch();
  batches.forEach(([t0, t1], b) => {
    scoreRoutesBatchMulti(routes, tables.map((t, i) => ({ tables: t, sc: scs[i], out: fast[i] })), t0, t1, i0, b, shared);
    tables.forEach((t, i) => scoreRoutesBatchGeneral(routes, t, t0, t1, i0, new ReplayScratch(cm), 'token-mod', slow[i], b));
  });
  for (let i = 0; i < plans.length; i++) {
    for (const n of SERIES_NAMES) {
      for (let b = 0; b < batches.length; b++) assert.equal(fast[i][n][b], slow[i][n][b], `${cluster.name} plan ${i} ${n}[${b}]`);
    }
  }
}
