/**
 * Packing one layer's replicas onto ranks under the cardinality constraint: exactly S = P/G slots per
 * rank, no two replicas of one expert on a rank, minimising max over ranks of load / speed.
 *
 * LPT (heaviest replica first into the least-loaded rank, by (load + item) / speed, that has room and
 * does not hold the expert), then best-improvement swap local search between the most-loaded rank and
 * every other rank until no swap lowers the maximum or the lower bound is reached.
 *
 * All buffers live in a `PackScratch` sized once per shape; nothing is allocated per layer or step.
 */

export interface PackScratch {
  E: number;
  G: number;
  maxP: number;
  /** item order (expert ids, one entry per replica) */
  items: Int32Array;
  itemW: Float64Array;
  /** rank -> its S slots (expert ids), [G][maxS] */
  slots: Int32Array;
  fill: Int32Array;
  load: Float64Array;
  /** has[r * E + e] = 1 when rank r holds expert e */
  has: Uint8Array;
  speed: Float64Array;
  invSpeed: Float64Array;
  perReplica: Float64Array;
}

export function packScratch(E: number, G: number, maxP: number, speeds?: ArrayLike<number>): PackScratch {
  const s: PackScratch = {
    E,
    G,
    maxP,
    items: new Int32Array(maxP),
    itemW: new Float64Array(maxP),
    slots: new Int32Array(maxP),
    fill: new Int32Array(G),
    load: new Float64Array(G),
    has: new Uint8Array(G * E),
    speed: new Float64Array(G).fill(1),
    invSpeed: new Float64Array(G).fill(1),
    perReplica: new Float64Array(E),
  };
  if (speeds) {
    for (let r = 0; r < G; r++) {
      s.speed[r] = speeds[r];
      s.invSpeed[r] = 1 / speeds[r];
    }
  }
  return s;
}

/**
 * LPT + swap search. Shapes: w [E] loads, counts [E] replicas (sum P, each <= G), P % G == 0 ->
 * writes out[P] (phy2log: rank r's slots are out[r*S .. r*S+S)), returns max_r load_r / speed_r.
 * `target` stops the search early once the maximum is at or below it (pass the lower bound).
 */
export function packLayer(
  w: Float64Array,
  counts: Int32Array,
  P: number,
  s: PackScratch,
  out: Int32Array,
  target: number,
  maxIters = 1 << 30,
): number {
  const { E, G, items, itemW, slots, fill, load, has, invSpeed, perReplica } = s;
  const S = P / G;
  // Items sorted by per-replica load descending (ties: lower expert id first).
  let n = 0;
  for (let e = 0; e < E; e++) {
    const v = w[e] / counts[e];
    perReplica[e] = v;
    for (let c = 0; c < counts[e]; c++) items[n++] = e;
  }
  sortItemsDesc(items, n, perReplica);
  for (let i = 0; i < n; i++) itemW[i] = perReplica[items[i]];
  fill.fill(0);
  load.fill(0);
  has.fill(0);
  for (let i = 0; i < n; i++) {
    const e = items[i];
    const v = itemW[i];
    let best = -1;
    let bestScore = Infinity;
    for (let r = 0; r < G; r++) {
      if (fill[r] >= S || has[r * E + e]) continue;
      const score = (load[r] + v) * invSpeed[r];
      if (score < bestScore) {
        bestScore = score;
        best = r;
      }
    }
    if (best < 0) best = repairForItem(e, S, s);
    slots[best * S + fill[best]++] = e;
    load[best] += v;
    has[best * E + e] = 1;
  }
  const m = swapSearch(S, s, target, maxIters);
  for (let p = 0; p < P; p++) out[p] = slots[p];
  return m;
}

/**
 * Every rank with room already holds expert e: free a slot on a rank without e by moving one of its
 * experts x to a rank with room that lacks x. Returns the rank that now has room for e.
 */
function repairForItem(e: number, S: number, s: PackScratch): number {
  const { E, G, slots, fill, load, has, perReplica } = s;
  for (let a = 0; a < G; a++) {
    if (fill[a] >= S) continue; // a has room but holds e
    for (let b = 0; b < G; b++) {
      if (b === a || has[b * E + e] || fill[b] === 0) continue;
      for (let k = 0; k < fill[b]; k++) {
        const x = slots[b * S + k];
        if (has[a * E + x]) continue;
        // move x from b to a
        slots[b * S + k] = slots[b * S + fill[b] - 1];
        fill[b]--;
        has[b * E + x] = 0;
        load[b] -= perReplica[x];
        slots[a * S + fill[a]++] = x;
        has[a * E + x] = 1;
        load[a] += perReplica[x];
        return b;
      }
    }
  }
  throw new Error(`cannot place a replica of expert ${e}: replica count exceeds ranks`);
}

/** Insertion-free sort of items[0..n) by key[items] descending, ties by id ascending. */
function sortItemsDesc(items: Int32Array, n: number, key: Float64Array): void {
  // Items of one expert are contiguous and ids ascend, so a stable sort by key suffices.
  const view = items.subarray(0, n);
  view.sort((a, b) => key[b] - key[a] || a - b);
}

/**
 * Best-improvement swaps between the most-loaded rank and the others. Returns the final max of
 * load / speed. Relative improvements below 1e-12 stop the search (no cycling on ties).
 */
export function swapSearch(S: number, s: PackScratch, target: number, maxIters: number): number {
  const { E, G, slots, load, has, invSpeed, perReplica } = s;
  let iters = 0;
  for (;;) {
    let a = 0;
    let ma = -Infinity;
    for (let r = 0; r < G; r++) {
      const v = load[r] * invSpeed[r];
      if (v > ma) {
        ma = v;
        a = r;
      }
    }
    if (ma <= target * (1 + 1e-12) || iters++ >= maxIters) return ma;
    const limit = ma * (1 - 1e-12);
    let bestNew = limit;
    let bi = -1;
    let bj = -1;
    let bb = -1;
    const aBase = a * S;
    const ia = invSpeed[a];
    for (let i = 0; i < S; i++) {
      const ei = slots[aBase + i];
      const vi = perReplica[ei];
      for (let b = 0; b < G; b++) {
        if (b === a || has[b * E + ei]) continue;
        const ib = invSpeed[b];
        const lb = load[b];
        const la = load[a];
        // a swap helps only if lb + vi - vj < ma/ib-scaled, i.e. vj > vi - (limit/ib - lb)
        const bBase = b * S;
        for (let j = 0; j < S; j++) {
          const ej = slots[bBase + j];
          const vj = perReplica[ej];
          if (vj >= vi || has[a * E + ej]) continue;
          const d = vi - vj;
          const na = (la - d) * ia;
          const nb = (lb + d) * ib;
          const nm = na > nb ? na : nb;
          if (nm < bestNew) {
            bestNew = nm;
            bi = i;
            bj = j;
            bb = b;
          }
        }
      }
    }
    if (bi < 0) return ma;
    const ei = slots[aBase + bi];
    const ej = slots[bb * S + bj];
    slots[aBase + bi] = ej;
    slots[bb * S + bj] = ei;
    has[a * E + ei] = 0;
    has[a * E + ej] = 1;
    has[bb * E + ej] = 0;
    has[bb * E + ei] = 1;
    const d = perReplica[ei] - perReplica[ej];
    load[a] -= d;
    load[bb] += d;
  }
}

/** Load the scratch from an existing phy2log row (to run swapSearch from a given placement). */
export function loadRow(w: Float64Array, row: Int32Array, s: PackScratch): void {
  const { E, G, slots, fill, load, has, perReplica } = s;
  const P = row.length;
  const S = P / G;
  perReplica.fill(0);
  for (let p = 0; p < P; p++) perReplica[row[p]] += 1;
  for (let e = 0; e < E; e++) perReplica[e] = perReplica[e] > 0 ? w[e] / perReplica[e] : 0;
  load.fill(0);
  has.fill(0);
  for (let r = 0; r < G; r++) fill[r] = S;
  for (let p = 0; p < P; p++) {
    const r = Math.floor(p / S);
    const e = row[p];
    slots[p] = e;
    load[r] += perReplica[e];
    has[r * E + e] = 1;
  }
}
