/**
 * In-sample max/mean (mean over layers) for linear, round-robin, deepseek, ballast and the lower bound,
 * on every bundled real trace and on lognormal synthetic loads, with and without replicas; plus the
 * exact optimum on a small shape. Run: node --import tsx bench/plan-balance.ts
 */
import { planBalance } from '../src/plan/lower-bound.ts';
import { getSolver } from '../src/plan/solvers/index.ts';
import { ESFT_TASKS, esftCounts, lognormalLoad, olmoeCounts } from '../src/plan/solvers/real-data.ts';
import type { SolveInput } from '../src/plan/solver.ts';
import type { Plan } from '../src/core/plan.ts';

const sets = [
  ...ESFT_TASKS.map(esftCounts),
  ...olmoeCounts(),
  { name: 'lognormal-s1 58x256', numLayers: 58, numExperts: 256, load: lognormalLoad(58, 256, 1, 7) },
];
const names = ['linear', 'round-robin', 'deepseek', 'ballast'];
console.log('set | G R | ' + [...names, 'bound'].join(' | '));
for (const s of sets) {
  const E = s.numExperts;
  const shapes = E === 8 ? [[4, 0], [4, 4]] : E === 64 ? [[8, 0], [8, 8]] : [[32, 0], [32, 32]];
  for (const [G, R] of shapes) {
    const input: SolveInput = { load: s.load, numLayers: s.numLayers, numExperts: E, layerIds: Array.from({ length: s.numLayers }, (_, i) => i), numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: R, allowColocatedReplicas: true };
    const cells: string[] = [];
    let bound = 0;
    for (const n of names) {
      const sv = getSolver(n);
      if (R > 0 && !sv.supportsReplicas) { cells.push('-'); continue; }
      const b = planBalance(s.load, sv.solve(input) as Plan);
      bound = b.meanLowerBound;
      cells.push(b.meanMaxOverMean.toFixed(4));
    }
    console.log(`${s.name} | ${G} ${R} | ${cells.join(' | ')} | ${bound.toFixed(4)}`);
  }
}
const small = lognormalLoad(2, 16, 1, 3);
const inSmall: SolveInput = { load: small, numLayers: 2, numExperts: 16, layerIds: [0, 1], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 0, allowColocatedReplicas: true };
const ex = planBalance(small, (await getSolver('exact').solve(inSmall)) as Plan);
const bl = planBalance(small, getSolver('ballast').solve(inSmall) as Plan);
const dsm = planBalance(small, getSolver('deepseek').solve(inSmall) as Plan);
console.log(`small lognormal 16 experts x 4 GPUs R0: exact ${ex.meanMaxOverMean.toFixed(4)} ballast ${bl.meanMaxOverMean.toFixed(4)} deepseek ${dsm.meanMaxOverMean.toFixed(4)} bound ${ex.meanLowerBound.toFixed(4)}`);
