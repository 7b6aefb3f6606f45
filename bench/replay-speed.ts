/**
 * Replay speed: a synthetic 1M-token x 60-layer x top-8 trace (E = 256, Zipf s = 0.8 popularity
 * permuted per layer) replayed against three policies (linear; deepseek and ballast static plans with
 * 32 redundant slots) on 32 ranks (4 nodes x 8 H100, NVLink + InfiniBand), in batches of 512 tokens.
 * Target: all three replays (not trace generation or planning) in < 5 s. Side by side: the three
 * policies replayed one at a time (baseline) vs together in one pass (what `simulate` does).
 * Reports wall and CPU seconds (the machine is shared: CPU seconds are the work done).
 *
 * Run: node --import tsx bench/replay-speed.ts [--tokens N]
 */
import { defaultPlan } from '../src/core/default-placements.ts';
import { routesToCounts } from '../src/core/token-routes.ts';
import { getSolver } from '../src/plan/solvers/index.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { buildCostModel } from '../src/predict/cost-model.ts';
import { loadModelConfig } from '../src/predict/model-config.ts';
import { replayPolicies, replayPolicy, summarize, type PolicyResult, type ReplaySource } from '../src/predict/replay.ts';
import os from 'node:os';
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
const specs = Object.entries(plans).map(([name, plan]) => ({ kind: 'static' as const, name, plan }));
const pairs = T * L * k;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

// Baseline: each policy replayed on its own (three passes over the ids).
const single: Record<string, { wall: number; cpu: number }> = {};
for (const spec of specs) {
  const w = performance.now();
  const c = cpu();
  await replayPolicy(src, spec, cm);
  single[spec.name] = { wall: (performance.now() - w) / 1000, cpu: cpu() - c };
}
// ballast's path: the three policies replayed together, batch by batch, one pass over the ids.
const w0 = performance.now();
const c0 = cpu();
const results: PolicyResult[] = await replayPolicies(src, specs, cm);
const fused = { wall: (performance.now() - w0) / 1000, cpu: cpu() - c0 };

const sumSingle = Object.values(single).reduce((a, b) => ({ wall: a.wall + b.wall, cpu: a.cpu + b.cpu }), { wall: 0, cpu: 0 });
for (const [name, t] of Object.entries(single)) {
  console.log(`  alone    ${name.padEnd(9)} wall ${t.wall.toFixed(2)} s  cpu ${t.cpu.toFixed(2)} s  (${(pairs / t.cpu / 1e6).toFixed(0)} M token-expert pairs per cpu-s)`);
}
console.log(`  three alone (sum):     wall ${sumSingle.wall.toFixed(2)} s  cpu ${sumSingle.cpu.toFixed(2)} s`);
console.log(`  three together:        wall ${fused.wall.toFixed(2)} s  cpu ${fused.cpu.toFixed(2)} s  (x${(sumSingle.cpu / fused.cpu).toFixed(2)} less cpu than alone)`);
console.log(`target: three policies < 5 s -> wall ${fused.wall < 5 ? 'PASS' : 'FAIL'}, cpu ${fused.cpu < 5 ? 'PASS' : 'FAIL'} (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores)`);
for (const s of summarize(results, L)) {
  console.log(
    `  ${s.name.padEnd(9)} batches=${s.batches} max/mean=${s.perBatchMaxOverMean.mean.toFixed(3)} distinctRanks=${s.distinctRanksPerToken.toFixed(2)} nodes=${s.distinctNodesPerToken.toFixed(2)} layer=${s.predictedLayerTimeUs.toFixed(1)} us  x${s.throughputVsLinear.toFixed(3)} vs linear`,
  );
}
