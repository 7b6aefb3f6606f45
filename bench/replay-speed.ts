/**
 * Replay speed: a synthetic 1M-token x 60-layer x top-8 trace (E = 256, Zipf s = 0.8 popularity
 * permuted per layer) replayed against three policies (linear; deepseek and ballast static plans with
 * 32 redundant slots) on 32 ranks (4 nodes x 8 H100, NVLink + InfiniBand), in batches of 512 tokens.
 * Target: all three replays (not trace generation or planning) in < 5 s. Side by side in one run:
 *   floor      a bare loop summing the ids (what touching every token-expert pair costs here)
 *   reference  the general path (scoreRoutesBatchGeneral: token by token, stamp arrays, any G), the
 *              straightforward scorer, on the first --ref-tokens tokens; its series are checked equal
 *              (===) to the fast path's for those batches
 *   alone      each policy replayed on its own with the fast path
 *   together   the three policies replayed together on one thread
 *   parallel   the same on --threads threads (this one and N - 1 workers; default: available cores, at most 8), what
 *              `simulate` does; checked equal (===) to the one-thread series on every batch
 * Reports wall and CPU seconds (the machine is shared: CPU seconds are the work done) and ns per
 * token-expert pair.
 *
 * Run: node --import tsx bench/replay-speed.ts [--tokens N] [--ref-tokens N] [--threads N]
 */
import { defaultPlan } from '../src/core/default-placements.ts';
import { routesToCounts } from '../src/core/token-routes.ts';
import { getSolver } from '../src/plan/solvers/index.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { buildCostModel } from '../src/predict/cost-model.ts';
import { loadModelConfig } from '../src/predict/model-config.ts';
import { compilePlan } from '../src/predict/plan-tables.ts';
import {
  numBatches,
  ReplayScratch,
  replayPolicies,
  replayPolicy,
  scoreRoutesBatchGeneral,
  summarize,
  type BatchSeries,
  type PolicyResult,
  type ReplaySource,
} from '../src/predict/replay.ts';
import os from 'node:os';
import { defaultThreads, replayPoliciesParallel } from '../src/predict/replay-parallel.ts';
import { zipfRoutes } from '../src/predict/synthetic.ts';

const opt = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const T = opt('--tokens', 1_000_000);
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
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const nsPerPair = (cpuS: number, tokens: number) => ((cpuS * 1e9) / (tokens * L * k)).toFixed(2);

// Floor: a bare loop over the ids.
{
  const c = cpu();
  const ids = routes.experts;
  let acc = 0;
  for (let i = 0; i < ids.length; i++) acc += ids[i];
  const d = cpu() - c;
  console.log(`floor:    bare loop over the ids          cpu ${d.toFixed(2)} s  ${nsPerPair(d, T)} ns/pair  (checksum ${acc})`);
}

// Reference: the general path, per policy, on the first refTokens tokens; checked equal to the fast path.
const refTokens = Math.min(T, opt('--ref-tokens', 100_000));
const refSrc: ReplaySource = { ...src, endToken: refTokens };
const refB = numBatches(refSrc);
const refCpu: Record<string, number> = {};
const refSeries: BatchSeries[] = [];
for (const spec of specs) {
  const tables = compilePlan(spec.plan);
  const sc = new ReplayScratch(cm);
  const out = Object.fromEntries(
    ['maxOverMean', 'activatedMax', 'activatedMean', 'distinctRanks', 'distinctNodes', 'dispatchUs', 'computeUs', 'combineUs', 'moveUs', 'timeUs', 'expertsMoved'].map((n) => [n, new Float64Array(refB)]),
  ) as unknown as BatchSeries;
  const c = cpu();
  for (let b = 0; b < refB; b++) scoreRoutesBatchGeneral(routes, tables, b * batchTokens, (b + 1) * batchTokens, 0, sc, 'token-mod', out, b);
  refCpu[spec.name] = cpu() - c;
  refSeries.push(out);
}

// Each policy replayed on its own (one pass over the ids each).
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
// The same, with the batches spread over worker threads (what `simulate` does by default).
const threads = opt('--threads', defaultThreads());
const w1 = performance.now();
const c1 = cpu();
const parResults: PolicyResult[] = await replayPoliciesParallel(src, specs, cm, { threads });
const par = { wall: (performance.now() - w1) / 1000, cpu: cpu() - c1 };
let parMismatches = 0;
results.forEach((r, i) => {
  for (const [name, arr] of Object.entries(r.series)) {
    const got = (parResults[i].series as unknown as Record<string, Float64Array>)[name];
    for (let b = 0; b < arr.length; b++) if (got[b] !== (arr as Float64Array)[b]) parMismatches++;
  }
});

let mismatches = 0;
results.forEach((r, i) => {
  for (const [name, arr] of Object.entries(refSeries[i])) {
    const got = (r.series as unknown as Record<string, Float64Array>)[name];
    for (let b = 0; b < refB; b++) if (got[b] !== (arr as Float64Array)[b]) mismatches++;
  }
});

let refSum = 0;
for (const spec of specs) {
  const name = spec.name;
  const ref = refCpu[name];
  const one = single[name];
  refSum += ref;
  console.log(
    `  ${name.padEnd(9)} reference ${nsPerPair(ref, refTokens)} ns/pair | alone wall ${one.wall.toFixed(2)} s  cpu ${one.cpu.toFixed(2)} s  ${nsPerPair(one.cpu, T)} ns/pair  (x${(ref / refTokens / (one.cpu / T)).toFixed(1)} less cpu than reference)`,
  );
}
console.log(`  reference, three policies (scaled from ${refTokens} tokens): cpu ${((refSum * T) / refTokens).toFixed(2)} s  ${nsPerPair(refSum, refTokens)} ns/pair`);
console.log(`  three together:  wall ${fused.wall.toFixed(2)} s  cpu ${fused.cpu.toFixed(2)} s  ${nsPerPair(fused.cpu, T)} ns/pair  (x${((refSum * T) / refTokens / fused.cpu).toFixed(1)} less cpu than reference)`);
console.log(`  three together, ${threads} threads:  wall ${par.wall.toFixed(2)} s  (x${(fused.wall / par.wall).toFixed(2)} faster than one thread; cpu ${par.cpu.toFixed(2)} s, all threads)`);
console.log(`fast path === reference on the first ${refB} batches: ${mismatches === 0 ? 'yes' : `NO (${mismatches} values differ)`}`);
console.log(`parallel === one thread on all ${results[0].series.timeUs.length} batches: ${parMismatches === 0 ? 'yes' : `NO (${parMismatches} values differ)`}`);
console.log(`target: three policies < 5 s -> one thread: wall ${fused.wall < 5 ? 'PASS' : 'FAIL'}, cpu ${fused.cpu < 5 ? 'PASS' : 'FAIL'}; ${threads} threads: wall ${par.wall < 5 ? 'PASS' : 'FAIL'} (load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cores)`);
for (const s of summarize(results, L)) {
  console.log(
    `  ${s.name.padEnd(9)} batches=${s.batches} max/mean=${s.perBatchMaxOverMean.mean.toFixed(3)} distinctRanks=${s.distinctRanksPerToken.toFixed(2)} nodes=${s.distinctNodesPerToken.toFixed(2)} layer=${s.predictedLayerTimeUs.toFixed(1)} us  x${s.throughputVsLinear.toFixed(3)} vs linear`,
  );
}
if (mismatches > 0 || parMismatches > 0) process.exitCode = 1;
