/**
 * Communication fan-out: how many distinct ranks (and nodes) one token's k experts live on.
 * Dispatch/combine traffic grows with the distinct destinations, not with k (docs/cost-model.md).
 *
 *   ranks = mean over tokens t and layers l of |{ rank(t, l, j) : j < k }|
 *   nodes = the same with node(r) = floor(r / ranksPerNode)
 *
 * rank(t, l, j) is the rank serving the j-th choice; with replicas, the choice of expert e by the token
 * with index i in the scored part goes to replica (i mod replicas(e)) in slot order, as in
 * batch-rank-load.ts.
 *
 * Shapes: `routes` [T][L][k], `plan` with the same L and E and G ranks, `ranksPerNode` dividing G
 * (default plan.ranksPerNode) -> { ranks in [1, min(k, G)], nodes in [1, min(k, G / ranksPerNode)] }
 * (NaN when the scored part is empty). O(T * L * k) time, O(G) extra memory; no per-token allocation.
 */
import type { Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { checkRoutesMatchPlan, type TokenRangeOptions, tokenRange } from './batch-rank-load.ts';
import { replicaRankTable } from './replica-rank-table.ts';

export function distinctRanksPerToken(
  routes: TokenRoutes,
  plan: Plan,
  ranksPerNode: number = plan.ranksPerNode,
  opts: TokenRangeOptions = {},
): { ranks: number; nodes: number } {
  checkRoutesMatchPlan(routes, plan);
  const G = plan.numRanks;
  if (!Number.isInteger(ranksPerNode) || ranksPerNode < 1 || G % ranksPerNode !== 0) {
    throw new RangeError(`ranksPerNode ${ranksPerNode} does not divide ${G} ranks`);
  }
  const [t0, t1] = tokenRange(routes, opts);
  if (t1 === t0) return { ranks: Number.NaN, nodes: Number.NaN };
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const table = replicaRankTable(plan);
  const X = table.maxReplicas;
  const { replicas, ranks, firstRank } = table;
  const nodeOf = new Int32Array(G);
  for (let r = 0; r < G; r++) nodeOf[r] = Math.floor(r / ranksPerNode);
  let rankTotal = 0;
  let nodeTotal = 0;
  const perToken = L * k;
  if (G <= 32) {
    // Up to 32 ranks: one bit per rank (and per node), counted with a popcount.
    for (let t = t0; t < t1; t++) {
      const i = t - t0;
      const base = t * perToken;
      for (let l = 0; l < L; l++) {
        const lE = l * E;
        const o = base + l * k;
        let rankMask = 0;
        let nodeMask = 0;
        for (let j = 0; j < k; j++) {
          const le = lE + experts[o + j];
          const c = replicas[le];
          const r = c === 1 ? firstRank[le] : ranks[le * X + (i % c)];
          rankMask |= 1 << r;
          nodeMask |= 1 << nodeOf[r];
        }
        rankTotal += popcount32(rankMask);
        nodeTotal += popcount32(nodeMask);
      }
    }
  } else {
    // Stamps instead of clearing: rankSeen[r] === stamp means rank r was already counted for this
    // (token, layer). 2^31 stamps is ample (T * L < 2^31 for any trace that fits in memory as Uint8).
    const rankSeen = new Int32Array(G);
    const nodeSeen = new Int32Array(G / ranksPerNode);
    let stamp = 0;
    for (let t = t0; t < t1; t++) {
      const i = t - t0;
      const base = t * perToken;
      for (let l = 0; l < L; l++) {
        stamp++;
        const lE = l * E;
        const o = base + l * k;
        for (let j = 0; j < k; j++) {
          const le = lE + experts[o + j];
          const c = replicas[le];
          const r = c === 1 ? firstRank[le] : ranks[le * X + (i % c)];
          if (rankSeen[r] !== stamp) {
            rankSeen[r] = stamp;
            rankTotal++;
            const n = nodeOf[r];
            if (nodeSeen[n] !== stamp) {
              nodeSeen[n] = stamp;
              nodeTotal++;
            }
          }
        }
      }
    }
  }
  const cells = (t1 - t0) * L;
  return { ranks: rankTotal / cells, nodes: nodeTotal / cells };
}

/** Number of set bits in a 32-bit integer. */
function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
