/**
 * Variance-aware packing: per-batch rank loads are sums of correlated expert counts (the tokens of one
 * sequence share a topic, and one token's k choices arrive together), so two placements with the same
 * in-sample rank loads can differ a lot in how far their heaviest rank overshoots per batch. This file
 * estimates the batch-to-batch covariance of expert counts from the planning routes and moves replicas
 * to lower the expected per-batch maximum without raising the in-sample maximum.
 *
 * Covariance model (random effects, one layer; x_t the k-hot choice vector of token t, p = E[x_t]):
 *   x_t = p + u_s + e_t  for token t of sequence s;  Cov(u_s) = U (topic), Cov(e_t) = Tok - U,
 *   Tok = E[x x^T] - p p^T  (per token; off-diagonal from co-activation counts, diagonal p(1-p)).
 * A batch of b consecutive tokens whose pieces of sequences have lengths l_i then has
 *   Cov(batch counts) = b (Tok - U) + (sum_i l_i^2) U  ~=  b Tok + (h_b - b) U,
 *   h_b = b * sum_s l_s min(l_s, b) / T    (length-biased: a batch sees whole short sequences and
 *                                           b-token pieces of long ones).
 * U is estimated by moments over sequences from share deviations z_s = y_s / l_s - p (y_s the
 * sequence's counts): E[z_s z_s^T] = U + (Tok - U) / l_s, so U^ = mean_s (z z^T - Tok / l_s) / (1 -
 * mean_s 1/l_s); its off-diagonal entries are shrunk toward 0 with the Schafer-Strimmer analytic
 * intensity lambda = sum_{a != b} Var^(U^_ab) / sum_{a != b} U^_ab^2 (clamped to [0, 1]), where Var^
 * is the sample variance of the per-sequence terms over the number of sequences; its diagonal is
 * clamped at >= 0. Routes without sequence boundaries are cut into CHUNK_TOKENS-token pseudo-sequences.
 * `parts` switches terms off for ablations and for the solver's choice: coactivation = false keeps
 * only the diagonal of b Tok (co-activated experts are then not pushed apart: placing them together
 * costs per-batch variance but saves dispatch copies, which the locality step weighs), topic = false
 * drops the (h_b - b) U term, shrink = false uses U^ unshrunk.
 *
 * Objective (one layer, per batch of b tokens): ranks r with mean m_r (in-sample load scaled to b
 * tokens) and variance s_r^2 = sum over replica pairs {x, y} on r of V[x][y] / (c_x c_y) plus the
 * token-mod split noise of replicated experts, m_x (c_x - 1) / c_x^2 per replica. For Gaussian loads,
 *   E max_r X_r <= (1/beta) log sum_r exp(beta m_r + beta^2 s_r^2 / 2)     for every beta > 0,
 * and beta = sqrt(2 ln G) / s (s^2 the mean rank variance) makes the bound m + s sqrt(2 ln G) for G
 * equal ranks, the usual expected-max scale. The swap search minimises
 *   F = sum_r exp(beta (m_r - m) + beta^2 s_r^2 / 2)
 * with beta fixed per layer from the starting row, over swaps of two replicas on different ranks that
 * keep both ranks' in-sample load / speed <= cap and never put two replicas of one expert on a rank.
 * No tuned constants: b is the batch the plan is judged at, the rest comes from the data.
 */
import type { TokenRoutes } from '../../../core/token-routes.ts';
import type { PackScratch } from './pack.ts';
import { loadRow } from './pack.ts';

/** Pseudo-sequence length for routes without sequence boundaries. */
export const CHUNK_TOKENS = 64;
/** Most sequences the topic covariance is estimated on (evenly spaced; bounds O(n_seq L E^2)). */
export const MAX_TOPIC_SEQUENCES = 256;

export interface BatchCovarianceModel {
  L: number;
  E: number;
  /** Tokens per batch the covariance is for. */
  batchTokens: number;
  /** [L][E][E] covariance of one batch's expert counts (token-expert pairs). */
  V: Float64Array;
  /** [L][E] mean count per batch. */
  mean: Float64Array;
  /** Shrinkage intensity applied to the topic covariance's off-diagonal entries, per layer. */
  lambda: Float64Array;
  /** Sequences used for the topic covariance. */
  sequences: number;
}

/**
 * Shapes: routes [T][L][k] (seqStarts used when it has at least 2 sequences with tokens) ->
 * V [L][E][E] and mean [L][E] for batches of `batchTokens` tokens.
 * O(T L k^2 + min(n_seq, MAX_TOPIC_SEQUENCES) L E^2) time, O(L E^2) memory.
 */
export function batchCountCovariance(routes: TokenRoutes, batchTokens: number, parts: { topic?: boolean; shrink?: boolean; coactivation?: boolean } = {}): BatchCovarianceModel {
  const { numTokens: T, numLayers: L, numExperts: E, topK: k, experts } = routes;
  const b = batchTokens;
  // sequences: [start, end) pairs with at least one token
  const bounds: number[] = [];
  const starts = routes.seqStarts ?? [];
  let useSeq = 0;
  for (let s = 0; s < starts.length; s++) {
    const a = starts[s];
    const z = s + 1 < starts.length ? starts[s + 1] : T;
    if (z > a) useSeq++;
  }
  if (useSeq >= 2) {
    for (let s = 0; s < starts.length; s++) {
      const a = starts[s];
      const z = Math.min(T, s + 1 < starts.length ? starts[s + 1] : T);
      if (z > a) bounds.push(a, z);
    }
  } else {
    for (let a = 0; a < T; a += CHUNK_TOKENS) bounds.push(a, Math.min(T, a + CHUNK_TOKENS));
  }
  const nAll = bounds.length / 2;
  let hSum = 0;
  for (let s = 0; s < nAll; s++) {
    const len = bounds[2 * s + 1] - bounds[2 * s];
    hSum += len * Math.min(len, b);
  }
  const h = T > 0 ? (b * hSum) / T : 0;
  // the topic covariance is estimated on at most MAX_TOPIC_SEQUENCES sequences, evenly spaced
  const stride = Math.ceil(nAll / MAX_TOPIC_SEQUENCES);
  const picked: number[] = [];
  for (let s = 0; s < nAll; s += stride) picked.push(bounds[2 * s], bounds[2 * s + 1]);
  const nSeq = picked.length / 2;
  let invLenSum = 0;
  for (let s = 0; s < nSeq; s++) invLenSum += 1 / (picked[2 * s + 1] - picked[2 * s]);
  const meanInvLen = nSeq > 0 ? invLenSum / nSeq : 1;

  const V = new Float64Array(L * E * E);
  const mean = new Float64Array(L * E);
  const lambda = new Float64Array(L);
  const out: BatchCovarianceModel = { L, E, batchTokens: b, V, mean, lambda, sequences: nSeq };
  if (T === 0) return out;

  const p = new Float64Array(E);
  const tok = new Float64Array(E * E);
  const y = new Float64Array(nSeq * E);
  const zs = new Float64Array(E);
  const uSum = new Float64Array(E * E);
  const uSq = new Float64Array(E * E);
  for (let l = 0; l < L; l++) {
    p.fill(0);
    tok.fill(0);
    y.fill(0);
    for (let t = 0; t < T; t++) {
      const o = (t * L + l) * k;
      for (let i = 0; i < k; i++) {
        const a = experts[o + i];
        p[a] += 1;
        for (let j = i + 1; j < k; j++) {
          const c = experts[o + j];
          if (c === a) continue;
          tok[a * E + c] += 1;
          tok[c * E + a] += 1;
        }
      }
    }
    for (let s = 0; s < nSeq; s++) {
      const ys = s * E;
      for (let t = picked[2 * s]; t < picked[2 * s + 1]; t++) {
        const o = (t * L + l) * k;
        for (let i = 0; i < k; i++) y[ys + experts[o + i]] += 1;
      }
    }
    for (let e = 0; e < E; e++) p[e] /= T;
    // per-token covariance: E[x_a x_b] - p_a p_b (x_a in {0, 1}, so E[x_a^2] = p_a)
    for (let a = 0; a < E; a++) {
      for (let c = 0; c < E; c++) {
        const i = a * E + c;
        tok[i] = (a === c ? p[a] : tok[i] / T) - p[a] * p[c];
      }
    }
    // topic covariance by moments over sequences, with per-entry variance for shrinkage
    uSum.fill(0);
    uSq.fill(0);
    for (let s = 0; s < nSeq; s++) {
      const len = picked[2 * s + 1] - picked[2 * s];
      for (let e = 0; e < E; e++) zs[e] = y[s * E + e] / len - p[e];
      const il = 1 / len;
      for (let a = 0; a < E; a++) {
        const za = zs[a];
        for (let c = a; c < E; c++) {
          const v = za * zs[c] - tok[a * E + c] * il;
          uSum[a * E + c] += v;
          uSq[a * E + c] += v * v;
        }
      }
    }
    const denom = 1 - meanInvLen;
    let num = 0;
    let den = 0;
    const U = uSum; // reuse: U[a][c] (upper triangle, a <= c)
    for (let a = 0; a < E; a++) {
      for (let c = a; c < E; c++) {
        const i = a * E + c;
        const m = uSum[i] / nSeq;
        const varTerm = nSeq > 1 ? Math.max(0, (uSq[i] / nSeq - m * m) / (nSeq - 1)) : Infinity;
        U[i] = denom > 0 ? m / denom : 0;
        if (a !== c) {
          num += denom > 0 ? varTerm / (denom * denom) : Infinity;
          den += U[i] * U[i];
        }
      }
    }
    let lam = den > 0 && Number.isFinite(num) ? Math.min(1, Math.max(0, num / den)) : 1;
    if (parts.shrink === false) lam = 0;
    lambda[l] = lam;
    const base = l * E * E;
    for (let a = 0; a < E; a++) {
      mean[l * E + a] = b * p[a];
      for (let c = a; c < E; c++) {
        const u = a === c ? Math.max(0, U[a * E + c]) : (1 - lam) * U[a * E + c];
        const v = (a === c || parts.coactivation !== false ? b * tok[a * E + c] : 0) + (parts.topic === false ? 0 : Math.max(0, h - b) * u);
        V[base + a * E + c] = v;
        V[base + c * E + a] = v;
      }
    }
  }
  return out;
}

/**
 * Swap search on F (see the file comment) for one layer. Shapes: row [P] phy2log (valid), w [E]
 * in-sample load, V [E][E] batch covariance and mu [E] batch mean (per expert, all replicas), G ranks,
 * cap on in-sample max load / speed -> a new row [P] with the same replica counts and F no larger.
 * Deterministic: ranks and slots are scanned in index order, first improving swap applied.
 */
export function reduceRankVariance(
  row: Int32Array,
  w: Float64Array,
  V: Float64Array,
  mu: Float64Array,
  G: number,
  cap: number,
  ps: PackScratch,
): Int32Array {
  const E = w.length;
  const P = row.length;
  const S = P / G;
  if (G === 1) return row.slice();
  loadRow(w, row, ps);
  const { slots, load, has, invSpeed, perReplica } = ps;
  const cnt = new Int32Array(E);
  for (let p = 0; p < P; p++) cnt[row[p]]++;
  let total = 0;
  for (let e = 0; e < E; e++) total += w[e];
  let muTotal = 0;
  for (let e = 0; e < E; e++) muTotal += mu[e];
  if (!(total > 0) || !(muTotal > 0)) return row.slice();
  const toBatch = muTotal / total; // in-sample load units -> per-batch mean
  // self[e]: variance one replica of e adds alone (its own count share plus token-mod split noise)
  const self = new Float64Array(E);
  for (let e = 0; e < E; e++) {
    const c = cnt[e];
    self[e] = V[e * E + e] / (c * c) + (mu[e] * (c - 1)) / (c * c);
  }
  // g[r][e] = sum over replicas x on r of V[e][x] / c_x  (x != e: replicas of e never share a rank)
  const g = new Float64Array(G * E);
  const varR = new Float64Array(G);
  for (let p = 0; p < P; p++) {
    const r = Math.floor(p / S);
    const x = slots[p];
    const ix = 1 / cnt[x];
    for (let e = 0; e < E; e++) g[r * E + e] += V[e * E + x] * ix;
  }
  for (let r = 0; r < G; r++) {
    let v = 0;
    for (let i = 0; i < S; i++) {
      const x = slots[r * S + i];
      v += (g[r * E + x] - V[x * E + x] / cnt[x]) / cnt[x] + self[x];
    }
    varR[r] = v;
  }
  let meanVar = 0;
  for (let r = 0; r < G; r++) meanVar += Math.max(0, varR[r]);
  meanVar /= G;
  if (!(meanVar > 0)) return row.slice();
  const beta = Math.sqrt(2 * Math.log(G)) / Math.sqrt(meanVar);
  let meanLoad = 0;
  for (let r = 0; r < G; r++) meanLoad += load[r] * invSpeed[r];
  meanLoad /= G;
  // term(r) = exp(beta (m_r - m) + beta^2 s_r^2 / 2), m_r in per-batch units (load / speed)
  const term = (l: number, inv: number, v: number) => Math.exp(beta * (l * inv - meanLoad) * toBatch + 0.5 * beta * beta * v);
  const termR = new Float64Array(G);
  for (let r = 0; r < G; r++) termR[r] = term(load[r], invSpeed[r], varR[r]);
  const eps = 1e-12;
  for (let sweep = 0; sweep < 40; sweep++) {
    let improved = false;
    for (let r1 = 0; r1 < G; r1++) {
      for (let r2 = r1 + 1; r2 < G; r2++) {
        for (let i = 0; i < S; i++) {
          const a = slots[r1 * S + i];
          if (has[r2 * E + a]) continue;
          const ia = 1 / cnt[a];
          for (let j = 0; j < S; j++) {
            const b = slots[r2 * S + j];
            if (has[r1 * E + b]) continue;
            const d = perReplica[a] - perReplica[b];
            const l1 = load[r1] - d;
            const l2 = load[r2] + d;
            if (l1 * invSpeed[r1] > cap || l2 * invSpeed[r2] > cap) continue;
            const ib = 1 / cnt[b];
            const vab = V[a * E + b] * ia * ib;
            // r1 loses a, gains b; r2 loses b, gains a
            const v1 = varR[r1] - 2 * (g[r1 * E + a] * ia - V[a * E + a] * ia * ia) - self[a] + 2 * (g[r1 * E + b] * ib - vab) + self[b] - 0;
            const v2 = varR[r2] - 2 * (g[r2 * E + b] * ib - V[b * E + b] * ib * ib) - self[b] + 2 * (g[r2 * E + a] * ia - vab) + self[a];
            const before = termR[r1] + termR[r2];
            const t1 = term(l1, invSpeed[r1], v1);
            if (t1 >= before * (1 - eps)) continue;
            const t2 = term(l2, invSpeed[r2], v2);
            if (t1 + t2 >= before * (1 - eps)) continue;
            slots[r1 * S + i] = b;
            slots[r2 * S + j] = a;
            has[r1 * E + a] = 0;
            has[r1 * E + b] = 1;
            has[r2 * E + b] = 0;
            has[r2 * E + a] = 1;
            load[r1] = l1;
            load[r2] = l2;
            varR[r1] = v1;
            varR[r2] = v2;
            termR[r1] = t1;
            termR[r2] = t2;
            for (let e = 0; e < E; e++) {
              const delta = V[e * E + b] * ib - V[e * E + a] * ia;
              g[r1 * E + e] += delta;
              g[r2 * E + e] -= delta;
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
