/**
 * How much a static placement made on one domain can promise on another (issue 14, goal 1 across
 * OLMoE domains): for each olmoe:<plan>:<score> split of bench/phase-aware.ts (same sampled routes:
 * 8192 tokens per domain with top-8, seeds 1 and 2, layers 0, 7, 15), score on the score domain, with
 * the trace replay, linear, DeepSeek EPLB (R = 0) made on the plan domain's counts, and N placements
 * drawn at random (each layer an independent uniform permutation of the 64 experts, 8 per GPU), at
 * the prefill and decode step sizes. Prints the Pearson correlation of the two domains' per-expert
 * loads per layer, where linear and deepseek-R0 rank among the random placements, and the spread.
 * A plan made on counts that do not predict the scored load is, for the scored traffic, one more
 * random placement: whether it lands below linear is then a draw.
 *
 * Run: node --import tsx bench/shift-spread.ts olmoe:c4:arxiv ... [--n 200] [--prefill-tokens 4096]
 *        [--decode-tokens 64] [--ranks 8]
 */
import { defaultPlan } from '../src/core/default-placements.ts';
import { mulberry32 } from '../src/core/random.ts';
import type { Plan } from '../src/core/plan.ts';
import { olmoeCounts } from '../src/plan/solvers/real-data.ts';
import { solveDeepseek } from '../src/plan/solvers/deepseek/index.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { buildCostModel } from '../src/predict/cost-model.ts';
import { loadModelConfig } from '../src/predict/model-config.ts';
import { type PolicySpec, replayPolicies, summarize } from '../src/predict/replay.ts';
import { sampleRoutesFromCounts } from '../src/predict/sample-counts.ts';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const N = flag('--n', 200);
const G = flag('--ranks', 8);
const steps = { prefill: flag('--prefill-tokens', 4096), decode: flag('--decode-tokens', 64) };
const specs = argv.filter((a, i) => a.startsWith('olmoe:') && !argv[i - 1]?.startsWith('--'));

function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

const sets = olmoeCounts().filter((s) => s.name.startsWith('olmoe-'));
for (const spec of specs) {
  const [, pa, pb] = spec.split(':');
  const a = sets.find((s) => s.name === `olmoe-${pa}`)!;
  const b = sets.find((s) => s.name === `olmoe-${pb}`)!;
  const L = a.numLayers;
  const E = a.numExperts;
  const ids = [0, 7, 15];
  const scored = sampleRoutesFromCounts(b.load, L, E, 8, 8192, 2, ids);
  const cm = buildCostModel({ model: loadModelConfig('OLMoE-1B-7B'), cluster: defaultCluster(G) });
  const linear = defaultPlan('linear', L, E, G, ids);
  const ds0 = solveDeepseek({ load: a.load, numLayers: L, numExperts: E, layerIds: ids, numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: 0 });
  const rand = mulberry32(12345);
  const randoms: Plan[] = Array.from({ length: N }, () => ({
    ...linear,
    phy2log: linear.phy2log.map((row) => {
      const r = row.slice();
      for (let i = r.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [r[i], r[j]] = [r[j], r[i]];
      }
      return r;
    }),
  }));
  const corr = Array.from({ length: L }, (_, l) => pearson(a.load.subarray(l * E, (l + 1) * E), b.load.subarray(l * E, (l + 1) * E)).toFixed(2));
  console.log(`${spec}: per-expert load correlation, plan vs score domain, by layer: ${corr.join(', ')}`);
  for (const [phase, n] of Object.entries(steps)) {
    const pol: PolicySpec[] = [
      { kind: 'static', name: 'linear', plan: linear },
      { kind: 'static', name: 'deepseek-R0', plan: ds0 },
      ...randoms.map((plan, i) => ({ kind: 'static' as const, name: `random-${i}`, plan })),
    ];
    const res = await replayPolicies({ kind: 'routes', routes: scored, startToken: 0, endToken: scored.numTokens, batchTokens: n }, pol, cm);
    const t = new Map(summarize(res, L).map((s) => [s.name, s.predictedBatchTimeUs]));
    const lin = t.get('linear')!;
    const r = randoms.map((_, i) => lin / t.get(`random-${i}`)!).sort((x, y) => x - y);
    const q = (p: number) => r[Math.min(r.length - 1, Math.floor(p * r.length))].toFixed(4);
    const beat = r.filter((x) => x > 1).length / r.length;
    const ds = lin / t.get('deepseek-R0')!;
    const dsRank = r.filter((x) => x < ds).length / r.length;
    console.log(
      `  ${phase} ${n}: random placements (speedup vs linear) min ${r[0].toFixed(4)} p10 ${q(0.1)} median ${q(0.5)} p90 ${q(0.9)} max ${r[r.length - 1].toFixed(4)}; ` +
        `${(100 * beat).toFixed(0)}% beat linear; deepseek-R0 (planned on ${pa}) ${ds.toFixed(4)}, above ${(100 * dsRank).toFixed(0)}% of them`,
    );
  }
}
