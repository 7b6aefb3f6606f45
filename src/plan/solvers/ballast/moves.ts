/**
 * Few moves from the current placement. A "move" is one replica that must be loaded onto a rank that
 * did not hold that expert before (docs/cost-model.md: moved replicas x expert bytes).
 *
 * For one layer, given the current row, the fresh plan's row and a target max (fresh max x (1 +
 * threshold)):
 *   - keep: the current row when its max is already <= target (0 moves);
 *   - incremental: from the current row, repeatedly apply the change with the best max reduction per
 *     move — a swap of two replicas between the most-loaded rank and another (2 moves) or
 *     re-pointing one redundant slot on the most-loaded rank to another expert (1 move) — until the
 *     max is <= target;
 *   - relabelled: the fresh row with its ranks renamed to overlap the current ranks most (greedy on
 *     overlap, only between ranks of equal speed) and each kept expert left in its old slot.
 * The incremental result is used when it reaches the target with fewer moves than the relabelled one.
 */
import type { PackScratch } from './pack.ts';
import { loadRow } from './pack.ts';

/** Replicas on a rank that did not hold that expert before. Shapes: rows [P] (same P), G, E -> count. */
export function countMoves(before: Int32Array, after: Int32Array, G: number, E: number): number {
  const S = after.length / G;
  const Sb = before.length / G;
  const had = new Uint8Array(G * E);
  for (let p = 0; p < before.length; p++) had[Math.floor(p / Sb) * E + before[p]] = 1;
  let moves = 0;
  for (let p = 0; p < after.length; p++) {
    const k = Math.floor(p / S) * E + after[p];
    if (had[k]) had[k] = 0; // one old copy covers one new copy
    else moves++;
  }
  return moves;
}

export function minimiseMoves(
  cur: Int32Array,
  fresh: Int32Array,
  w: Float64Array,
  G: number,
  ps: PackScratch,
  target: number,
): { row: Int32Array; kept: boolean } {
  const E = ps.E;
  const P = fresh.length;
  const S = P / G;
  const colocated = hasColocated(cur, G, E);
  if (!colocated) {
    loadRow(w, cur, ps);
    if (maxLoad(ps) <= target * (1 + 1e-12)) return { row: cur.slice(), kept: true };
  }
  const relabelled = relabel(cur, fresh, G, E, ps.speed);
  const relMoves = countMoves(cur, relabelled, G, E);
  if (colocated) return { row: relabelled, kept: false };
  const inc = incremental(cur, w, G, ps, target, relMoves);
  if (inc && countMoves(cur, inc, G, E) < relMoves) return { row: inc, kept: false };
  void S;
  return { row: relabelled, kept: false };
}

function maxLoad(ps: PackScratch): number {
  let m = 0;
  for (let r = 0; r < ps.G; r++) m = Math.max(m, ps.load[r] * ps.invSpeed[r]);
  return m;
}

function hasColocated(row: Int32Array, G: number, E: number): boolean {
  const S = row.length / G;
  const seen = new Int32Array(E).fill(-1);
  for (let p = 0; p < row.length; p++) {
    const r = Math.floor(p / S);
    if (seen[row[p]] === r) return true;
    seen[row[p]] = r;
  }
  return false;
}

/** Rename the fresh row's ranks to maximise overlap with the current row; kept experts keep their slot. */
function relabel(cur: Int32Array, fresh: Int32Array, G: number, E: number, speed: Float64Array): Int32Array {
  const P = fresh.length;
  const S = P / G;
  const overlap = new Int32Array(G * G); // [newRank][oldRank]
  const had = new Uint8Array(G * E);
  for (let p = 0; p < P; p++) had[Math.floor(p / S) * E + cur[p]] = 1;
  for (let p = 0; p < P; p++) {
    const nr = Math.floor(p / S);
    for (let or = 0; or < G; or++) if (had[or * E + fresh[p]]) overlap[nr * G + or]++;
  }
  const newTo = new Int32Array(G).fill(-1);
  const oldUsed = new Uint8Array(G);
  for (let k = 0; k < G; k++) {
    let bn = -1;
    let bo = -1;
    let bv = -1;
    for (let nr = 0; nr < G; nr++) {
      if (newTo[nr] >= 0) continue;
      for (let or = 0; or < G; or++) {
        if (oldUsed[or] || speed[or] !== speed[nr]) continue;
        if (overlap[nr * G + or] > bv) {
          bv = overlap[nr * G + or];
          bn = nr;
          bo = or;
        }
      }
    }
    if (bn < 0) break;
    newTo[bn] = bo;
    oldUsed[bo] = 1;
  }
  for (let nr = 0; nr < G; nr++) if (newTo[nr] < 0) newTo[nr] = nr; // unreachable with equal speeds
  const out = new Int32Array(P).fill(-1);
  for (let nr = 0; nr < G; nr++) {
    const or = newTo[nr];
    // experts the new rank holds
    const want: number[] = [];
    for (let i = 0; i < S; i++) want.push(fresh[nr * S + i]);
    // keep those already in the old rank's slots at their positions
    for (let i = 0; i < S; i++) {
      const e = cur[or * S + i];
      const k = want.indexOf(e);
      if (k >= 0) {
        out[or * S + i] = e;
        want.splice(k, 1);
      }
    }
    let k = 0;
    for (let i = 0; i < S; i++) if (out[or * S + i] < 0) out[or * S + i] = want[k++];
  }
  return out;
}

/**
 * Greedy improvement from the current row; returns undefined when it cannot reach the target within
 * `budget` moves.
 */
function incremental(cur: Int32Array, w: Float64Array, G: number, ps: PackScratch, target: number, budget: number): Int32Array | undefined {
  const E = ps.E;
  const P = cur.length;
  const S = P / G;
  const row = cur.slice();
  const cnt = new Int32Array(E);
  for (let p = 0; p < P; p++) cnt[row[p]]++;
  const loads = new Float64Array(G);
  const has = new Uint8Array(G * E);
  const evalMax = (): number => {
    loads.fill(0);
    for (let p = 0; p < P; p++) loads[Math.floor(p / S)] += w[row[p]] / cnt[row[p]];
    let m = 0;
    for (let r = 0; r < G; r++) m = Math.max(m, loads[r] * ps.invSpeed[r]);
    return m;
  };
  for (let p = 0; p < P; p++) has[Math.floor(p / S) * E + row[p]] = 1;
  let m = evalMax();
  let moves = 0;
  const hot = new Int32Array(Math.min(E, 8));
  while (m > target * (1 + 1e-12)) {
    if (moves >= budget) return undefined;
    let a = 0;
    for (let r = 1; r < G; r++) if (loads[r] * ps.invSpeed[r] > loads[a] * ps.invSpeed[a]) a = r;
    let bestRate = 0;
    let kind = 0;
    let bp = -1;
    let bq = -1;
    let bTarget = -1;
    // swaps (2 moves)
    for (let i = 0; i < S; i++) {
      const p = a * S + i;
      const ei = row[p];
      const vi = w[ei] / cnt[ei];
      for (let q = 0; q < P; q++) {
        const b = Math.floor(q / S);
        if (b === a) continue;
        const ej = row[q];
        const vj = w[ej] / cnt[ej];
        if (vj >= vi || has[b * E + ei] || has[a * E + ej]) continue;
        const d = vi - vj;
        const nm = Math.max((loads[a] - d) * ps.invSpeed[a], (loads[b] + d) * ps.invSpeed[b]);
        const rate = (m - Math.max(nm, secondMax(loads, ps.invSpeed, a, b))) / 2;
        if (rate > bestRate) {
          bestRate = rate;
          kind = 1;
          bp = p;
          bq = q;
        }
      }
    }
    // re-point one redundant slot on the max rank (1 move)
    selectHot(w, cnt, hot);
    for (let i = 0; i < S; i++) {
      const p = a * S + i;
      const ei = row[p];
      if (cnt[ei] < 2) continue;
      for (const eb of hot) {
        if (eb === ei || has[a * E + eb] || cnt[eb] >= G) continue;
        row[p] = eb;
        cnt[ei]--;
        cnt[eb]++;
        const nm = evalMax();
        row[p] = ei;
        cnt[ei]++;
        cnt[eb]--;
        const rate = m - nm;
        if (rate > bestRate) {
          bestRate = rate;
          kind = 2;
          bp = p;
          bTarget = eb;
        }
      }
    }
    evalMax();
    if (kind === 0) return undefined;
    if (kind === 1) {
      const ei = row[bp];
      const ej = row[bq];
      const b = Math.floor(bq / S);
      row[bp] = ej;
      row[bq] = ei;
      has[a * E + ei] = 0;
      has[a * E + ej] = 1;
      has[b * E + ej] = 0;
      has[b * E + ei] = 1;
      moves += 2;
    } else {
      const ei = row[bp];
      row[bp] = bTarget;
      cnt[ei]--;
      cnt[bTarget]++;
      has[a * E + ei] = 0;
      has[a * E + bTarget] = 1;
      moves += 1;
    }
    m = evalMax();
  }
  return row;
}

function secondMax(loads: Float64Array, inv: Float64Array, a: number, b: number): number {
  let m = 0;
  for (let r = 0; r < loads.length; r++) if (r !== a && r !== b) m = Math.max(m, loads[r] * inv[r]);
  return m;
}

/** The (up to) hot.length experts with the largest per-replica load, largest first. */
function selectHot(w: Float64Array, cnt: Int32Array, hot: Int32Array): void {
  hot.fill(-1);
  const E = w.length;
  for (let e = 0; e < E; e++) {
    const v = w[e] / cnt[e];
    for (let k = 0; k < hot.length; k++) {
      if (hot[k] < 0 || v > w[hot[k]] / cnt[hot[k]]) {
        for (let j = hot.length - 1; j > k; j--) hot[j] = hot[j - 1];
        hot[k] = e;
        break;
      }
    }
  }
}
