import { solveExact } from '../src/plan/solvers/exact/index.ts';
import { lognormalLoad } from '../src/plan/solvers/real-data.ts';
for (const [E, G, R] of [[8, 4, 4], [16, 4, 0], [16, 4, 4]]) {
  const t = Date.now();
  const p = await solveExact({ load: lognormalLoad(2, E, 1, 3), numLayers: 2, numExperts: E, layerIds: [0, 1], numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: R }, 120);
  console.log(E, G, R, Date.now() - t, 'ms', JSON.stringify(p.params));
}
