import { register } from 'tsx/esm/api';
register();
const { solveExact } = await import('/work/main/src/plan/solvers/exact/index.ts');
const p = await solveExact({ load: Float64Array.from([90,10,30,20]), numLayers: 1, numExperts: 4, layerIds: [0], numRanks: 2, numNodes: 1, numGroups: 1, redundantSlots: 0 });
console.log(Array.from(p.phy2log[0]), p.params);
