/**
 * Lower bounds on the heaviest rank's load for one MoE layer (docs/solvers.md, lower bound), and per-plan helpers
 * that score a plan against them.
 *
 * For one layer with expert loads w[E], G ranks and P slots (S = P / G slots per rank, R = P - E
 * redundant), an expert's load splits evenly over its replicas. `rankLowerBound` returns the max of:
 *   (a) sum(w) / G                                   every placement's mean rank load;
 *   (b) min over replica counts c (c_e >= 1, sum c = P, c_e <= G) of max_e w_e / c_e
 *       — the heaviest single slot; greedy "add a replica to argmax w/c" attains this minimum;
 * and, only when R = 0 (each expert is one indivisible item), also of
 *   (c) the heaviest expert plus the S - 1 lightest others (the rank holding the heaviest expert holds
 *       S - 1 more experts, each at least as heavy as the lightest ones);
 *   (d) w_(G) + w_(G+1) for the G-th and (G+1)-th heaviest (pigeonhole: two of the G+1 heaviest share a
 *       rank), when E > G.
 * With replicas, (c)/(d) depend on the replica counts and are not taken.
 */
import type { Plan } from '../core/plan.ts';

/**
 * Lower bound on max rank load for one layer.
 * Shapes: weights Float64Array[E] (non-negative), numRanks G >= 1, numSlots P >= E with P % G == 0.
 * Returns a number in the weights' unit (tokens).
 */
export function rankLowerBound(weights: Float64Array, numRanks: number, numSlots: number): number {
  const E = weights.length;
  const G = numRanks;
  let sum = 0;
  for (let e = 0; e < E; e++) sum += weights[e];
  let bound = sum / G;
  const R = numSlots - E;
  if (R <= 0) {
    const sorted = Float64Array.from(weights).sort();
    const heaviest = sorted[E - 1];
    bound = Math.max(bound, heaviest);
    const S = numSlots / G;
    let withLightest = heaviest;
    for (let i = 0; i < S - 1 && i < E - 1; i++) withLightest += sorted[i];
    bound = Math.max(bound, withLightest);
    if (E > G) bound = Math.max(bound, sorted[E - G] + sorted[E - G - 1]);
    return bound;
  }
  return Math.max(bound, minMaxSlotLoad(weights, R, G));
}

/**
 * min over replica counts of max_e w_e / c_e with `redundant` extra replicas, c_e <= maxReplicas.
 * Greedy: each extra replica goes to argmax w_e / c_e among experts below the cap (optimal for this
 * min-max, since the objective only ever improves by splitting the current maximum).
 * Shapes: weights [E] -> number.
 */
export function minMaxSlotLoad(weights: Float64Array, redundant: number, maxReplicas: number): number {
  const counts = greedyReplicaCounts(weights, redundant, maxReplicas);
  let m = 0;
  for (let e = 0; e < weights.length; e++) m = Math.max(m, weights[e] / counts[e]);
  return m;
}

/**
 * Replica counts from greedy argmax of w/c (first index wins ties), c_e <= maxReplicas.
 * Shapes: weights [E] -> Int32Array[E] summing to E + redundant (fewer when every expert hits the cap).
 */
export function greedyReplicaCounts(weights: Float64Array, redundant: number, maxReplicas: number, out?: Int32Array): Int32Array {
  const E = weights.length;
  const counts = out ?? new Int32Array(E);
  counts.fill(1);
  if (redundant <= 0 || maxReplicas <= 1) return counts;
  // Binary max-heap of experts keyed by (w/c descending, id ascending): the same choice as a linear
  // argmax with first index winning ties. key[] caches w/c.
  const heap = new Int32Array(E);
  const key = new Float64Array(E);
  let size = E;
  for (let e = 0; e < E; e++) {
    heap[e] = e;
    key[e] = weights[e];
  }
  for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(heap, key, size, i);
  for (let i = 0; i < redundant && size > 0; i++) {
    const e = heap[0];
    counts[e]++;
    key[e] = weights[e] / counts[e];
    if (counts[e] >= maxReplicas) heap[0] = heap[--size];
    siftDown(heap, key, size, 0);
  }
  return counts;
}

function siftDown(heap: Int32Array, key: Float64Array, size: number, i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) return;
    let c = l;
    const a = heap[l];
    if (l + 1 < size) {
      const b = heap[l + 1];
      if (key[b] > key[a] || (key[b] === key[a] && b < a)) c = l + 1;
    }
    const hc = heap[c];
    const hi = heap[i];
    if (!(key[hc] > key[hi] || (key[hc] === key[hi] && hc < hi))) return;
    heap[c] = hi;
    heap[i] = hc;
    i = c;
  }
}

/**
 * Rank loads of one layer: loads[r] = sum over slots p on rank r of w[phy2log[p]] / replicas.
 * Shapes: weights [E], phy2log [P] (P % G == 0) -> Float64Array[G].
 */
export function layerRankLoads(weights: Float64Array, phy2log: Int32Array, numRanks: number, out?: Float64Array): Float64Array {
  const P = phy2log.length;
  const S = P / numRanks;
  const loads = out ?? new Float64Array(numRanks);
  loads.fill(0);
  const cnt = new Int32Array(weights.length);
  for (let p = 0; p < P; p++) cnt[phy2log[p]]++;
  for (let p = 0; p < P; p++) {
    const e = phy2log[p];
    loads[Math.floor(p / S)] += weights[e] / cnt[e];
  }
  return loads;
}

/** max / mean of rank loads (1 when the layer carries no load). Shapes: loads [G] -> number. */
export function maxOverMean(loads: Float64Array): number {
  let s = 0;
  let m = 0;
  for (let i = 0; i < loads.length; i++) {
    s += loads[i];
    if (loads[i] > m) m = loads[i];
  }
  return s > 0 ? m / (s / loads.length) : 1;
}

export interface PlanBalance {
  /** Per layer max/mean rank load. [L] */
  maxOverMean: Float64Array;
  /** Per layer lower bound of max/mean for the plan's slot count. [L] */
  lowerBound: Float64Array;
  /** Means over layers. */
  meanMaxOverMean: number;
  meanLowerBound: number;
  /** (meanMaxOverMean - meanLowerBound) / meanLowerBound. */
  gapToBound: number;
}

/**
 * Score a plan in-sample against `load`.
 * Shapes: load Float64Array[L][E] row-major, plan with the same L, E -> PlanBalance.
 */
export function planBalance(load: Float64Array, plan: Plan): PlanBalance {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  const mom = new Float64Array(L);
  const lb = new Float64Array(L);
  const loads = new Float64Array(G);
  for (let l = 0; l < L; l++) {
    const w = load.subarray(l * E, (l + 1) * E);
    layerRankLoads(w, plan.phy2log[l], G, loads);
    mom[l] = maxOverMean(loads);
    let s = 0;
    for (let e = 0; e < E; e++) s += w[e];
    lb[l] = s > 0 ? rankLowerBound(w, G, plan.phy2log[l].length) / (s / G) : 1;
  }
  const a = mean(mom);
  const b = mean(lb);
  return { maxOverMean: mom, lowerBound: lb, meanMaxOverMean: a, meanLowerBound: b, gapToBound: (a - b) / b };
}

function mean(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return x.length ? s / x.length : Number.NaN;
}
