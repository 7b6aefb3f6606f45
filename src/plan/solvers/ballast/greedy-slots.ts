/**
 * Replica slots handed out one at a time, each to the layer whose next step up in R saves the most
 * (time-objective.ts `choose`, in-sample; held-out-choice.ts `chooseHeldOut`, validated).
 *
 * Shapes: L layers, nR options of R (ascending; index 0 is the fewest replicas); `slotsLeft` slots, one
 * consumed per step up; `gain(l, i)` the time saved by moving layer l from option i to i + 1 (a value
 * <= 0 means "not worth it": the layer is not stepped up). Returns Int32Array [L] of option indices.
 * Ties go to the lower layer index. Stops when no layer gains or the slots run out.
 */
export function greedySlots(L: number, nR: number, slotsLeft: number, gain: (l: number, i: number) => number): Int32Array {
  const rIndex = new Int32Array(L);
  let left = slotsLeft;
  while (left >= 1) {
    let bestL = -1;
    let bestGain = 0;
    for (let l = 0; l < L; l++) {
      const i = rIndex[l];
      if (i + 1 >= nR) continue;
      const g = gain(l, i);
      if (g > bestGain) {
        bestGain = g;
        bestL = l;
      }
    }
    if (bestL < 0) break;
    rIndex[bestL]++;
    left--;
  }
  return rIndex;
}
