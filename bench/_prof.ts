import { defaultPlan } from '../src/core/default-placements.ts';
import { routesToCounts } from '../src/core/token-routes.ts';
import { getSolver } from '../src/plan/solvers/index.ts';
import { defaultCluster } from '../src/predict/cluster-spec.ts';
import { buildCostModel } from '../src/predict/cost-model.ts';
import { loadModelConfig } from '../src/predict/model-config.ts';
import { replayPolicies } from '../src/predict/replay.ts';
import { zipfRoutes } from '../src/predict/synthetic.ts';
const T = Number(process.argv[2] ?? 300000), L = 60, E = 256, G = 32;
const routes = zipfRoutes({ tokens: T, layers: L, experts: E, topK: 8, s: 0.8, seed: 7 });
const cluster = defaultCluster(G);
const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster });
const base = { load: routesToCounts(routes, 0, 100000), numLayers: L, numExperts: E, layerIds: routes.meta.layerIds, numRanks: G, numNodes: 4, numGroups: 1, redundantSlots: 32, cluster };
const specs = [
  { kind: 'static' as const, name: 'linear', plan: defaultPlan('linear', L, E, G, routes.meta.layerIds, 8) },
  { kind: 'static' as const, name: 'deepseek', plan: await getSolver('deepseek').solve(base) },
  { kind: 'static' as const, name: 'ballast', plan: await getSolver('ballast').solve(base) },
];
for (const s of specs.slice(1)) { const c = new Map<number, number>(); for (let l = 0; l < L; l++) { const cnt = new Map<number, number>(); for (const e of s.plan.phy2log[l]) cnt.set(e, (cnt.get(e) ?? 0) + 1); for (const v of cnt.values()) c.set(v, (c.get(v) ?? 0) + 1); } console.log(s.name, 'replica-count histogram', [...c.entries()].sort((a, b) => a[0] - b[0])); }
const src = { kind: 'routes' as const, routes, startToken: 0, endToken: T, batchTokens: 512 };
for (let r = 0; r < Number(process.argv[3] ?? 3); r++) { const t = performance.now(); await replayPolicies(src, specs, cm); console.log('seq', ((performance.now() - t) / 1000).toFixed(3), 's'); }
