/**
 * Replica slots per layer under a per-GPU memory budget (CRAFT-style: a replica is worth more in some
 * layers than others).
 *
 * Each layer needs at least P0 = ceil(E/G)*G slots. One "step" adds G slots to one layer (one extra
 * slot on every GPU), costing expertBytes per GPU. The budget pays for
 *   U = floor(budget / expertBytes) - L * (P0 - E) / G        steps in all (per GPU).
 * Uniform: every layer gets floor(U / L) steps. Variable: steps go one at a time to the layer whose
 * lower bound on max rank load (rankLowerBound, lower-bound.ts) drops most (greedy marginal gain),
 * until U is spent or no layer gains.
 */
import { InputError } from '../../../core/errors.ts';
import { rankLowerBound } from '../../lower-bound.ts';

/** Shapes: load [L][E] -> Int32Array[L] slot counts P_l (multiples of G, >= E). */
export function slotsUnderBudget(
  load: Float64Array,
  L: number,
  E: number,
  G: number,
  budgetBytes: number,
  expertBytes: number,
  variable: boolean,
): Int32Array {
  const P0 = Math.ceil(E / G) * G;
  const baseBytes = (L * (P0 - E) * expertBytes) / G;
  if (baseBytes > budgetBytes) {
    throw new InputError(
      '--memory-budget',
      '',
      `${E} experts over ${G} GPUs need ${P0} slots per layer; the ${P0 - E} padding slots x ${L} layers need ${baseBytes} bytes per GPU, budget is ${budgetBytes}`,
    );
  }
  // Steps beyond the padding; a layer can use at most E*(G-1) redundant slots (<= G replicas each).
  const U = Math.floor((budgetBytes - baseBytes) / expertBytes + 1e-9);
  const maxSteps = Math.floor((E * G - P0) / G);
  const out = new Int32Array(L).fill(P0);
  if (!variable) {
    const k = Math.min(Math.floor(U / L), maxSteps);
    out.fill(P0 + k * G);
    return out;
  }
  const bound = new Float64Array(L);
  const nextBound = new Float64Array(L);
  const boundAt = (l: number, P: number): number => rankLowerBound(load.subarray(l * E, (l + 1) * E), G, P);
  for (let l = 0; l < L; l++) {
    bound[l] = boundAt(l, P0);
    nextBound[l] = out[l] + G <= E * G ? boundAt(l, P0 + G) : bound[l];
  }
  for (let u = 0; u < U; u++) {
    let best = -1;
    let gain = 0;
    for (let l = 0; l < L; l++) {
      const g = bound[l] - nextBound[l];
      if (g > gain) {
        gain = g;
        best = l;
      }
    }
    if (best < 0) break;
    out[best] += G;
    bound[best] = nextBound[best];
    nextBound[best] = out[best] + G <= E * G ? boundAt(best, out[best] + G) : bound[best];
  }
  return out;
}
