/**
 * In-process A/B of the replay: the same trace and plans replayed, alternately, by this tree's
 * replay (src/predict/replay/) and by another checkout's (--before DIR, e.g. `git archive <commit> |
 * tar -x -C DIR` with node_modules linked), three static policies together on one thread (the
 * scoreRoutesBatchMulti path), best of --rounds. Separate processes on this shared machine vary by up
 * to 1.6x; alternating in one process is the comparison to trust. Series are checked === between the
 * two on every batch.
 *
 * Run: node --import tsx bench/replay-ab.ts --before DIR [--tokens N] [--rounds N]
 */
import { resolve } from 'node:path';
import { defaultPlan } from '../src/core/default-placements.ts';
import { routesToCounts } from '../src/core/token-routes.ts';
import { getSolver } from '../src/plan/solvers/index.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { buildCostModel } from '../src/predict/cost-model.ts';
import { loadModelConfig } from '../src/predict/model-config.ts';
import { replayPolicies, type ReplaySource } from '../src/predict/replay/index.ts';
import { zipfRoutes } from '../src/predict/synthetic.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const beforeDir = arg('--before');
if (!beforeDir) {
  console.error('bench/replay-ab.ts: --before DIR (a checkout of the commit to compare with) is required');
  process.exit(2);
}
const T = Number(arg('--tokens') ?? 200_000);
const rounds = Number(arg('--rounds') ?? 3);
const L = 60;
const E = 256;
const k = 8;
const G = 32;
const before = (await import(resolve(beforeDir, 'src/predict/replay.ts'))) as { replayPolicies: typeof replayPolicies };
const beforeCm = (await import(resolve(beforeDir, 'src/predict/cost-model.ts'))) as { buildCostModel: typeof buildCostModel };

const routes = zipfRoutes({ tokens: T, layers: L, experts: E, topK: k, s: 0.8, seed: 7 });
const cluster = defaultCluster(G);
const model = loadModelConfig('DeepSeek-V3');
const cmAfter = buildCostModel({ model, cluster });
const cmBefore = beforeCm.buildCostModel({ model, cluster });
const layerIds = routes.meta.layerIds;
const base = { load: routesToCounts(routes, 0, Math.min(T, 100_000)), numLayers: L, numExperts: E, layerIds, numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: 32, cluster };
const specs = [
  { kind: 'static' as const, name: 'linear', plan: defaultPlan('linear', L, E, G, layerIds, cluster.gpusPerNode) },
  { kind: 'static' as const, name: 'deepseek', plan: await getSolver('deepseek').solve(base) },
  { kind: 'static' as const, name: 'ballast', plan: await getSolver('ballast').solve(base) },
];
const src: ReplaySource = { kind: 'routes', routes, startToken: 0, endToken: T, batchTokens: 512 };
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const pairs = T * L * k * specs.length;
const best = { before: Infinity, after: Infinity };
let same = true;
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
    const c0 = cpu();
    const res = side === 'before' ? await before.replayPolicies(src, specs, cmBefore as never) : await replayPolicies(src, specs, cmAfter);
    const ns = ((cpu() - c0) * 1e9) / pairs;
    best[side] = Math.min(best[side], ns);
    console.log(`round ${r + 1} ${side.padEnd(6)} ${ns.toFixed(2)} ns/pair (three policies together, cpu)`);
    if (side === 'after' && r === 0) {
      const ref = await before.replayPolicies(src, specs, cmBefore as never);
      for (let i = 0; i < res.length; i++) {
        for (const key of Object.keys(res[i].series) as (keyof typeof res[number]['series'])[]) {
          const a = res[i].series[key];
          const b = ref[i].series[key];
          for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) same = false;
        }
      }
    }
  }
}
console.log(`trace ${T} tokens x ${L} layers x top-${k}, E=${E}, G=${G}; best of ${rounds}: before ${best.before.toFixed(2)} ns/pair, after ${best.after.toFixed(2)} ns/pair (${(100 * (best.after / best.before - 1)).toFixed(1)}%); series === on every batch: ${same ? 'yes' : 'NO'}`);
