import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { planBalance } from '../src/plan/lower-bound.ts';
import { esftCounts, olmoeCounts, lognormalLoad, ESFT_TASKS } from '../src/plan/solvers/real-data.ts';
import { validatePlan } from '../src/core/plan.ts';
const sets = [...ESFT_TASKS.map(esftCounts), ...olmoeCounts(), { name: 'lognormal', numLayers: 58, numExperts: 256, load: lognormalLoad(58, 256, 1, 7) }];
let worse = 0;
for (const s of sets) {
  for (const [G, R, N, g] of [[8, 0, 1, 1], [8, 8, 1, 1], [4, 4, 1, 1], [16, 16, 2, 8], [2, 2, 1, 1], [32, 32, 4, 8], [8, 0, 2, 4]]) {
    const E = s.numExperts;
    if ((E + R) % G || (E % g)) continue;
    const inp = { load: s.load, numLayers: s.numLayers, numExperts: E, layerIds: Array.from({ length: s.numLayers }, (_, i) => i), numRanks: G, numNodes: N, numGroups: g, redundantSlots: R };
    const d = solveDeepseek(inp); const b = solveBallast(inp);
    validatePlan(b);
    const bd = planBalance(s.load, d), bb = planBalance(s.load, b);
    let lw = 0; for (let l = 0; l < s.numLayers; l++) if (bb.maxOverMean[l] > bd.maxOverMean[l] * (1 + 1e-12)) lw++;
    if (lw) worse++;
    console.log(s.name.padEnd(22), `G${G} R${R} N${N} g${g}`.padEnd(16), 'ds', bd.meanMaxOverMean.toFixed(4), 'ballast', bb.meanMaxOverMean.toFixed(4), 'lb', bb.meanLowerBound.toFixed(4), 'gap', (bb.gapToBound*100).toFixed(3)+'%', lw ? `WORSE layers ${lw}` : '', JSON.stringify(b.params!.candidates));
  }
}
console.log('worse sets', worse);
