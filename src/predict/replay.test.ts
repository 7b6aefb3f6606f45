import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchRankLoad } from '../analyze/batch-rank-load.ts';
import { distinctRanksPerToken } from '../analyze/distinct-ranks-per-token.ts';
import { defaultPlan } from '../core/default-placements.ts';
import { makeLoadTrace } from '../core/load-trace.ts';
import type { Plan } from '../core/plan.ts';
import { makeTokenRoutes, routesToCounts } from '../core/token-routes.ts';
import { getSolver } from '../plan/solvers/index.ts';
import { defaultCluster } from './cluster-spec.ts';
import { buildCostModel, slotTimeUs } from './cost-model.ts';
import { loadModelConfig } from './model-config.ts';
import { movedReplicas } from './plan-tables.ts';
import { replayPolicies, replayPolicy, sglangEplbConfig, summarize, vllmEplbConfig } from './replay.ts';
import { zipfRoutes } from './synthetic.ts';

const meta = { layerIds: [0], sources: [] };

test('by hand: 4 tokens, 1 layer, top-2, 4 experts on 2 ranks', async () => {
  // Rank 0 holds experts {0,1}, rank 1 holds {2,3} (linear).
  // Tokens: (0,1) (0,2) (1,3) (0,1): rank tokens r0 = 2+1+1+2 = 6, r1 = 0+1+1+0 = 2; mean 4 -> max/mean 1.5.
  // Distinct ranks per token: 1, 2, 2, 1 -> 1.5. Active experts: r0 {0,1} = 2, r1 {2,3} = 2.
  const routes = makeTokenRoutes({ meta, numLayers: 1, numExperts: 4, topK: 2, experts: Uint8Array.from([0, 1, 0, 2, 1, 3, 0, 1]) });
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(2) });
  const plan = defaultPlan('linear', 1, 4, 2, [0]);
  const r = await replayPolicy({ kind: 'routes', routes, startToken: 0, endToken: 4, batchTokens: 4 }, { kind: 'static', name: 'linear', plan }, cm);
  assert.equal(r.series.maxOverMean[0], 1.5);
  assert.equal(r.series.distinctRanks[0], 1.5);
  assert.equal(r.series.activatedMax[0], 2);
  // Sources: tokens 0,1 on rank 0, tokens 2,3 on rank 1. Off-rank copies: token 1 (r0 -> r1),
  // token 2 (r1 -> r0), token 3 (r1 -> r0; both its experts live on rank 0): rank 1 sends 2 and rank 0
  // receives 2 copies over NVLink 450 GB/s. dispatch = 2 * (2048 + 64) B / 450e3 = 9.387 us,
  // combine = 2 * 4096 B / 450e3 = 18.20 us.
  assert.ok(Math.abs(r.series.dispatchUs[0] - (2 * 2112) / 450e3) < 1e-9);
  assert.ok(Math.abs(r.series.combineUs[0] - (2 * 4096) / 450e3) < 1e-9);
  // Compute: every slot is memory-bound (n <= 3): each rank 2 * B_e / HBM.
  assert.ok(Math.abs(r.series.computeUs[0] - 2 * slotTimeUs(cm, 1)) < 1e-9);
  assert.ok(Math.abs(r.series.timeUs[0] - (r.series.dispatchUs[0] + r.series.computeUs[0] + r.series.combineUs[0])) < 1e-9);
});

test('replica routing: token-mod alternates replicas by token index; least-loaded fills the emptier one', async () => {
  // Expert 0 has replicas on ranks 0 and 1 (slots 0 and 2 of P = 4, 2 per rank): phy2log [0,1,0,2]... E = 3.
  const plan: Plan = { version: 1, numLayers: 1, numExperts: 3, numRanks: 2, layerIds: [0], phy2log: [Int32Array.from([0, 1, 0, 2])], ranksPerNode: 2 };
  // 4 tokens top-1: 0, 0, 0, 0 -> token-mod: replicas 0,1,0,1 -> ranks 0,1,0,1 -> balanced 1.0.
  const routes = makeTokenRoutes({ meta, numLayers: 1, numExperts: 3, topK: 1, experts: Uint8Array.from([0, 0, 0, 0]) });
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(2) });
  const src = { kind: 'routes' as const, routes, startToken: 0, endToken: 4, batchTokens: 4 };
  const a = await replayPolicy(src, { kind: 'static', name: 'p', plan }, cm);
  assert.equal(a.series.maxOverMean[0], 1);
  const b = await replayPolicy(src, { kind: 'static', name: 'p', plan }, cm, { routing: 'least-loaded' });
  assert.equal(b.series.maxOverMean[0], 1);
  // Starting the scored part at token 1 shifts the index: still alternating over 3 tokens: 2 vs 1.
  const c = await replayPolicy({ ...src, startToken: 1, batchTokens: 3 }, { kind: 'static', name: 'p', plan }, cm);
  assert.equal(c.series.maxOverMean[0], 2 / 1.5);
});

test('agrees with the metrics module (batchRankLoad, distinctRanksPerToken) on a replicated plan, G = 8 and 32', async () => {
  const routes = zipfRoutes({ tokens: 6000, layers: 3, experts: 64, topK: 6, s: 1.1, seed: 11 });
  for (const G of [8, 32]) {
    const cluster = defaultCluster(G);
    const plan = await getSolver('deepseek').solve({
      load: routesToCounts(routes, 0, 3000), numLayers: 3, numExperts: 64, layerIds: [0, 1, 2], numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: G,
    });
    const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster });
    const r = await replayPolicy({ kind: 'routes', routes, startToken: 3000, endToken: 6000, batchTokens: 512 }, { kind: 'static', name: 'd', plan }, cm);
    const ref = batchRankLoad(routes, plan, 512, { startToken: 3000 });
    assert.equal(r.series.maxOverMean.length, ref.perBatch.length);
    for (let b = 0; b < ref.perBatch.length; b++) assert.ok(Math.abs(r.series.maxOverMean[b] - ref.perBatch[b]) < 1e-12);
    // distinct ranks over the scored full batches only
    const dr = distinctRanksPerToken(routes, plan, 8, { startToken: 3000, endToken: 3000 + 512 * ref.perBatch.length });
    const mean = r.series.distinctRanks.reduce((x, y) => x + y, 0) / r.series.distinctRanks.length;
    const meanN = r.series.distinctNodes.reduce((x, y) => x + y, 0) / r.series.distinctNodes.length;
    assert.ok(Math.abs(mean - dr.ranks) < 1e-12, `${mean} vs ${dr.ranks}`);
    assert.ok(Math.abs(meanN - dr.nodes) < 1e-12);
  }
});

test('counts sources: one window scaled to the step, max/mean from the histogram', async () => {
  // Layer with counts [30, 10, 10, 10] over 2 ranks (linear): ranks 40 / 20, mean 30 -> 4/3.
  const load = makeLoadTrace({ layerIds: [0], topK: 1, sources: [] }, 1, 4, Float64Array.from([30, 10, 10, 10]));
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(2) });
  const r = await replayPolicy({ kind: 'counts', load, startWindow: 0, endWindow: 1, stepTokens: 600, topK: 1 }, { kind: 'static', name: 'l', plan: defaultPlan('linear', 1, 4, 2, [0]) }, cm);
  assert.ok(Math.abs(r.series.maxOverMean[0] - 4 / 3) < 1e-12);
  // Scaled to 600 tokens: expert 0 gets 300 tokens (compute-bound above ~295), the others 100 each.
  const expect = Math.max(slotTimeUs(cm, 300) + slotTimeUs(cm, 100), 2 * slotTimeUs(cm, 100));
  assert.ok(Math.abs(r.series.computeUs[0] - expect) < 1e-9);
});

test('blocking (SGLang-style) re-planning pays its moves; oracle replans every batch; throughput is relative to linear', async () => {
  const routes = zipfRoutes({ tokens: 4096, layers: 2, experts: 16, topK: 2, s: 1.2, seed: 4 });
  const cluster = defaultCluster(4);
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster });
  const linear = defaultPlan('linear', 2, 16, 4, [0, 1]);
  const solveBase = { numLayers: 2, numExperts: 16, layerIds: [0, 1], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 4 };
  const src = { kind: 'routes' as const, routes, startToken: 0, endToken: 4096, batchTokens: 512 };
  const res = await replayPolicies(src, [
    { kind: 'static', name: 'linear', plan: linear },
    { kind: 'eplb', name: 'sglang', initial: linear, solver: getSolver('deepseek'), solveBase, config: sglangEplbConfig({ intervalSteps: 2 }) },
    { kind: 'oracle', name: 'oracle', solver: getSolver('deepseek'), solveBase },
  ], cm);
  const per = res[1];
  assert.equal(per.replans, 3); // after batches 2, 4, 6 of 8 (none after the last)
  let movedSeries = 0;
  for (const v of per.series.expertsMoved) movedSeries += v;
  assert.equal(movedSeries, per.expertsMoved);
  assert.ok(per.expertsMoved > 0);
  // The first re-plan's moves are charged to batch 2 (0-based) and to no batch before it.
  assert.equal(per.series.moveUs[0] + per.series.moveUs[1], 0);
  assert.ok(per.series.moveUs[2] > 0);
  assert.equal(res[2].replans, 8);
  const sums = summarize(res, 2);
  assert.equal(sums[0].throughputVsLinear, 1);
  assert.ok(sums[2].perBatchMaxOverMean.mean <= sums[0].perBatchMaxOverMean.mean);
});

test('movedReplicas: multiset difference per rank', () => {
  const a: Plan = { version: 1, numLayers: 1, numExperts: 4, numRanks: 2, layerIds: [0], phy2log: [Int32Array.from([0, 1, 2, 3])], ranksPerNode: 2 };
  const b: Plan = { ...a, phy2log: [Int32Array.from([1, 0, 0, 2, 3, 3])] };
  // rank 0: had {0,1}, needs {1,0,0}: one extra 0 -> 1 moved. rank 1: had {2,3}, needs {2,3,3} -> 1 moved.
  const mv = movedReplicas(a, b);
  assert.deepEqual(Array.from(mv.perRank), [1, 1]);
  assert.equal(mv.total, 2);
});

test('bitmask fast path equals the general path (single node, PCIe two-kind node, multi-node, low-latency, replicas)', async () => {
  const { resolveCluster } = await import('./cluster-spec.ts');
  const { compilePlan } = await import('./plan-tables.ts');
  const { ReplayScratch, scoreRoutesBatchMulti, scoreRoutesBatchGeneral, SharedScratch } = await import('./replay.ts');
  const routes = zipfRoutes({ tokens: 2600, layers: 3, experts: 64, topK: 6, s: 1.0, seed: 3 });
  const names = ['maxOverMean', 'activatedMax', 'activatedMean', 'distinctRanks', 'distinctNodes', 'dispatchUs', 'computeUs', 'combineUs', 'timeUs'] as const;
  const mk = () => Object.fromEntries([...names, 'moveUs', 'expertsMoved'].map((n) => [n, new Float64Array(5)])) as never;
  for (const spec of ['d8', 'd16', 'd32', '8xH100-PCIe-2socket', '4x8xH800-IB']) {
    const cluster = spec.startsWith('d') ? defaultCluster(Number(spec.slice(1))) : await resolveCluster(spec);
    const G = cluster.gpus.length;
    const replicated = await getSolver('deepseek').solve({
      load: routesToCounts(routes, 0, 1000), numLayers: 3, numExperts: 64, layerIds: [0, 1, 2], numRanks: G, numNodes: cluster.numNodes, numGroups: 1, redundantSlots: G,
    });
    const plans = [defaultPlan('linear', 3, 64, G, [0, 1, 2], cluster.gpusPerNode), replicated];
    for (const lowLatency of [0, 1]) {
      const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster, overrides: { lowLatency } });
      const fast = plans.map(() => mk()) as Record<string, Float64Array>[];
      const slow = plans.map(() => mk()) as Record<string, Float64Array>[];
      const shared = new SharedScratch();
      const scs = plans.map(() => new ReplayScratch(cm));
      for (let b = 0; b < 5; b++) {
        const t0 = 100 + b * 500;
        scoreRoutesBatchMulti(routes, plans.map((p, i) => ({ tables: compilePlan(p), sc: scs[i], out: fast[i] as never })), t0, t0 + 500, 100, b, shared);
        plans.forEach((p, i) => scoreRoutesBatchGeneral(routes, compilePlan(p), t0, t0 + 500, 100, new ReplayScratch(cm), 'token-mod', slow[i] as never, b));
      }
      for (let i = 0; i < plans.length; i++) {
        for (const n of names) {
          for (let b = 0; b < 5; b++) assert.ok(Math.abs(fast[i][n][b] - slow[i][n][b]) <= 1e-9 * Math.max(1, Math.abs(slow[i][n][b])), `${spec} ll=${lowLatency} plan ${i} ${n}[${b}]: ${fast[i][n][b]} vs ${slow[i][n][b]}`);
        }
      }
    }
  }
});

test('vllm-eplb: first re-plan after step_interval // 4 steps (counter starts at 3/4), async moves applied a layer per step, never charged', async () => {
  const routes = zipfRoutes({ tokens: 8192, layers: 2, experts: 16, topK: 2, s: 1.2, seed: 4 });
  const cluster = defaultCluster(4);
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster });
  const linear = defaultPlan('linear', 2, 16, 4, [0, 1]);
  const solveBase = { numLayers: 2, numExperts: 16, layerIds: [0, 1], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 4 };
  const src = { kind: 'routes' as const, routes, startToken: 0, endToken: 8192, batchTokens: 512 };
  // vLLM's defaults: 3000 - 3000 // 4 = 2250 on the counter, so the first re-plan is at step 750.
  assert.equal(vllmEplbConfig().firstAfterSteps, 750);
  const spec = (warmup: Float64Array[] | undefined, intervalSteps?: number) =>
    ({ kind: 'eplb' as const, name: 'vllm', initial: linear, solver: getSolver('deepseek'), solveBase, config: vllmEplbConfig({ intervalSteps, windowSteps: 1000 }), warmup });
  const [lin, short] = await replayPolicies(src, [{ kind: 'static', name: 'linear', plan: linear }, spec(undefined)], cm);
  // 16 steps < 750: no re-plan, the same numbers as linear.
  assert.equal(short.replans, 0);
  assert.deepEqual(Array.from(short.series.timeUs), Array.from(lin.series.timeUs));
  // 749 steps served before the scored part: step 750 is the first scored batch, the re-plan follows it.
  const zero = new Float64Array(2 * 16);
  const warm = await replayPolicy(src, spec(Array.from({ length: 749 }, () => zero)), cm);
  assert.equal(warm.warmupSteps, 749);
  assert.equal(warm.warmupReplans, 0);
  assert.equal(warm.replans, 1);
  assert.equal(warm.series.timeUs[0], lin.series.timeUs[0]);
  assert.equal(warm.series.timeUs[1], lin.series.timeUs[1]); // layer 0 is still being copied during step 1
  for (const v of warm.series.moveUs) assert.equal(v, 0); // async: copies overlap compute
  assert.ok(warm.expertsMoved > 0);
  // The re-plan balanced the window (batch 0's counts; warmup steps were zero): later batches are
  // better balanced than linear once both layers have switched.
  const last = warm.series.maxOverMean.length - 1;
  assert.ok(warm.series.maxOverMean[last] < lin.series.maxOverMean[last]);
});
