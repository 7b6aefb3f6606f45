/**
 * Co-activation-aware refinement: pull experts that the same tokens choose onto one rank (and one
 * node), so a token's k choices reach fewer distinct ranks, while the heaviest rank stays within a cap
 * (the balanced plan's max times 1 + balanceTolerance).
 *
 * Objective (first-order proxy for distinct destinations per token): maximise
 *   sum over ranks r of sum over unordered replica pairs {a, b} on r of  M[a][b] / (c_a c_b)
 *   + beta * the same over nodes (beta = 0.5 when there is more than one node)
 * where M[a][b] = C[a][b] (tokens of the planning routes choosing both a and b in the layer) minus a
 * multiple of their batch-to-batch covariance (pairWeights), and c_e is e's replica count (a token
 * reaches one replica of e). Moves are swaps of two replicas on different
 * ranks; sweeps apply every improving swap that keeps both ranks under the cap and never puts two
 * replicas of one expert on a rank, until a sweep finds none (at most 40 sweeps).
 */
import type { TokenRoutes } from '../../../core/token-routes.ts';
import type { PackScratch } from './pack.ts';
import { loadRow } from './pack.ts';

export interface Coactivation {
  L: number;
  E: number;
  numNodes: number;
  /** [L][E][E] token counts choosing both experts (diagonal 0). */
  C: Float32Array;
}

/** Shapes: routes [T][L][k] -> Coactivation with C [L][E][E]. O(T * L * k^2). */
export function coactivation(routes: TokenRoutes, numNodes: number): Coactivation {
  const { numTokens: T, numLayers: L, numExperts: E, topK: k, experts } = routes;
  const C = new Float32Array(L * E * E);
  for (let t = 0; t < T; t++) {
    for (let l = 0; l < L; l++) {
      const o = (t * L + l) * k;
      const base = l * E * E;
      for (let i = 0; i < k; i++) {
        const a = experts[o + i];
        for (let j = i + 1; j < k; j++) {
          const b = experts[o + j];
          if (a === b) continue;
          C[base + a * E + b] += 1;
          C[base + b * E + a] += 1;
        }
      }
    }
  }
  return { L, E, numNodes, C };
}

/**
 * Batch-to-batch covariance of expert counts: Cov[l][a][b] over consecutive batches of `batchTokens`
 * tokens (the last partial batch dropped). Shapes: routes [T][L][k] -> Float32Array [L][E][E]
 * (all zero when there are fewer than 2 batches). O(T * L * k + B * L * E^2).
 */
export function batchCovariance(routes: TokenRoutes, batchTokens: number): Float32Array {
  const { numTokens: T, numLayers: L, numExperts: E, topK: k, experts } = routes;
  const B = Math.floor(T / batchTokens);
  const cov = new Float32Array(L * E * E);
  if (B < 2) return cov;
  const x = new Float64Array(E);
  const sum = new Float64Array(L * E);
  const prod = new Float64Array(L * E * E);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      x.fill(0);
      for (let t = b * batchTokens; t < (b + 1) * batchTokens; t++) {
        const o = (t * L + l) * k;
        for (let j = 0; j < k; j++) x[experts[o + j]] += 1;
      }
      const base = l * E * E;
      for (let a = 0; a < E; a++) {
        const xa = x[a];
        sum[l * E + a] += xa;
        if (xa === 0) continue;
        for (let c = 0; c < E; c++) prod[base + a * E + c] += xa * x[c];
      }
    }
  }
  for (let l = 0; l < L; l++) {
    for (let a = 0; a < E; a++) {
      const ma = sum[l * E + a] / B;
      for (let c = 0; c < E; c++) {
        const i = l * E * E + a * E + c;
        cov[i] = prod[i] / B - ma * (sum[l * E + c] / B);
      }
    }
  }
  return cov;
}

/**
 * The pair weights the swap search maximises for one layer: M[a][b] = C[a][b] - mu * scale * 2 Cov[a][b]
 * (diagonal 0), where scale = sum |C| / sum |2 Cov| over off-diagonal pairs. Keeping positively
 * covarying experts apart lowers the sum over ranks of per-batch load variance (the diagonal terms
 * move with the expert and cancel). Shapes: -> Float32Array [E][E].
 */
export function pairWeights(co: Coactivation, cov: Float32Array | undefined, l: number, mu: number): Float32Array {
  const E = co.E;
  const C = co.C.subarray(l * E * E, (l + 1) * E * E);
  const M = Float32Array.from(C);
  if (!cov || mu === 0) return M;
  const V = cov.subarray(l * E * E, (l + 1) * E * E);
  let sc = 0;
  let sv = 0;
  for (let a = 0; a < E; a++) {
    for (let b = 0; b < E; b++) {
      if (a === b) continue;
      sc += Math.abs(C[a * E + b]);
      sv += Math.abs(2 * V[a * E + b]);
    }
  }
  if (!(sv > 0)) return M;
  const k = (mu * sc) / sv;
  for (let a = 0; a < E; a++) for (let b = 0; b < E; b++) if (a !== b) M[a * E + b] -= k * 2 * V[a * E + b];
  return M;
}

/**
 * Shapes: row [P] phy2log (valid, no colocated replicas), w [E], pair weights M [E][E] for this layer
 * (pairWeights), G ranks, numNodes dividing G, cap on max load/speed -> a new row [P] with the same
 * replica counts.
 */
export function improveLocality(
  row: Int32Array,
  w: Float64Array,
  M: Float32Array,
  G: number,
  numNodes: number,
  cap: number,
  ps: PackScratch,
): Int32Array {
  const E = w.length;
  const P = row.length;
  const S = P / G;
  if (G === 1) return row;
  loadRow(w, row, ps);
  const { slots, load, has, invSpeed, perReplica } = ps;
  const cnt = new Int32Array(E);
  for (let p = 0; p < P; p++) cnt[row[p]]++;
  const C = M;
  const gpn = G / numNodes;
  const beta = numNodes > 1 ? 0.5 : 0;
  // g[r][e] = sum over replicas x on r of C[e][x] / c_x ; h[n][e] the same over node n.
  const g = new Float64Array(G * E);
  const h = new Float64Array(numNodes * E);
  for (let p = 0; p < P; p++) {
    const r = Math.floor(p / S);
    const n = Math.floor(r / gpn);
    const x = slots[p];
    const ix = 1 / cnt[x];
    for (let e = 0; e < E; e++) {
      const v = C[e * E + x] * ix;
      g[r * E + e] += v;
      h[n * E + e] += v;
    }
  }
  const eps = 1e-9;
  for (let sweep = 0; sweep < 40; sweep++) {
    let improved = false;
    for (let r1 = 0; r1 < G; r1++) {
      const n1 = Math.floor(r1 / gpn);
      for (let r2 = r1 + 1; r2 < G; r2++) {
        const n2 = Math.floor(r2 / gpn);
        for (let i = 0; i < S; i++) {
          const a = slots[r1 * S + i];
          if (has[r2 * E + a]) continue;
          const va = perReplica[a];
          const ia = 1 / cnt[a];
          for (let j = 0; j < S; j++) {
            const b = slots[r2 * S + j];
            if (has[r1 * E + b]) continue;
            const vb = perReplica[b];
            const d = va - vb;
            if ((load[r1] - d) * invSpeed[r1] > cap || (load[r2] + d) * invSpeed[r2] > cap) continue;
            const ib = 1 / cnt[b];
            const fab = C[a * E + b] * ia * ib;
            let gain = (g[r2 * E + a] * ia - fab) + (g[r1 * E + b] * ib - fab) - g[r1 * E + a] * ia - g[r2 * E + b] * ib;
            if (beta > 0 && n1 !== n2) {
              gain += beta * ((h[n2 * E + a] * ia - fab) + (h[n1 * E + b] * ib - fab) - h[n1 * E + a] * ia - h[n2 * E + b] * ib);
            }
            if (gain <= eps) continue;
            // apply swap: a -> r2, b -> r1
            slots[r1 * S + i] = b;
            slots[r2 * S + j] = a;
            has[r1 * E + a] = 0;
            has[r1 * E + b] = 1;
            has[r2 * E + b] = 0;
            has[r2 * E + a] = 1;
            load[r1] -= d;
            load[r2] += d;
            for (let e = 0; e < E; e++) {
              const delta = C[e * E + b] * ib - C[e * E + a] * ia;
              g[r1 * E + e] += delta;
              g[r2 * E + e] -= delta;
              if (n1 !== n2) {
                h[n1 * E + e] += delta;
                h[n2 * E + e] -= delta;
              }
            }
            improved = true;
            break; // slot i now holds b; move on to the next slot
          }
        }
      }
    }
    if (!improved) break;
  }
  return slots.slice(0, P);
}
