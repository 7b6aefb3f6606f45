/**
 * A port of DeepSeek's EPLB (`rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)`,
 * docs/solvers.md#deepseek), written from the published algorithm, one layer at a time over typed arrays.
 *
 * Hierarchical (used when num_groups % num_nodes == 0):
 *   1. sum each expert group's load; pack groups onto nodes with `balancedPacking` (groups/nodes groups
 *      per node); this numbers experts node by node ("mlog" ids);
 *   2. per node, add the node's share of redundant slots one at a time to the expert with the largest
 *      load / replicas (first index wins ties);
 *   3. per node, pack the node's physical experts (each weighing load / replicas) onto its GPUs with
 *      `balancedPacking`.
 * Global (otherwise): the same with one group and one node.
 *
 * Numerics follow the reference: weights are float32 (`weight.float()`), sums and divisions round to
 * float32; sorting is by weight descending, stable (equal weights keep index order); packing picks the
 * lightest pack that still has room, first index wins ties; when each pack takes exactly one item the
 * reference skips the greedy and maps item i to pack i.
 *
 * Known fault kept on purpose: step 3 does not stop two replicas of one expert landing on one GPU.
 */

/** Scratch buffers sized for one shape, reused across layers (no per-step allocation). */
export interface EplbScratch {
  order: Int32Array;
  packW: Float32Array;
  packN: Int32Array;
  packIndex: Int32Array;
  rankInPack: Int32Array;
  groupW: Float32Array;
  gPack: Int32Array;
  gRank: Int32Array;
  mlog2log: Int32Array;
  nodeW: Float32Array;
  phy2mlog: Int32Array;
  mlogCnt: Int32Array;
  phyW: Float32Array;
  pphy2phy: Int32Array;
  sortKeys: Float32Array;
}

export function eplbScratch(E: number, P: number, G: number, numGroups: number): EplbScratch {
  const n = Math.max(E, P, G, numGroups);
  return {
    order: new Int32Array(n),
    packW: new Float32Array(n),
    packN: new Int32Array(n),
    packIndex: new Int32Array(n),
    rankInPack: new Int32Array(n),
    groupW: new Float32Array(numGroups),
    gPack: new Int32Array(numGroups),
    gRank: new Int32Array(numGroups),
    mlog2log: new Int32Array(E),
    nodeW: new Float32Array(E),
    phy2mlog: new Int32Array(P),
    mlogCnt: new Int32Array(E),
    phyW: new Float32Array(P),
    pphy2phy: new Int32Array(P),
    sortKeys: new Float32Array(n),
  };
}

/**
 * Stable descending argsort of w[0..n) into order[0..n) (insertion sort on small n, merge-free:
 * n is at most a few hundred per call). Equal weights keep ascending index order.
 */
function argsortDesc(w: Float32Array, n: number, order: Int32Array): void {
  for (let i = 0; i < n; i++) {
    const v = w[i];
    let j = i - 1;
    while (j >= 0 && w[order[j]] < v) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = i;
  }
}

/**
 * balanced_packing: n items of weight w[0..n) into numPacks packs of exactly n/numPacks items.
 * Heaviest first, each into the lightest pack with room (first index wins ties).
 * Writes packIndex[i], rankInPack[i] (position within the pack, in placement order).
 */
export function balancedPacking(w: Float32Array, n: number, numPacks: number, s: EplbScratch): void {
  const per = n / numPacks;
  const { packIndex, rankInPack } = s;
  if (per === 1) {
    for (let i = 0; i < n; i++) {
      packIndex[i] = i;
      rankInPack[i] = 0;
    }
    return;
  }
  const { order, packW, packN } = s;
  argsortDesc(w, n, order);
  packW.fill(0, 0, numPacks);
  packN.fill(0, 0, numPacks);
  for (let k = 0; k < n; k++) {
    const item = order[k];
    let best = -1;
    let bestW = Infinity;
    for (let p = 0; p < numPacks; p++) {
      if (packN[p] < per && packW[p] < bestW) {
        bestW = packW[p];
        best = p;
      }
    }
    packIndex[item] = best;
    rankInPack[item] = packN[best];
    packW[best] = Math.fround(packW[best] + w[item]);
    packN[best]++;
  }
}

/**
 * rebalance one layer. Shapes: weight [E] (any float array; rounded to float32), P slots, G GPUs,
 * numGroups dividing E, numNodes dividing G -> writes out[P] (phy2log, slot p on GPU floor(p/(P/G))).
 * Uses the hierarchical algorithm when numGroups % numNodes == 0, else the global one.
 */
export function rebalanceLayer(
  weight: ArrayLike<number>,
  P: number,
  numGroups: number,
  numNodes: number,
  G: number,
  out: Int32Array,
  s: EplbScratch,
): void {
  const E = weight.length;
  if (numGroups % numNodes !== 0) {
    numGroups = 1;
    numNodes = 1;
  }
  const groupSize = E / numGroups;
  const groupsPerNode = numGroups / numNodes;
  const slotsPerGpu = P / G;
  const { groupW, gPack, gRank, mlog2log, nodeW, phy2mlog, mlogCnt, phyW, pphy2phy, packIndex, rankInPack } = s;

  // Step 1: groups -> nodes.
  for (let g = 0; g < numGroups; g++) {
    let acc = 0;
    for (let j = 0; j < groupSize; j++) acc = Math.fround(acc + Math.fround(weight[g * groupSize + j]));
    groupW[g] = acc;
  }
  balancedPacking(groupW, numGroups, numNodes, s);
  for (let g = 0; g < numGroups; g++) {
    gPack[g] = packIndex[g];
    gRank[g] = rankInPack[g];
  }
  for (let g = 0; g < numGroups; g++) {
    const base = (gPack[g] * groupsPerNode + gRank[g]) * groupSize;
    for (let j = 0; j < groupSize; j++) mlog2log[base + j] = g * groupSize + j;
  }

  const expertsPerNode = E / numNodes;
  const slotsPerNode = P / numNodes;
  const gpusPerNode = G / numNodes;
  for (let n = 0; n < numNodes; n++) {
    // Step 2: replicas within the node, on node-local ("mlog") ids 0..expertsPerNode.
    for (let j = 0; j < expertsPerNode; j++) {
      nodeW[j] = Math.fround(weight[mlog2log[n * expertsPerNode + j]]);
      mlogCnt[j] = 1;
      phy2mlog[j] = j;
    }
    for (let i = expertsPerNode; i < slotsPerNode; i++) {
      let best = 0;
      let bestV = -Infinity;
      for (let j = 0; j < expertsPerNode; j++) {
        const v = Math.fround(nodeW[j] / mlogCnt[j]);
        if (v > bestV) {
          bestV = v;
          best = j;
        }
      }
      phy2mlog[i] = best;
      mlogCnt[best]++;
    }
    // Step 3: physical experts -> GPUs of this node.
    for (let i = 0; i < slotsPerNode; i++) {
      const m = phy2mlog[i];
      phyW[i] = Math.fround(nodeW[m] / mlogCnt[m]);
    }
    balancedPacking(phyW, slotsPerNode, gpusPerNode, s);
    for (let i = 0; i < slotsPerNode; i++) pphy2phy[packIndex[i] * slotsPerGpu + rankInPack[i]] = i;
    for (let k = 0; k < slotsPerNode; k++) {
      out[n * slotsPerNode + k] = mlog2log[n * expertsPerNode + phy2mlog[pphy2phy[k]]];
    }
  }
}

/**
 * A lower bound on the max GPU load of `rebalanceLayer`'s plan, from its first two steps only (no GPU
 * packing): max over nodes of (node load / GPUs per node) and of the heaviest per-replica weight after
 * the node-local replication. Lets a caller skip the full EPLB when it cannot beat a known max.
 * Shapes as rebalanceLayer; returns a number in the weight's unit (float32 rounding as the reference).
 */
export function rebalanceLowerBound(
  weight: ArrayLike<number>,
  P: number,
  numGroups: number,
  numNodes: number,
  G: number,
  s: EplbScratch,
): number {
  const E = weight.length;
  if (numGroups % numNodes !== 0 || numNodes === 1) return 0;
  const groupSize = E / numGroups;
  const groupsPerNode = numGroups / numNodes;
  const { groupW, packIndex, rankInPack, mlog2log, nodeW, mlogCnt } = s;
  for (let g = 0; g < numGroups; g++) {
    let acc = 0;
    for (let j = 0; j < groupSize; j++) acc = Math.fround(acc + Math.fround(weight[g * groupSize + j]));
    groupW[g] = acc;
  }
  balancedPacking(groupW, numGroups, numNodes, s);
  for (let g = 0; g < numGroups; g++) {
    const base = (packIndex[g] * groupsPerNode + rankInPack[g]) * groupSize;
    for (let j = 0; j < groupSize; j++) mlog2log[base + j] = g * groupSize + j;
  }
  const expertsPerNode = E / numNodes;
  const slotsPerNode = P / numNodes;
  const gpusPerNode = G / numNodes;
  let bound = 0;
  for (let n = 0; n < numNodes; n++) {
    let sum = 0;
    for (let j = 0; j < expertsPerNode; j++) {
      nodeW[j] = Math.fround(weight[mlog2log[n * expertsPerNode + j]]);
      mlogCnt[j] = 1;
      sum += nodeW[j];
    }
    bound = Math.max(bound, sum / gpusPerNode);
    for (let i = expertsPerNode; i < slotsPerNode; i++) {
      let best = 0;
      let bestV = -Infinity;
      for (let j = 0; j < expertsPerNode; j++) {
        const v = Math.fround(nodeW[j] / mlogCnt[j]);
        if (v > bestV) {
          bestV = v;
          best = j;
        }
      }
      mlogCnt[best]++;
    }
    for (let j = 0; j < expertsPerNode; j++) bound = Math.max(bound, Math.fround(nodeW[j] / mlogCnt[j]));
  }
  return bound;
}
