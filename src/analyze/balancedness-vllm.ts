/**
 * Balancedness as vLLM's EPLB logs it (docs/solvers.md#deepseek): total mean-rank load over total max-rank load.
 *
 *   balancednessVllm = sum_l mean_r R[l][r] / sum_l max_r R[l][r]
 *
 * Heavy layers weigh more than light ones. 1 = perfectly even; 1/G = one rank carries everything.
 * Shapes: `rankLoads` Float64Array[L][G] row-major, `numRanks` G -> number in [1/G, 1].
 * Defined as 1 when every load is 0 (vLLM itself would divide 0 by 0).
 */
export function balancednessVllm(rankLoads: Float64Array, numRanks: number): number {
  const G = numRanks;
  if (!(G >= 1) || rankLoads.length % G !== 0 || rankLoads.length === 0) {
    throw new RangeError(`rank loads of length ${rankLoads.length} are not [L][${G}]`);
  }
  const L = rankLoads.length / G;
  let sumMean = 0;
  let sumMax = 0;
  for (let l = 0; l < L; l++) {
    let s = 0;
    let m = rankLoads[l * G];
    for (let r = 0; r < G; r++) {
      const v = rankLoads[l * G + r];
      s += v;
      if (v > m) m = v;
    }
    sumMean += s / G;
    sumMax += m;
  }
  return sumMax === 0 ? 1 : sumMean / sumMax;
}
