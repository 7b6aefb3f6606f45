/**
 * Swap search on the busiest GPU's activated experts (decode): with no replicas, move experts between
 * GPUs so that, over resampled batches of the step size, the mean over batches of
 * max over GPUs of (experts on the GPU with at least one token in the batch) is as small as the
 * search finds. In decode every active expert streams its weights, so this count is the step's compute
 * time (METRO, arXiv 2512.09277, balances the same quantity).
 *
 * First-improvement hill climbing over expert pairs on different GPUs; a swap changes only batches
 * where exactly one of the two experts is active, and only the two GPUs' counts.
 *
 * Shapes: routes [T][L][k]; row [P] phy2log of layer l with P = E (each expert one slot, slots
 * [r*S, (r+1)*S) on GPU r); starts [B] batch starts, each + n <= T. Returns a new row [P] and the
 * objective before and after (mean busiest-GPU activated experts over the batches).
 */
import type { TokenRoutes } from '../../../core/token-routes.ts';

export function activationSwapSearch(
  routes: TokenRoutes,
  l: number,
  row: Int32Array,
  starts: Int32Array,
  n: number,
  G: number,
  maxPasses = 4,
): { row: Int32Array; before: number; after: number } {
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const P = row.length;
  if (P !== E) throw new RangeError(`activation search needs one slot per expert (P = E = ${E}), got P = ${P}`);
  const S = P / G;
  const B = starts.length;
  // act[b][e] = 1 when expert e gets a token in batch b.
  const act = new Uint8Array(B * E);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < n; o++) {
      const base = ((starts[b] + o) * L + l) * k;
      for (let j = 0; j < k; j++) act[b * E + experts[base + j]] = 1;
    }
  }
  const out = row.slice();
  const pos = new Int32Array(E);
  for (let p = 0; p < P; p++) pos[out[p]] = p;
  const rank = (e: number) => Math.floor(pos[e] / S);
  const A = new Int32Array(B * G);
  for (let b = 0; b < B; b++) for (let e = 0; e < E; e++) if (act[b * E + e]) A[b * G + rank(e)]++;
  const maxOf = (b: number) => {
    let m = 0;
    for (let r = 0; r < G; r++) if (A[b * G + r] > m) m = A[b * G + r];
    return m;
  };
  const bMax = new Int32Array(B);
  let total = 0;
  for (let b = 0; b < B; b++) {
    bMax[b] = maxOf(b);
    total += bMax[b];
  }
  const before = total / Math.max(1, B);
  for (let pass = 0; pass < maxPasses; pass++) {
    let improved = false;
    for (let e1 = 0; e1 < E; e1++) {
      for (let e2 = e1 + 1; e2 < E; e2++) {
        const r1 = rank(e1);
        const r2 = rank(e2);
        if (r1 === r2) continue;
        let delta = 0;
        for (let b = 0; b < B; b++) {
          const a1 = act[b * E + e1];
          const a2 = act[b * E + e2];
          if (a1 === a2) continue;
          const d = a2 - a1; // r1 loses e1, gains e2
          const c1 = A[b * G + r1] + d;
          const c2 = A[b * G + r2] - d;
          let m = c1 > c2 ? c1 : c2;
          if (m < bMax[b]) {
            // The old max may have been r1 or r2; others unchanged.
            for (let r = 0; r < G; r++) if (r !== r1 && r !== r2 && A[b * G + r] > m) m = A[b * G + r];
          }
          delta += m - bMax[b];
        }
        if (delta < 0) {
          for (let b = 0; b < B; b++) {
            const a1 = act[b * E + e1];
            const a2 = act[b * E + e2];
            if (a1 === a2) continue;
            const d = a2 - a1;
            A[b * G + r1] += d;
            A[b * G + r2] -= d;
            const m = maxOf(b);
            total += m - bMax[b];
            bMax[b] = m;
          }
          const p1 = pos[e1];
          const p2 = pos[e2];
          out[p1] = e2;
          out[p2] = e1;
          pos[e1] = p2;
          pos[e2] = p1;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return { row: out, before, after: total / Math.max(1, B) };
}
