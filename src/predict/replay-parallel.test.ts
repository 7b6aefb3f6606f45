import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPlan } from '../core/default-placements.ts';
import { routesToCounts, type TokenRoutes } from '../core/token-routes.ts';
import { getSolver } from '../plan/solvers/index.ts';
import { defaultCluster } from './cluster-spec.ts';
import { buildCostModel } from './cost-model.ts';
import { loadModelConfig } from './model-config.ts';
import { replayPolicies, type PolicySpec, type PolicyResult, sglangEplbConfig } from './replay.ts';
import { replayPoliciesParallel } from './replay-parallel.ts';
import { zipfRoutes } from './synthetic.ts';

// Batches are independent under a static plan, so the parallel replay must give exactly (===) the
// sequential replay's series, whatever the chunking, for every policy, in the caller's order.

async function specsFor(routes: TokenRoutes, G: number, R: number): Promise<PolicySpec[]> {
  const { numLayers: L, numExperts: E } = routes;
  const cluster = defaultCluster(G);
  const layerIds = routes.meta.layerIds;
  const base = { load: routesToCounts(routes, 0, 600), numLayers: L, numExperts: E, layerIds, numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: R };
  return [
    { kind: 'static', name: 'linear', plan: defaultPlan('linear', L, E, G, layerIds, cluster.gpusPerNode) },
    { kind: 'static', name: 'deepseek', plan: await getSolver('deepseek').solve(base) },
    { kind: 'static', name: 'ballast', plan: await getSolver('ballast').solve({ ...base, cluster }) },
  ];
}

function assertSame(a: PolicyResult[], b: PolicyResult[]): void {
  assert.deepEqual(a.map((r) => r.name), b.map((r) => r.name));
  for (let i = 0; i < a.length; i++) {
    assert.equal(a[i].kind, b[i].kind);
    assert.equal(a[i].replans, b[i].replans);
    for (const [name, arr] of Object.entries(a[i].series) as [string, Float64Array][]) {
      const other = (b[i].series as unknown as Record<string, Float64Array>)[name];
      assert.equal(other.length, arr.length, `${a[i].name} ${name} length`);
      for (let j = 0; j < arr.length; j++) assert.equal(other[j], arr[j], `${a[i].name} ${name}[${j}]`);
    }
  }
}

test('parallel replay equals the sequential one: 32 ranks on 4 nodes, replicas, offset start, uneven chunks', async () => {
  const routes = zipfRoutes({ tokens: 3000, layers: 3, experts: 64, topK: 8, s: 1.1, seed: 3 });
  const specs = await specsFor(routes, 32, 32);
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster: defaultCluster(32) });
  // Start at token 37 (not a multiple of 8) so the token-mod replica rule is tested across chunk edges.
  const src = { kind: 'routes' as const, routes, startToken: 37, endToken: 3000, batchTokens: 100 };
  const seq = await replayPolicies(src, specs, cm);
  const par = await replayPoliciesParallel(src, specs, cm, { threads: 2, minWork: 0, chunkBatches: 7 });
  assert.equal(seq[0].series.maxOverMean.length, 29);
  assertSame(seq, par);
  // The replicated plans really exercise the replica paths (deepseek: 3 or more copies of some expert).
  const reps = new Map<number, number>();
  for (const e of (specs[1] as Extract<PolicySpec, { kind: 'static' }>).plan.phy2log[0]) reps.set(e, (reps.get(e) ?? 0) + 1);
  assert.ok(Math.max(...reps.values()) >= 3);
});

test('parallel replay reads ids in place from a SharedArrayBuffer, with the same results', async () => {
  const plain = zipfRoutes({ tokens: 2400, layers: 2, experts: 64, topK: 8, s: 1.0, seed: 11 });
  const ids = new Uint8Array(new SharedArrayBuffer(plain.experts.length));
  ids.set(plain.experts);
  const routes: TokenRoutes = { ...plain, experts: ids };
  const specs = await specsFor(plain, 16, 16);
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster: defaultCluster(16) });
  const src = { kind: 'routes' as const, routes, startToken: 5, endToken: 2400, batchTokens: 64 };
  const seq = await replayPolicies({ ...src, routes: plain }, specs, cm);
  assertSame(seq, await replayPoliciesParallel(src, specs, cm, { threads: 3, minWork: 0, chunkBatches: 5 }));
});

test('parallel replay keeps re-planning (eplb) policies in place (run sequentially) and handles Uint16 ids', async () => {
  const routes = zipfRoutes({ tokens: 2048, layers: 2, experts: 320, topK: 4, seed: 5 });
  assert.ok(routes.experts instanceof Uint16Array);
  const statics = await specsFor(routes, 8, 0);
  const specs: PolicySpec[] = [
    statics[0],
    { kind: 'eplb', name: 'eplb', initial: (statics[0] as Extract<PolicySpec, { kind: 'static' }>).plan, solver: getSolver('deepseek'), solveBase: { numLayers: 2, numExperts: 320, layerIds: routes.meta.layerIds, numRanks: 8, numNodes: 1, numGroups: 1, redundantSlots: 0 }, config: sglangEplbConfig({ intervalSteps: 2 }) },
    statics[2],
  ];
  const cm = buildCostModel({ model: loadModelConfig('Qwen3-30B-A3B'), cluster: defaultCluster(8) });
  const src = { kind: 'routes' as const, routes, startToken: 0, endToken: 2048, batchTokens: 128 };
  const seq = await replayPolicies(src, specs, cm);
  const par = await replayPoliciesParallel(src, specs, cm, { threads: 3, minWork: 0 });
  assert.equal(par[1].replans, 7);
  assertSame(seq, par);
});

test('a worker that fails leaves the replay to this thread: same results', async () => {
  const routes = zipfRoutes({ tokens: 1024, layers: 2, experts: 64, topK: 8, seed: 13 });
  const specs = await specsFor(routes, 8, 8);
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster: defaultCluster(8) });
  const src = { kind: 'routes' as const, routes, startToken: 0, endToken: 1024, batchTokens: 64 };
  const par = await replayPoliciesParallel(src, specs, cm, { threads: 3, minWork: 0, chunkBatches: 2, workerModule: new URL('./fixtures/failing-worker.ts', import.meta.url) });
  assertSame(await replayPolicies(src, specs, cm), par);
});

test('small replays and unsupported shapes stay sequential (same results, no workers needed)', async () => {
  const routes = zipfRoutes({ tokens: 512, layers: 1, experts: 16, topK: 2, seed: 9 });
  const specs = await specsFor(routes, 4, 0);
  const cm = buildCostModel({ model: loadModelConfig('Mixtral-8x7B'), cluster: defaultCluster(4) });
  const src = { kind: 'routes' as const, routes, startToken: 0, endToken: 512, batchTokens: 64 };
  assertSame(await replayPolicies(src, specs, cm), await replayPoliciesParallel(src, specs, cm, { threads: 4 }));
  assertSame(await replayPolicies(src, specs, cm, { routing: 'least-loaded' }), await replayPoliciesParallel(src, specs, cm, { threads: 4, minWork: 0, routing: 'least-loaded' }));
});
