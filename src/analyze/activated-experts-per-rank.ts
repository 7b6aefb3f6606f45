/**
 * Activated experts per rank: how many of a rank's slots receive any traffic, per layer. In the
 * memory-bound (decode) regime a rank's time follows this count rather than its token count.
 *
 *   activated[l][r] = #{ slots p on rank r : load[l][phy2log[l][p]] > 0 }
 *
 * With replicas, traffic splits over every replica of an expert, so each replica of a loaded expert
 * counts on the rank holding it.
 *
 * Shapes: `load` Float64Array[L][E] row-major, `plan` with the same L and E -> Int32Array[L][G] row-major.
 */
import type { Plan } from '../core/plan.ts';

export function activatedExpertsPerRank(load: Float64Array, plan: Plan): Int32Array {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  if (load.length !== L * E) {
    throw new RangeError(`load has ${load.length} values but the plan is ${L} layers x ${E} experts`);
  }
  const out = new Int32Array(L * G);
  for (let l = 0; l < L; l++) {
    const row = plan.phy2log[l];
    const perRank = row.length / G;
    for (let p = 0; p < row.length; p++) {
      if (load[l * E + row[p]] > 0) out[l * G + Math.floor(p / perRank)]++;
    }
  }
  return out;
}
