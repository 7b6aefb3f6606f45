/**
 * Replay speed: a synthetic 1M-token x 60-layer x top-8 trace (E = 256, Zipf s = 0.8 popularity
 * permuted per layer) replayed against three policies (linear; deepseek and ballast static plans with
 * 32 redundant slots) on 32 ranks (4 nodes x 8 H100, NVLink + InfiniBand), in batches of 512 tokens.
 * Target: all three replays (not trace generation or planning) in < 5 s.
 *
 * Run: node --import tsx bench/replay-speed.ts [--tokens N]
 */
import { defaultPlan } from '../src/core/default-placements.ts';
import { routesToCounts } from '../src/core/token-routes.ts';
import { getSolver } from '../src/plan/solvers/index.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { buildCostModel } from '../src/predict/cost-model.ts';
import { loadModelConfig } from '../src/predict/model-config.ts';
import { replayPolicy, summarize, type PolicyResult, type ReplaySource } from '../src/predict/replay.ts';
import { zipfRoutes } from '../src/predict/synthetic.ts';

const arg = process.argv.indexOf('--tokens');
const T = arg > 0 ? Number(process.argv[arg + 1]) : 1_000_000;
const L = 60;
const E = 256;
const k = 8;
const G = 32;
const R = 32;
const batchTokens = 512;

let t = performance.now();
const routes = zipfRoutes({ tokens: T, layers: L, experts: E, topK: k, s: 0.8, seed: 7 });
console.log(`trace: ${T} tokens x ${L} layers x top-${k}, E=${E} (${(routes.experts.length / 1e6).toFixed(0)} MB of ids), generated in ${((performance.now() - t) / 1000).toFixed(2)} s`);

const cluster = defaultCluster(G);
const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster });
const layerIds = routes.meta.layerIds;
t = performance.now();
const load = routesToCounts(routes, 0, Math.min(T, 100_000));
const base = { load, numLayers: L, numExperts: E, layerIds, numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: R, cluster };
const plans = {
  linear: defaultPlan('linear', L, E, G, layerIds, cluster.gpusPerNode),
  deepseek: await getSolver('deepseek').solve(base),
  ballast: await getSolver('ballast').solve(base),
};
console.log(`planning (not timed below): ${((performance.now() - t) / 1000).toFixed(2)} s`);

const src: ReplaySource = { kind: 'routes', routes, startToken: 0, endToken: T, batchTokens };
const results: PolicyResult[] = [];
const times: Record<string, number> = {};
const t0 = performance.now();
for (const [name, plan] of Object.entries(plans)) {
  const s = performance.now();
  results.push(await replayPolicy(src, { kind: 'static', name, plan }, cm));
  times[name] = (performance.now() - s) / 1000;
}
const total = (performance.now() - t0) / 1000;
const tokenExpertPairs = T * L * k;
for (const [name, sec] of Object.entries(times)) {
  console.log(`  replay ${name.padEnd(9)} ${sec.toFixed(2)} s  (${((tokenExpertPairs / sec) / 1e6).toFixed(0)} M token-expert pairs/s)`);
}
console.log(`three policies: ${total.toFixed(2)} s (target < 5 s) -> ${total < 5 ? 'PASS' : 'FAIL'}`);
for (const s of summarize(results, L)) {
  console.log(
    `  ${s.name.padEnd(9)} batches=${s.batches} max/mean=${s.perBatchMaxOverMean.mean.toFixed(3)} distinctRanks=${s.distinctRanksPerToken.toFixed(2)} layer=${s.predictedLayerTimeUs.toFixed(1)} us  x${s.throughputVsLinear.toFixed(3)} vs linear`,
  );
}
