import { solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { lognormalLoad } from '../src/plan/solvers/real-data.ts';
const load = lognormalLoad(58, 256, 1, 11);
const inp = { load, numLayers: 58, numExperts: 256, layerIds: Array.from({ length: 58 }, (_, i) => i), numRanks: 32, numNodes: 4, numGroups: 8, redundantSlots: 32 };
for (let i = 0; i < 60; i++) solveBallast(inp);
