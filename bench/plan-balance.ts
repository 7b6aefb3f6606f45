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

// Held-out: plan on the first half of each ESFT task (windows of 512 tokens for the forecast), score
// the second half's histogram (max/mean) and its 256-token batches (per-batch max/mean).
const { esftRoutes } = await import('../src/plan/solvers/real-data.ts');
const { routesToCounts } = await import('../src/core/token-routes.ts');
const { batchRankLoad } = await import('../src/analyze/batch-rank-load.ts');
console.log('held-out (ESFT, plan first half, score second half): task G R | deepseek hist/batch | ballast hist/batch | ballast+windows hist/batch');
for (const task of ESFT_TASKS) {
  const routes = esftRoutes(task);
  const half = Math.floor(routes.numTokens / 2);
  const win = 512;
  const W = Math.floor(half / win);
  const windows = new Float64Array(W * 26 * 64);
  for (let w = 0; w < W; w++) windows.set(routesToCounts(routes, w * win, (w + 1) * win), w * 26 * 64);
  const load = routesToCounts(routes, 0, W * win);
  const future = routesToCounts(routes, half, routes.numTokens);
  for (const [G, R] of [[8, 0], [8, 8], [16, 16]]) {
    const input: SolveInput = { load, numLayers: 26, numExperts: 64, layerIds: Array.from({ length: 26 }, (_, i) => i + 1), numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: R, allowColocatedReplicas: true };
    const cell = (p: Plan) => `${planBalance(future, p).meanMaxOverMean.toFixed(4)}/${batchRankLoad(routes, p, 256, { startToken: half }).mean.toFixed(4)}`;
    const d = getSolver('deepseek').solve(input) as Plan;
    const b = getSolver('ballast').solve(input) as Plan;
    const bw = getSolver('ballast').solve({ ...input, windows, numWindows: W }) as Plan;
    console.log(`${task} ${G} ${R} | ${cell(d)} | ${cell(b)} | ${cell(bw)}`);
  }
}
