import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxOverMean, rankLoads, solveGroupedLayer } from './reorder-groups.ts';

/** Group-preserving, by the definition: block b of E/ng slots holds exactly the experts of one group. */
function preservesGroups(p: ArrayLike<number>, ng: number): boolean {
  const gs = p.length / ng;
  const seen = new Set<number>();
  for (let b = 0; b < ng; b++) {
    const g = Math.floor(p[b * gs] / gs);
    if (seen.has(g)) return false;
    seen.add(g);
    for (let s = b * gs; s < (b + 1) * gs; s++) if (Math.floor(p[s] / gs) !== g) return false;
  }
  return new Set(Array.from(p)).size === p.length;
}

/** Brute force over all E! permutations: the least max rank load among group-preserving ones. */
function bruteForce(load: number[], G: number, ng: number): number {
  const E = load.length;
  let best = Infinity;
  const p: number[] = [];
  const used = new Array<boolean>(E).fill(false);
  const rec = () => {
    if (p.length === E) {
      if (!preservesGroups(p, ng)) return;
      const r = new Array<number>(G).fill(0);
      p.forEach((e, s) => (r[Math.floor(s / (E / G))] += load[e]));
      best = Math.min(best, Math.max(...r));
      return;
    }
    for (let e = 0; e < E; e++) {
      if (used[e]) continue;
      used[e] = true;
      p.push(e);
      rec();
      p.pop();
      used[e] = false;
    }
  };
  rec();
  return best;
}

test('rank loads by hand: slot s on rank floor(s / (E/G))', () => {
  assert.deepEqual(Array.from(rankLoads([1, 2, 3, 4], [3, 2, 1, 0], 2)), [7, 3]);
  assert.equal(maxOverMean([1, 2, 3, 4], [3, 0, 2, 1], 2), 1); // 5 and 5
});

test('small cases equal brute force (groups spanning ranks, ranks spanning groups, blocks not aligned to ranks)', () => {
  // [E, G, ng]: 8/2/4 (2 groups per rank), 8/4/2 (a group over 2 ranks), 6/3/2 (blocks of 3 over ranks of 2),
  // 8/4/4 (one group per rank: nothing to gain inside), 8/2/8 (groups of one: any permutation)
  const shapes: [number, number, number][] = [[8, 2, 4], [8, 4, 2], [6, 3, 2], [8, 4, 4], [8, 2, 8], [6, 2, 3]];
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const [E, G, ng] of shapes) {
    for (let trial = 0; trial < 3; trial++) {
      const load = Array.from({ length: E }, () => Math.floor(rnd() * 100) + (rnd() < 0.2 ? 300 : 0));
      const p = solveGroupedLayer(load, E, G, ng);
      assert.ok(preservesGroups(p, ng), `${E}/${G}/${ng}: not group-preserving: ${p}`);
      const got = Math.max(...rankLoads(load, p, G));
      assert.equal(got, bruteForce(load, G, ng), `${E}/${G}/${ng} load ${load}`);
    }
  }
});

test('worked by hand: E 8, 4 groups of 2, 2 ranks; the two heavy experts are in one group', () => {
  // groups {0,1}=100+100, {2,3}=1+1, {4,5}=1+1, {6,7}=10+10: a rank holds two whole groups, so the best
  // is {0,1}+{2,3} (202) vs {4,5}+{6,7} (22) -> max 202 (any split keeps group 0 whole on one rank)
  const load = [100, 100, 1, 1, 1, 1, 10, 10];
  const p = solveGroupedLayer(load, 8, 2, 4);
  assert.deepEqual(Array.from(rankLoads(load, p, 2)).sort((a, b) => a - b), [22, 202]);
  // with 4 groups of 2 over 4 ranks, each rank holds one group: nothing moves the max below 200
  assert.equal(Math.max(...rankLoads(load, solveGroupedLayer(load, 8, 4, 4), 4)), 200);
  // groups of 4 over 4 ranks (2 slots a rank): the group {0..3} can split its heavy pair over two ranks
  assert.equal(Math.max(...rankLoads(load, solveGroupedLayer(load, 8, 4, 2), 4)), 101);
});

test('large layers (heuristic path): group-preserving, never worse than the identity, near the bound', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const [E, G, ng] of [[256, 32, 8], [256, 16, 8], [64, 8, 8], [160, 8, 8]] as const) {
    const load = Array.from({ length: E }, () => Math.exp(rnd() * 4));
    const p = solveGroupedLayer(load, E, G, ng);
    assert.ok(preservesGroups(p, ng), `${E}/${G}/${ng}`);
    const ident = Int32Array.from({ length: E }, (_, i) => i);
    assert.ok(maxOverMean(load, p, G) <= maxOverMean(load, ident, G) + 1e-12);
    // bound for a group over k = gs/spr ranks: its load / k; and the overall mean
    const total = load.reduce((a, b) => a + b, 0);
    assert.ok(Math.max(...rankLoads(load, p, G)) >= total / G - 1e-9);
  }
});
