import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { esftRoutes } from '../src/plan/solvers/real-data.ts';
import { routesToCounts, sliceRoutes } from '../src/core/token-routes.ts';
import { batchRankLoad } from '../src/analyze/batch-rank-load.ts';
import { distinctRanksPerToken } from '../src/analyze/distinct-ranks-per-token.ts';
for (const task of ['law'] as const) {
  const routes = esftRoutes(task);
  const T = routes.numTokens; const half = Math.floor(T / 2);
  const plan = sliceRoutes(routes, 0, half);
  const load = routesToCounts(plan);
  for (const [G, R, N] of [[8, 0, 1], [8, 8, 1], [16, 16, 2]]) {
    const inp = { load, numLayers: 26, numExperts: 64, layerIds: Array.from({ length: 26 }, (_, i) => i + 1), numRanks: G, numNodes: N, numGroups: 1, redundantSlots: R };
    const d = solveDeepseek({ ...inp, allowColocatedReplicas: true });
    const score = (p: any) => { const b = batchRankLoad(routes, p, 256, { startToken: half }); const r = distinctRanksPerToken(routes, p, p.ranksPerNode, { startToken: half }); return [b.mean, r.ranks]; };
    const [bd, rd] = score(d);
    for (const tol of [0, 0.02, 0.05]) {
      const t = performance.now();
      const b = solveBallast({ ...inp, routes: plan, balanceTolerance: tol });
      const ms = performance.now() - t;
      const [bb, rb] = score(b);
      console.log(task, G, R, 'tol', tol, 'ds batch', bd.toFixed(4), 'ranks', rd.toFixed(3), '| ballast batch', bb.toFixed(4), 'ranks', rb.toFixed(3), 'Δranks', ((rb / rd - 1) * 100).toFixed(1) + '%', 'Δbatch', ((bb / bd - 1) * 100).toFixed(2) + '%', ms.toFixed(0) + 'ms');
    }
  }
}
