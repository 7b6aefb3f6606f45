/**
 * Token routes sampled from a histogram, so that a load trace without routes can be replayed as
 * per-step batches with realistic batch-to-batch noise (the gate needs a spread to test the gain
 * against).
 *
 * Per token and layer, k distinct experts are drawn by systematic PPS sampling: inclusion
 * probabilities pi_e = k * c_e / sum(c) (capped at 1, the excess spread over the others), a random
 * rotation of the experts' order per (token, layer) start offset, and k equally spaced pointers
 * u, u+1, ..., u+k-1 over the cumulative pi. Each expert's expected count is then exactly k * T * c_e /
 * sum(c) (for pi_e <= 1), unlike k draws without replacement, which under-pick hot experts. Layers are
 * drawn independently (a histogram carries no co-activation).
 *
 * Shapes: counts [L][E] (one window, summed over windows by the caller) -> TokenRoutes [T][L][k].
 */
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../core/token-routes.ts';
import { mulberry32 } from '../core/random.ts';

/** Inclusion probabilities pi_e = k c_e / sum c, capped at 1 with the excess spread proportionally. */
export function inclusionProbabilities(counts: ArrayLike<number>, k: number): Float64Array {
  const E = counts.length;
  const pi = new Float64Array(E);
  const capped = new Uint8Array(E);
  let need = k;
  for (let iter = 0; iter < E; iter++) {
    let free = 0;
    for (let e = 0; e < E; e++) if (!capped[e]) free += Math.max(0, counts[e]);
    let changed = false;
    for (let e = 0; e < E; e++) {
      if (capped[e]) continue;
      pi[e] = free > 0 ? (need * Math.max(0, counts[e])) / free : 0;
      if (pi[e] > 1) {
        pi[e] = 1;
        capped[e] = 1;
        need -= 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return pi;
}

export function sampleRoutesFromCounts(
  counts: Float64Array,
  numLayers: number,
  numExperts: number,
  topK: number,
  tokens: number,
  seed = 1,
  layerIds: number[] = Array.from({ length: numLayers }, (_, i) => i),
): TokenRoutes {
  const E = numExperts;
  const k = Math.min(topK, E);
  const rnd = mulberry32(seed);
  const pis: Float64Array[] = [];
  for (let l = 0; l < numLayers; l++) pis.push(inclusionProbabilities(counts.subarray(l * E, (l + 1) * E), k));
  const experts = allocExpertIds(E, tokens * numLayers * k);
  for (let t = 0; t < tokens; t++) {
    for (let l = 0; l < numLayers; l++) {
      const pi = pis[l];
      const start = Math.floor(rnd() * E);
      let ptr = rnd();
      let acc = 0;
      let n = 0;
      const o = (t * numLayers + l) * k;
      for (let i = 0; i < E && n < k; i++) {
        const e = (start + i) % E;
        acc += pi[e];
        while (n < k && acc > ptr) {
          experts[o + n++] = e;
          ptr += 1;
        }
      }
      // Rounding can leave the last pointer just past the total: fill from the heaviest unused.
      while (n < k) {
        let best = -1;
        for (let e = 0; e < E; e++) {
          let used = false;
          for (let j = 0; j < n; j++) if (experts[o + j] === e) used = true;
          if (!used && (best < 0 || pi[e] > pi[best])) best = e;
        }
        experts[o + n++] = best;
      }
    }
  }
  return makeTokenRoutes({
    meta: { layerIds, topK: k, sources: [{ path: 'sampled from counts', format: 'synthetic' }] },
    numLayers,
    numExperts: E,
    topK: k,
    experts,
  });
}
