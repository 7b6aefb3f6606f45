/**
 * Tokens each rank serves under a placement, per layer.
 *
 *   rankLoads[l][r] = sum over slots p on rank r of load[l][phy2log[l][p]] / replicas[l][phy2log[l][p]]
 *
 * An expert's load splits evenly over its replicas (as `expertRankShare` in core/plan.ts); slot p of a
 * layer with P slots lives on rank floor(p / (P / G)).
 *
 * Shapes: `load` Float64Array[L][E] row-major (e.g. `totalCounts(trace)`), `plan` with the same L and E
 * -> Float64Array[L][G] row-major. Row sums equal the load's row sums.
 */
import { type Plan, replicaCounts } from '../core/plan.ts';

export function rankLoads(load: Float64Array, plan: Plan): Float64Array {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  if (load.length !== L * E) {
    throw new RangeError(`load has ${load.length} values but the plan is ${L} layers x ${E} experts`);
  }
  const out = new Float64Array(L * G);
  for (let l = 0; l < L; l++) {
    const row = plan.phy2log[l];
    const P = row.length;
    const perRank = P / G;
    const cnt = replicaCounts(plan, l);
    for (let p = 0; p < P; p++) {
      const e = row[p];
      out[l * G + Math.floor(p / perRank)] += load[l * E + e] / cnt[e];
    }
  }
  return out;
}
