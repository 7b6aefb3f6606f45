/**
 * Load trace derived from token routes: one window per sequence, grouping consecutive sequences
 * when there are more than `maxWindows`.
 */
import { type LoadTrace, makeLoadTrace, type WindowInfo } from '../core/load-trace.ts';
import type { TokenRoutes } from '../core/token-routes.ts';

/** Returns a LoadTrace with W <= maxWindows windows, [W][L][E], summing to all routed tokens. */
export function loadFromRoutes(r: TokenRoutes, maxWindows = 1024): LoadTrace {
  const S = r.seqStarts.length - 1;
  const groups = Math.max(1, Math.min(S, maxWindows));
  const L = r.numLayers;
  const E = r.numExperts;
  const k = r.topK;
  const counts = new Float64Array(groups * L * E);
  const windows: WindowInfo[] = [];
  for (let g = 0; g < groups; g++) {
    const s0 = Math.floor((g * S) / groups);
    const s1 = Math.floor(((g + 1) * S) / groups);
    const t0 = r.seqStarts[s0];
    const t1 = r.seqStarts[s1];
    const base = g * L * E;
    for (let t = t0; t < t1; t++) {
      const tb = t * L * k;
      for (let l = 0; l < L; l++) {
        const o = base + l * E;
        for (let j = 0; j < k; j++) counts[o + r.experts[tb + l * k + j]] += 1;
      }
    }
    windows.push({ tokens: t1 - t0, step: g });
  }
  return makeLoadTrace(r.meta, L, E, counts, windows);
}
