/**
 * Replica slots per layer under a per-GPU memory budget (CRAFT-style: a replica is worth more in some
 * layers than others).
 *
 * Each layer needs at least P0 = ceil(E/G)*G slots. One "step" adds G slots to one layer (one extra
 * slot on every GPU), costing expertBytes per GPU, the same in every layer. The budget pays for
 *   U = floor(budget / expertBytes) - L * (P0 - E) / G        steps in all (per GPU),
 * and a layer takes at most (E*G - P0) / G steps (every expert on every GPU).
 *
 * Uniform: every layer gets floor(U / L) steps.
 *
 * Variable: greedy by marginal gain per byte. cost(l, P) estimates layer l's time with P slots (in load
 * units, e.g. its heaviest rank's tokens) from what a placement at P actually achieves — by default the
 * fast packer's max rank load (replica counts by greedy argmax w/c, then LPT + swap search, pack.ts);
 * the ballast solver passes its full per-layer solve scored per load window (index.ts). Each step goes
 * to the layer with the largest drop in cost per step, looking up to LOOKAHEAD steps ahead (packing is
 * not concave in P: one extra row of slots may not help where two do), and is applied when it fits the
 * budget. Costs are cached per layer; only the layer that got slots is re-evaluated. Allocation stops
 * when the budget is spent or no layer's cost drops by more than GAIN_EPS of its mean rank load.
 * Deterministic: ties go to the lowest layer index, then the fewest steps.
 */
import { InputError } from '../../../core/errors.ts';
import { greedyReplicaCounts } from '../../lower-bound.ts';
import { packLayer, packScratch, type PackScratch } from './pack.ts';

/** Estimated cost of layer l with P slots (P a multiple of G, E <= P <= E*G); lower is better. */
export type LayerCost = (l: number, P: number) => number;

/** Steps looked ahead per layer when pricing the next allocation. */
export const LOOKAHEAD = 2;
/** A drop in cost below this fraction of the layer's mean rank load (sum/G) counts as no gain. */
export const GAIN_EPS = 1e-6;

/**
 * Shapes: load [L][E] -> Int32Array[L] slot counts P_l (multiples of G, P0 <= P_l <= E*G) with
 * sum_l (P_l - E) / G * expertBytes <= budgetBytes. `cost` (variable only) defaults to
 * `packedMaxCost(load, E, G)`.
 */
export function slotsUnderBudget(
  load: Float64Array,
  L: number,
  E: number,
  G: number,
  budgetBytes: number,
  expertBytes: number,
  variable: boolean,
  cost?: LayerCost,
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
  if (U <= 0 || maxSteps <= 0) return out;
  // No layer can get more than this many slots: every expert on every GPU, or the whole budget.
  const cap = Math.min(E * G, P0 + U * G);
  const costOf = cost ?? packedMaxCost(load, E, G, cap);
  const K = LOOKAHEAD;
  // ahead[l*(K+1) + k] = cost of layer l with out[l] + k*G slots (Infinity past cap).
  const ahead = new Float64Array(L * (K + 1));
  const eps = new Float64Array(L);
  const price = (l: number) => {
    for (let k = 0; k <= K; k++) {
      const P = out[l] + k * G;
      ahead[l * (K + 1) + k] = P <= cap ? costOf(l, P) : Infinity;
    }
  };
  for (let l = 0; l < L; l++) {
    let s = 0;
    for (let e = 0; e < E; e++) s += load[l * E + e];
    eps[l] = (GAIN_EPS * s) / G;
    price(l);
  }
  let left = U;
  while (left > 0) {
    let best = -1;
    let bestSteps = 0;
    let bestRate = 0;
    for (let l = 0; l < L; l++) {
      const c0 = ahead[l * (K + 1)];
      for (let k = 1; k <= Math.min(K, left); k++) {
        const drop = c0 - ahead[l * (K + 1) + k];
        if (!(drop > eps[l])) continue;
        const rate = drop / k;
        if (rate > bestRate) {
          bestRate = rate;
          best = l;
          bestSteps = k;
        }
      }
    }
    if (best < 0) break;
    out[best] += bestSteps * G;
    left -= bestSteps;
    price(best);
  }
  if (left > 0) spreadLeftover(load, E, G, out, left, maxSteps);
  return out;
}

/**
 * Steps no layer's cost shows a gain for (e.g. every layer already packs to its mean in-sample and there
 * are no windows to show per-batch surges) still buy per-batch balance: a replica halves what a surge
 * of its expert adds to one rank. They are spread like uniform replication: one at a time to the layer
 * with the fewest slots, ties to the larger heaviest-slot share max_e (w_e / c_e) / (sum_e w_e / P)
 * (where a surge concentrates most), then the lowest index. Mutates out[L].
 */
function spreadLeftover(load: Float64Array, E: number, G: number, out: Int32Array, left: number, maxSteps: number): void {
  const L = out.length;
  const P0 = Math.ceil(E / G) * G;
  const share = new Float64Array(L);
  const counts = new Int32Array(E);
  const shareAt = (l: number): number => {
    const w = load.subarray(l * E, (l + 1) * E);
    const P = out[l];
    greedyReplicaCounts(w, P - E, G, counts);
    let total = 0;
    let m = 0;
    for (let e = 0; e < E; e++) {
      total += w[e];
      m = Math.max(m, w[e] / counts[e]);
    }
    return total > 0 ? (m * P) / total : 0;
  };
  for (let l = 0; l < L; l++) share[l] = shareAt(l);
  for (; left > 0; left--) {
    let best = -1;
    for (let l = 0; l < L; l++) {
      if ((out[l] - P0) / G >= maxSteps) continue;
      if (best < 0 || out[l] < out[best] || (out[l] === out[best] && share[l] > share[best])) best = l;
    }
    if (best < 0) return;
    out[best] += G;
    share[best] = shareAt(best);
  }
}

/**
 * The default cost: layer l's max rank load after the fast packer (greedy replica counts, LPT + swap
 * search; equal speeds). Shapes: load [L][E]; maxP >= every P asked for -> LayerCost.
 */
export function packedMaxCost(load: Float64Array, E: number, G: number, maxP: number): LayerCost {
  const s: PackScratch = packScratch(E, G, maxP);
  const counts = new Int32Array(E);
  const row = new Int32Array(maxP);
  return (l, P) => {
    const w = load.subarray(l * E, (l + 1) * E);
    greedyReplicaCounts(w, P - E, G, counts);
    let total = 0;
    let maxSlot = 0;
    for (let e = 0; e < E; e++) {
      total += w[e];
      maxSlot = Math.max(maxSlot, w[e] / counts[e]);
    }
    return packLayer(w, counts, P, s, row.subarray(0, P), Math.max(total / G, maxSlot) * (1 + 5e-4));
  };
}

/**
 * Layer l's placement scored per load window: sum over windows of the window's heaviest rank
 * (load / speed; an expert's window load splits evenly over its replicas), times
 * scale = (layer's planning total) / (sum of its window totals), so it is in planning-load units.
 * A coarse packing and a hot expert that surges in some windows both show up here, where the summed
 * histogram averages them away. Shapes: windows [W][L][E], row [P] (phy2log of layer l, P % G == 0),
 * invSpeed [G], scratch loads [G], cnt [E] -> number.
 */
export function windowCost(
  windows: Float64Array,
  W: number,
  L: number,
  E: number,
  l: number,
  row: Int32Array,
  G: number,
  invSpeed: Float64Array,
  scale: number,
  loads: Float64Array,
  cnt: Int32Array,
): number {
  const P = row.length;
  const S = P / G;
  cnt.fill(0);
  for (let p = 0; p < P; p++) cnt[row[p]]++;
  let sum = 0;
  for (let w = 0; w < W; w++) {
    const base = (w * L + l) * E;
    loads.fill(0);
    for (let p = 0; p < P; p++) {
      const e = row[p];
      loads[(p / S) | 0] += windows[base + e] / cnt[e];
    }
    let m = 0;
    for (let r = 0; r < G; r++) m = Math.max(m, loads[r] * invSpeed[r]);
    sum += m;
  }
  return sum * scale;
}
