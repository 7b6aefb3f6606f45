/**
 * Balancedness as SGLang reports it (docs/solvers.md#deepseek): per-layer (mean + 1e-5) / (max + 1e-5), averaged
 * over layers.
 *
 *   balancednessSglang = (1/L) * sum_l (mean_r R[l][r] + 1e-5) / (max_r R[l][r] + 1e-5)
 *
 * Every layer weighs the same. Not the same number as vLLM's: report both, labelled.
 * Shapes: `rankLoads` Float64Array[L][G] row-major, `numRanks` G -> number in (0, 1]. A layer with no
 * traffic scores exactly 1 (the 1e-5 terms make 0/0 into 1).
 */
export function balancednessSglang(rankLoads: Float64Array, numRanks: number): number {
  const G = numRanks;
  if (!(G >= 1) || rankLoads.length % G !== 0 || rankLoads.length === 0) {
    throw new RangeError(`rank loads of length ${rankLoads.length} are not [L][${G}]`);
  }
  const L = rankLoads.length / G;
  let acc = 0;
  for (let l = 0; l < L; l++) {
    let s = 0;
    let m = rankLoads[l * G];
    for (let r = 0; r < G; r++) {
      const v = rankLoads[l * G + r];
      s += v;
      if (v > m) m = v;
    }
    acc += (s / G + 1e-5) / (m + 1e-5);
  }
  return acc / L;
}
