/**
 * Locality trade-off on ESFT token routes (plan on the first half of each task, score on the second):
 * balanceTolerance vs mean distinct ranks per token vs per-batch max/mean (256-token batches), ballast
 * against deepseek. Uses analyze/batch-rank-load.ts and analyze/distinct-ranks-per-token.ts.
 * Run: node --import tsx bench/comm-tradeoff.ts
 */
import { batchRankLoad } from '../src/analyze/batch-rank-load.ts';
import { distinctRanksPerToken } from '../src/analyze/distinct-ranks-per-token.ts';
import type { Plan } from '../src/core/plan.ts';
import { routesToCounts, sliceRoutes } from '../src/core/token-routes.ts';
import { solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { ESFT_TASKS, esftRoutes } from '../src/plan/solvers/real-data.ts';

console.log('task G R | tolerance | ranks/token (vs deepseek) | per-batch max/mean (vs deepseek) | locality chosen (cap, mu, planning ranks/token)');
for (const task of ESFT_TASKS) {
  const routes = esftRoutes(task);
  const half = Math.floor(routes.numTokens / 2);
  const planning = sliceRoutes(routes, 0, half);
  const load = routesToCounts(planning);
  for (const [G, R] of [[8, 0], [8, 8]]) {
    const input = { load, numLayers: 26, numExperts: 64, layerIds: Array.from({ length: 26 }, (_, i) => i + 1), numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: R };
    const score = (p: Plan) => [batchRankLoad(routes, p, 256, { startToken: half }).mean, distinctRanksPerToken(routes, p, p.ranksPerNode, { startToken: half }).ranks];
    const [bd, rd] = score(solveDeepseek({ ...input, allowColocatedReplicas: true }));
    console.log(`${task} ${G} ${R} | deepseek | ${rd.toFixed(3)} | ${bd.toFixed(4)} |`);
    for (const tol of [0, 0.02, 0.05, 0.1, 0.2]) {
      const p = solveBallast({ ...input, routes: planning, balanceTolerance: tol });
      const [bb, rb] = score(p);
      console.log(`${task} ${G} ${R} | ${tol} | ${rb.toFixed(3)} (${((rb / rd - 1) * 100).toFixed(1)}%) | ${bb.toFixed(4)} (${((bb / bd - 1) * 100).toFixed(2)}%) | ${JSON.stringify(p.params?.locality ?? 'none')}`);
    }
  }
}
