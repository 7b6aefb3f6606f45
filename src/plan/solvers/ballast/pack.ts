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
  /** replicas per expert in the current row */
  cnt: Int32Array;
  order: Int32Array;
  tmp: Int32Array;
  heap: Int32Array;
  partners: Int32Array;
  popped: Int32Array;
  uniformSpeed: boolean;
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
    cnt: new Int32Array(E),
    order: new Int32Array(E),
    tmp: new Int32Array(E),
    heap: new Int32Array(G),
    partners: new Int32Array(G),
    popped: new Int32Array(G),
    uniformSpeed: true,
  };
  if (speeds) {
    for (let r = 0; r < G; r++) {
      s.speed[r] = speeds[r];
      s.invSpeed[r] = 1 / speeds[r];
      if (speeds[r] !== speeds[0]) s.uniformSpeed = false;
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
  repointGap = 0.002,
): number {
  const { E, G, items, itemW, slots, fill, load, has, invSpeed, perReplica } = s;
  const S = P / G;
  // Items sorted by per-replica load descending (ties: lower expert id first): sort experts, expand.
  s.cnt.set(counts.subarray(0, E));
  const order = s.order;
  for (let e = 0; e < E; e++) {
    perReplica[e] = w[e] / counts[e];
    order[e] = e;
  }
  mergeSortDesc(order, E, perReplica, s.tmp);
  let n = 0;
  for (let k = 0; k < E; k++) {
    const e = order[k];
    const v = perReplica[e];
    for (let c = 0; c < counts[e]; c++) {
      itemW[n] = v;
      items[n++] = e;
    }
  }
  fill.fill(0);
  load.fill(0);
  has.fill(0);
  if (s.uniformSpeed) lptHeap(n, S, s);
  else lptScan(n, S, s);
  const m = improve(w, S, s, target, maxIters, repointGap);
  for (let p = 0; p < P; p++) out[p] = slots[p];
  return m;
}

/**
 * Swap search; then, while the max stays more than `repointGap` above the target (coarse shapes, few
 * slots per rank), alternate re-pointing one replica with more swaps, at most 2G rounds.
 */
export function improve(w: Float64Array, S: number, s: PackScratch, target: number, maxIters: number, repointGap = 0.002): number {
  let m = swapSearch(S, s, target, maxIters);
  for (let round = 0; round < 2 * s.G && m > target * (1 + repointGap); round++) {
    if (!repointOnce(w, S, s, m)) break;
    m = swapSearch(S, s, target, maxIters);
  }
  return m;
}

/**
 * One re-pointing step: on the most-loaded rank, give one redundant slot (expert x with >= 2 replicas)
 * to another expert y (not on that rank, fewer than G replicas) when that lowers the max over all
 * ranks (x's other replicas get heavier, y's lighter). Returns false when no such step exists.
 */
function repointOnce(w: Float64Array, S: number, s: PackScratch, m: number): boolean {
  const { E, G, slots, load, has, invSpeed, perReplica, cnt } = s;
  let a = 0;
  for (let r = 1; r < G; r++) if (load[r] * invSpeed[r] > load[a] * invSpeed[a]) a = r;
  let bestM = m * (1 - 1e-12);
  let bi = -1;
  let by = -1;
  for (let i = 0; i < S; i++) {
    const x = slots[a * S + i];
    if (cnt[x] < 2) continue;
    const dx = w[x] / (cnt[x] - 1) - w[x] / cnt[x];
    for (let y = 0; y < E; y++) {
      if (y === x || has[a * E + y] || cnt[y] >= G) continue;
      const vy = w[y] / (cnt[y] + 1);
      const dy = vy - w[y] / cnt[y];
      let nm = (load[a] - perReplica[x] + vy) * invSpeed[a];
      if (nm >= bestM) continue;
      for (let r = 0; r < G && nm < bestM; r++) {
        if (r === a) continue;
        let v = load[r];
        if (has[r * E + x]) v += dx;
        if (has[r * E + y]) v += dy;
        v *= invSpeed[r];
        if (v > nm) nm = v;
      }
      if (nm < bestM) {
        bestM = nm;
        bi = i;
        by = y;
      }
    }
  }
  if (bi < 0) return false;
  const x = slots[a * S + bi];
  const dx = w[x] / (cnt[x] - 1) - w[x] / cnt[x];
  const vy = w[by] / (cnt[by] + 1);
  const dy = vy - w[by] / cnt[by];
  for (let r = 0; r < G; r++) {
    if (r === a) continue;
    if (has[r * E + x]) load[r] += dx;
    if (has[r * E + by]) load[r] += dy;
  }
  load[a] += vy - perReplica[x];
  slots[a * S + bi] = by;
  has[a * E + x] = 0;
  has[a * E + by] = 1;
  cnt[x]--;
  cnt[by]++;
  perReplica[x] = w[x] / cnt[x];
  perReplica[by] = vy;
  return true;
}

/** LPT by linear scan over ranks (any speeds): (load + item) / speed smallest, ties lowest rank. */
function lptScan(n: number, S: number, s: PackScratch): void {
  const { E, G, items, itemW, slots, fill, load, has, invSpeed } = s;
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
}

/**
 * LPT with equal speeds: a min-heap of ranks with room keyed by (load, rank). The c replicas of one
 * expert (consecutive items) take the c lightest ranks, which are distinct by construction; the same
 * choice as the scan.
 */
function lptHeap(n: number, S: number, s: PackScratch): void {
  const { E, G, items, itemW, slots, fill, load, has, heap, popped } = s;
  let size = 0;
  for (let r = 0; r < G; r++) heap[size++] = r; // all loads 0: already a heap in rank order
  let i = 0;
  while (i < n) {
    const e = items[i];
    const v = itemW[i];
    let c = 0;
    while (i + c < n && items[i + c] === e) c++;
    let got = 0;
    while (got < c && size > 0) {
      popped[got++] = heap[0];
      heap[0] = heap[--size];
      heapDown(heap, load, size, 0);
    }
    for (let k = 0; k < got; k++) {
      const r = popped[k];
      slots[r * S + fill[r]++] = e;
      load[r] += v;
      has[r * E + e] = 1;
    }
    for (let k = got; k < c; k++) {
      const r = repairForItem(e, S, s);
      slots[r * S + fill[r]++] = e;
      load[r] += v;
      has[r * E + e] = 1;
      // a repair changes loads of two ranks: rebuild the heap from scratch
      size = 0;
      for (let q = 0; q < G; q++) if (fill[q] < S && !isPopped(popped, got, q)) heap[size++] = q;
      for (let q = (size >> 1) - 1; q >= 0; q--) heapDown(heap, load, size, q);
    }
    for (let k = 0; k < got; k++) {
      const r = popped[k];
      if (fill[r] < S) {
        heap[size++] = r;
        heapUp(heap, load, size - 1);
      }
    }
    i += c;
  }
}

/** Min-heap of ranks keyed by (load, rank): sift down from i. */
function heapDown(heap: Int32Array, load: Float64Array, size: number, i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) return;
    let c = l;
    const hl = heap[l];
    if (l + 1 < size) {
      const hr = heap[l + 1];
      if (load[hr] < load[hl] || (load[hr] === load[hl] && hr < hl)) c = l + 1;
    }
    const hc = heap[c];
    const hi = heap[i];
    if (!(load[hc] < load[hi] || (load[hc] === load[hi] && hc < hi))) return;
    heap[c] = hi;
    heap[i] = hc;
    i = c;
  }
}

/** Min-heap of ranks keyed by (load, rank): sift up from i. */
function heapUp(heap: Int32Array, load: Float64Array, i: number): void {
  while (i > 0) {
    const p = (i - 1) >> 1;
    const hi = heap[i];
    const hp = heap[p];
    if (!(load[hi] < load[hp] || (load[hi] === load[hp] && hi < hp))) return;
    heap[p] = hi;
    heap[i] = hp;
    i = p;
  }
}

function isPopped(popped: Int32Array, n: number, r: number): boolean {
  for (let k = 0; k < n; k++) if (popped[k] === r) return true;
  return false;
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

/**
 * Stable merge sort of idx[0..n) by key[idx] descending (equal keys keep their order).
 * Shapes: idx Int32Array[>= n], tmp Int32Array[>= n].
 */
export function mergeSortDesc(idx: Int32Array, n: number, key: Float64Array, tmp: Int32Array): void {
  let src = idx;
  let dst = tmp;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) dst[k++] = key[src[j]] > key[src[i]] ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== idx) idx.set(src.subarray(0, n));
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
    // Partners: the K least-loaded ranks (by load / speed), where swaps from the max rank pay most.
    const firstPartner = S >= 6;
    const K = lightestRanks(s, a, firstPartner ? SWAP_PARTNERS : G);
    for (let q = 0; q < K; q++) {
      const b = s.partners[q];
      const ib = invSpeed[b];
      const lb = load[b];
      const la = load[a];
      const bBase = b * S;
      for (let i = 0; i < S; i++) {
        const ei = slots[aBase + i];
        if (has[b * E + ei]) continue;
        const vi = perReplica[ei];
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
      // Partners come lightest first: take the best swap with the first partner that has one.
      if (bi >= 0 && firstPartner) break;
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

/** Ranks searched as swap partners of the most-loaded rank in each step. */
const SWAP_PARTNERS = 8;

/** Fill s.partners with the (up to) k least-loaded ranks other than `a`, lightest first. Returns count. */
function lightestRanks(s: PackScratch, a: number, k: number): number {
  const { G, load, invSpeed, partners } = s;
  let n = 0;
  for (let r = 0; r < G; r++) {
    if (r === a) continue;
    const v = load[r] * invSpeed[r];
    if (n < k) n++;
    else if (v >= load[partners[n - 1]] * invSpeed[partners[n - 1]]) continue;
    let j = n - 1;
    while (j > 0 && load[partners[j - 1]] * invSpeed[partners[j - 1]] > v) {
      partners[j] = partners[j - 1];
      j--;
    }
    partners[j] = r;
  }
  return n;
}

/** Load the scratch from an existing phy2log row (to run swapSearch from a given placement). */
export function loadRow(w: Float64Array, row: Int32Array, s: PackScratch): void {
  const { E, G, slots, fill, load, has, perReplica } = s;
  const P = row.length;
  const S = P / G;
  const { cnt } = s;
  cnt.fill(0);
  for (let p = 0; p < P; p++) cnt[row[p]] += 1;
  for (let e = 0; e < E; e++) perReplica[e] = cnt[e] > 0 ? w[e] / cnt[e] : 0;
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
