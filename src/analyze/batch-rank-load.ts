/**
 * Per-batch rank imbalance replayed from token routes: what a forward pass of `batchTokens`
 * consecutive tokens sees, rather than what the whole-trace histogram averages away.
 *
 * The scored part is tokens [startToken, endToken) (default: all), cut into consecutive batches of
 * `batchTokens` tokens; the last partial batch is dropped. Each (token, expert) choice adds 1 to the
 * rank serving it; with replicas, the choice of expert e by the token with index i in the scored part
 * goes to replica (i mod replicas(e)) in slot order (see replica-rank-table.ts).
 *
 *   value(batch) = (1/L) * sum_l max_r n[l][r] / mean_r n[l][r],   mean_r n[l][r] = batchTokens * k / G
 *   mean = arithmetic mean of value over batches
 *   p99  = nearest-rank 99th percentile over batches: sorted ascending, the ceil(0.99 * B)-th value
 *
 * Shapes: `routes` [T][L][k], `plan` with the same L and E and G ranks ->
 *   { perBatch: Float64Array[B] with B = floor((endToken - startToken) / batchTokens), mean, p99 }.
 * mean and p99 are NaN when there is no full batch. O(T * L * k) time, O(L * G) extra memory; no
 * per-token allocation.
 */
import type { Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { nearestRankPercentile } from './percentile.ts';
import { replicaRankTable } from './replica-rank-table.ts';

export interface TokenRangeOptions {
  /** First token of the scored part (default 0). */
  startToken?: number;
  /** End (exclusive) of the scored part (default routes.numTokens). */
  endToken?: number;
}

export interface BatchRankLoad {
  /** max/mean rank load of each batch, averaged over layers; length = number of full batches. */
  perBatch: Float64Array;
  mean: number;
  p99: number;
}

export function batchRankLoad(
  routes: TokenRoutes,
  plan: Plan,
  batchTokens: number,
  opts: TokenRangeOptions = {},
): BatchRankLoad {
  checkRoutesMatchPlan(routes, plan);
  if (!Number.isInteger(batchTokens) || batchTokens < 1) {
    throw new RangeError(`batchTokens must be a positive integer, got ${batchTokens}`);
  }
  const [t0, t1] = tokenRange(routes, opts);
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const G = plan.numRanks;
  const table = replicaRankTable(plan);
  const X = table.maxReplicas;
  const { replicas, ranks, firstRank } = table;
  const numBatches = Math.floor((t1 - t0) / batchTokens);
  const perBatch = new Float64Array(numBatches);
  const acc = new Int32Array(L * G);
  const meanRank = (batchTokens * k) / G;
  const perToken = L * k;
  for (let b = 0; b < numBatches; b++) {
    acc.fill(0);
    const bStart = t0 + b * batchTokens;
    for (let t = bStart; t < bStart + batchTokens; t++) {
      const i = t - t0;
      const base = t * perToken;
      for (let l = 0; l < L; l++) {
        const lE = l * E;
        const lG = l * G;
        const o = base + l * k;
        for (let j = 0; j < k; j++) {
          const le = lE + experts[o + j];
          const c = replicas[le];
          acc[lG + (c === 1 ? firstRank[le] : ranks[le * X + (i % c)])]++;
        }
      }
    }
    let s = 0;
    for (let l = 0; l < L; l++) {
      let m = 0;
      for (let r = l * G; r < (l + 1) * G; r++) if (acc[r] > m) m = acc[r];
      s += m / meanRank;
    }
    perBatch[b] = s / L;
  }
  let sum = 0;
  for (let b = 0; b < numBatches; b++) sum += perBatch[b];
  return {
    perBatch,
    mean: numBatches === 0 ? Number.NaN : sum / numBatches,
    p99: nearestRankPercentile(perBatch, 0.99),
  };
}

/** Throws RangeError unless routes and plan agree on layers and experts. */
export function checkRoutesMatchPlan(routes: TokenRoutes, plan: Plan): void {
  if (routes.numLayers !== plan.numLayers || routes.numExperts !== plan.numExperts) {
    throw new RangeError(
      `routes are ${routes.numLayers} layers x ${routes.numExperts} experts but the plan is ${plan.numLayers} x ${plan.numExperts}`,
    );
  }
}

/** [start, end) of the scored part, checked against the trace. */
export function tokenRange(routes: TokenRoutes, opts: TokenRangeOptions): [number, number] {
  const t0 = opts.startToken ?? 0;
  const t1 = opts.endToken ?? routes.numTokens;
  if (!Number.isInteger(t0) || !Number.isInteger(t1) || t0 < 0 || t1 > routes.numTokens || t0 > t1) {
    throw new RangeError(`token range [${t0}, ${t1}) is not within [0, ${routes.numTokens})`);
  }
  return [t0, t1];
}
