/**
 * Placements a checkpoint reorder can carry out on a model with group-limited routing (DeepSeek-V2/V3,
 * Kimi-K2 style `n_group` / `topk_group`): per layer a permutation new_to_old of E experts in which
 * every block of E/n_group slots holds exactly one whole group (groups move between group blocks,
 * experts move only inside their group's block). Slot s sits on rank floor(s / (E/G)) (the engines'
 * linear placement), so a block may span several ranks, or a rank several blocks.
 *
 * `solveGroupedLayer` minimises the layer's max rank load, then the sum of squared rank loads:
 * exhaustively when the layer has at most EXACT_LIMIT group-preserving arrangements (small cases,
 * tests), else greedily (groups by load onto the block that keeps the max lowest, experts by load onto
 * the least-loaded rank of their block) followed by swaps of whole groups and of experts inside a block
 * until neither improves.
 *
 * Shapes: load ArrayLike<number> [E] (one layer); returns Int32Array [E] new_to_old.
 */

export const EXACT_LIMIT = 200_000;

/** Rank loads of a permutation (slot s on rank floor(s / (E/G))). Returns Float64Array [G]. */
export function rankLoads(load: ArrayLike<number>, newToOld: ArrayLike<number>, G: number): Float64Array {
  const E = newToOld.length;
  const spr = E / G;
  const r = new Float64Array(G);
  for (let s = 0; s < E; s++) r[Math.floor(s / spr)] += load[newToOld[s]];
  return r;
}

function score(r: Float64Array): [number, number] {
  let m = 0;
  let q = 0;
  for (const v of r) {
    if (v > m) m = v;
    q += v * v;
  }
  return [m, q];
}

function better(a: [number, number], b: [number, number]): boolean {
  const eps = 1e-9 * Math.max(1, Math.abs(b[0]));
  if (a[0] < b[0] - eps) return true;
  if (a[0] > b[0] + eps) return false;
  return a[1] < b[1] - 1e-9 * Math.max(1, Math.abs(b[1]));
}

function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

/** All permutations of `a` (small arrays only). */
function permutations(a: number[]): number[][] {
  if (a.length <= 1) return [a.slice()];
  const out: number[][] = [];
  a.forEach((x, i) => {
    for (const p of permutations([...a.slice(0, i), ...a.slice(i + 1)])) out.push([x, ...p]);
  });
  return out;
}

/** Best group-preserving permutation of one layer; see the module comment. */
export function solveGroupedLayer(load: ArrayLike<number>, E: number, G: number, numGroups: number): Int32Array {
  if (E % G !== 0) throw new Error(`solveGroupedLayer: ${G} ranks do not divide ${E} experts`);
  if (E % numGroups !== 0) throw new Error(`solveGroupedLayer: ${numGroups} groups do not divide ${E} experts`);
  const gs = E / numGroups;
  const spr = E / G;
  const rankOf = (s: number) => Math.floor(s / spr);
  const arrangements = factorial(numGroups) * factorial(gs) ** numGroups;
  if (arrangements <= EXACT_LIMIT) return exact(load, E, G, numGroups);

  // Greedy start. blockOf[g] = block of group g; slots of block b: b*gs .. (b+1)*gs-1.
  const perm = new Int32Array(E);
  const ranks = new Float64Array(G);
  const groupLoad = Array.from({ length: numGroups }, (_, g) => {
    let s = 0;
    for (let i = 0; i < gs; i++) s += load[g * gs + i];
    return s;
  });
  const groupsByLoad = Array.from({ length: numGroups }, (_, g) => g).sort((a, b) => groupLoad[b] - groupLoad[a] || a - b);
  const free = new Set(Array.from({ length: numGroups }, (_, b) => b));
  const fill = (g: number, b: number, r: Float64Array): number[] => {
    // experts of g by load onto the least-loaded rank with a free slot in block b
    const experts = Array.from({ length: gs }, (_, i) => g * gs + i).sort((x, y) => load[y] - load[x] || x - y);
    const slots = Array.from({ length: gs }, (_, i) => b * gs + i);
    const used = new Set<number>();
    const placed = new Array<number>(gs);
    for (const e of experts) {
      let best = -1;
      for (const s of slots) {
        if (used.has(s)) continue;
        if (best < 0 || r[rankOf(s)] < r[rankOf(best)]) best = s;
      }
      used.add(best);
      r[rankOf(best)] += load[e];
      placed[best - b * gs] = e;
    }
    return placed;
  };
  for (const g of groupsByLoad) {
    let bestB = -1;
    let bestScore: [number, number] = [Infinity, Infinity];
    for (const b of free) {
      const r = ranks.slice();
      fill(g, b, r);
      const sc = score(r);
      if (bestB < 0 || better(sc, bestScore)) {
        bestB = b;
        bestScore = sc;
      }
    }
    free.delete(bestB);
    const placed = fill(g, bestB, ranks);
    for (let i = 0; i < gs; i++) perm[bestB * gs + i] = placed[i];
  }

  // Local search: swap two whole blocks' contents (slot by slot), or two slots inside a block.
  // Rank loads are kept up to date; a move costs O(gs + G).
  const cur = rankLoads(load, perm, G);
  let curScore = score(cur);
  const swapSlots = (a: number, b: number) => {
    const ra = rankOf(a);
    const rb = rankOf(b);
    if (ra !== rb) {
      const d = load[perm[b]] - load[perm[a]];
      cur[ra] += d;
      cur[rb] -= d;
    }
    const t = perm[a];
    perm[a] = perm[b];
    perm[b] = t;
  };
  const tryMove = (swap: () => void): boolean => {
    swap();
    const sc = score(cur);
    if (better(sc, curScore)) {
      curScore = sc;
      return true;
    }
    swap();
    return false;
  };
  for (let iter = 0; iter < 200; iter++) {
    let improved = false;
    for (let b1 = 0; b1 < numGroups; b1++) {
      for (let b2 = b1 + 1; b2 < numGroups; b2++) {
        if (tryMove(() => { for (let i = 0; i < gs; i++) swapSlots(b1 * gs + i, b2 * gs + i); })) improved = true;
      }
    }
    for (let b = 0; b < numGroups; b++) {
      for (let i = 0; i < gs; i++) {
        for (let j = i + 1; j < gs; j++) {
          const s1 = b * gs + i;
          const s2 = b * gs + j;
          if (rankOf(s1) !== rankOf(s2) && tryMove(() => swapSlots(s1, s2))) improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return perm;
}

/** Every group -> block assignment and every arrangement inside the blocks (small layers only). */
function exact(load: ArrayLike<number>, E: number, G: number, numGroups: number): Int32Array {
  const gs = E / numGroups;
  const inner = permutations(Array.from({ length: gs }, (_, i) => i));
  let best: Int32Array | undefined;
  let bestScore: [number, number] = [Infinity, Infinity];
  const perm = new Int32Array(E);
  for (const blocks of permutations(Array.from({ length: numGroups }, (_, g) => g))) {
    // blocks[b] = group in block b; choose an inner arrangement per block (odometer)
    const idx = new Array<number>(numGroups).fill(0);
    for (;;) {
      for (let b = 0; b < numGroups; b++) for (let i = 0; i < gs; i++) perm[b * gs + i] = blocks[b] * gs + inner[idx[b]][i];
      const sc = score(rankLoads(load, perm, G));
      if (!best || better(sc, bestScore)) {
        best = perm.slice();
        bestScore = sc;
      }
      let k = 0;
      while (k < numGroups && ++idx[k] === inner.length) idx[k++] = 0;
      if (k === numGroups) break;
    }
  }
  return best!;
}

/** Max over mean of a layer's rank loads (1 when the layer has no load). */
export function maxOverMean(load: ArrayLike<number>, newToOld: ArrayLike<number>, G: number): number {
  const r = rankLoads(load, newToOld, G);
  let m = 0;
  let s = 0;
  for (const v of r) {
    m = Math.max(m, v);
    s += v;
  }
  return s > 0 ? m / (s / G) : 1;
}
