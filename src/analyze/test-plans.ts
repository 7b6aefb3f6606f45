/** Small hand-written plans shared by the analyze tests (not shipped API). */
import type { Plan } from '../core/plan.ts';

export function planOf(numExperts: number, numRanks: number, phy2log: number[][], ranksPerNode = numRanks): Plan {
  return {
    version: 1,
    numLayers: phy2log.length,
    numExperts,
    numRanks,
    layerIds: phy2log.map((_, i) => i),
    phy2log: phy2log.map((r) => Int32Array.from(r)),
    ranksPerNode,
  };
}
