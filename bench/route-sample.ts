/**
 * Route sampling in the ballast solver (ROUTE_SAMPLE_TOKENS, sampleRouteWindows): co-activation, batch
 * covariance and the locality checks cost time in proportion to the planning tokens, so long traces
 * give them 8 evenly spread windows of 32,768 tokens in all. Side by side in one run:
 *   1. speed at DeepSeek-V3 shape (58 x 256, top-8, R = 32, 32 GPUs / 4 nodes), synthetic Zipf routes
 *      of --tokens tokens (default 400K, sequences of 500): ballast with the default sample vs with all
 *      routes (routeSampleTokens: Infinity); wall ms of one solve each, and whether the plans differ;
 *   2. what sampling costs in quality, on real routes: ESFT (8 GPUs, R = 0 and 8) planned on the first
 *      half (~4.2K tokens, cut at a sequence boundary) with all routes vs samples of 2048 and 1024
 *      tokens, scored per 512-token batch on the second half (mean max/mean), deepseek beside.
 * Run: node --import tsx bench/route-sample.ts [--tokens N]
 */
import { readInput } from '../src/ingest/readers.ts';
import { routesToCounts, sliceRoutes, type TokenRoutes } from '../src/core/token-routes.ts';
import { ROUTE_SAMPLE_TOKENS, solveBallast } from '../src/plan/solvers/ballast/index.ts';
import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { batchRankLoad } from '../src/analyze/batch-rank-load.ts';
import { zipfRoutes } from '../src/predict/synthetic.ts';
import type { Plan } from '../src/core/plan.ts';

const i = process.argv.indexOf('--tokens');
const T = i > 0 ? Number(process.argv[i + 1]) : 400_000;

{
  const L = 58, E = 256, G = 32, R = 32;
  const routes = zipfRoutes({ tokens: T, layers: L, experts: E, topK: 8, s: 0.8, seed: 3, seqLen: 500 });
  const input = { load: routesToCounts(routes), routes, numLayers: L, numExperts: E, layerIds: routes.meta.layerIds, numRanks: G, numNodes: 4, numGroups: 8, redundantSlots: R };
  const run = (opts: { routeSampleTokens?: number }) => {
    const t = performance.now();
    const plan = solveBallast(input, opts);
    return { plan, ms: performance.now() - t };
  };
  const sampled = run({});
  const full = run({ routeSampleTokens: Infinity });
  let differ = 0;
  for (let l = 0; l < L; l++) if (sampled.plan.phy2log[l].some((v, p) => v !== full.plan.phy2log[l][p])) differ++;
  console.log(`1. DeepSeek-V3 shape ${L}x${E} top-8, R=${R}, G=${G}, ${T} planning tokens (synthetic Zipf 0.8)`);
  console.log(`   ballast, route sample ${ROUTE_SAMPLE_TOKENS} tokens: ${sampled.ms.toFixed(0)} ms`);
  console.log(`   ballast, all ${T} tokens:           ${full.ms.toFixed(0)} ms   (x${(full.ms / sampled.ms).toFixed(1)} slower; ${differ} of ${L} layers placed differently)`);
}

function cut(r: TokenRoutes): number {
  for (const s of r.seqStarts) if (s >= r.numTokens / 2) return s;
  return r.numTokens;
}
console.log('2. ESFT, plan on the first half, mean per-batch max/mean on the second (512-token batches, G = 8)');
console.log('   task     R  deepseek  ballast all  sample 2048  sample 1024');
for (const task of ['law', 'intent', 'summary']) {
  const d = await readInput(`data/esft-dsv2lite/raw/${task}.tgz`);
  const routes = d.routes!;
  const c = cut(routes);
  const train = sliceRoutes(routes, 0, c);
  for (const R of [0, 8]) {
    const input = { load: routesToCounts(train), routes: train, numLayers: routes.numLayers, numExperts: routes.numExperts, layerIds: routes.meta.layerIds, numRanks: 8, numNodes: 1, numGroups: 1, redundantSlots: R };
    const score = (p: Plan) => batchRankLoad(routes, p, 512, { startToken: c }).mean.toFixed(4);
    const cells = [solveDeepseek(input), solveBallast(input), solveBallast(input, { routeSampleTokens: 2048 }), solveBallast(input, { routeSampleTokens: 1024 })].map(score);
    console.log(`   ${task.padEnd(8)} ${R}  ${cells[0]}    ${cells[1]}       ${cells[2]}       ${cells[3]}   (${c} planning tokens)`);
  }
}
