import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkKind, makeCluster } from '../core/cluster.ts';
import { linearPhy2log } from '../core/default-placements.ts';
import type { Plan } from '../core/plan.ts';
import { makeTokenRoutes } from '../core/token-routes.ts';
import { buildCostModel, combineLayerTime, crossoverTokens, explainCostModel, parseOverrides, slotTimeUs, moveTimeUs } from './cost-model.ts';
import { defaultCluster } from './cluster-spec.ts';
import { loadModelConfig } from './model-config.ts';
import { compilePlan } from './plan-tables.ts';
import { ReplayScratch, scoreRoutesBatch, type BatchSeries } from './replay.ts';
import { mulberry32 } from '../core/random.ts';

const near = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.abs(b);

test('roofline crossover: ~295 tokens/expert on H100 at peak, ~256 with the published efficiencies (FP8 DeepSeek-V3, BF16 Qwen3)', () => {
  const peak = { hbmEff: 1, eff: 1, c0Us: 0 };
  const v3p = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster: defaultCluster(8), overrides: peak });
  // n* = bytes_per_weight * FLOPS / (2 * HBM) = 1 * 1978e12 / (2 * 3.35e12) = 295.2
  assert.ok(near(crossoverTokens(v3p), 295.2, 0.002), `${crossoverTokens(v3p)}`);
  // Defaults (docs/cost-model.md): eff 0.78 (DeepGEMM), hbmEff 0.9 (FlashMLA): 295.2 * 0.78 / 0.9 = 255.86.
  const v3 = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster: defaultCluster(8) });
  assert.ok(near(crossoverTokens(v3), 255.86, 0.001), `${crossoverTokens(v3)}`);
  const q = buildCostModel({ model: loadModelConfig('Qwen3-30B-A3B'), cluster: defaultCluster(8) });
  // 2 * 0.78 * 989e12 / (2 * 0.9 * 3.35e12) = 255.86
  assert.ok(near(crossoverTokens(q), 255.86, 0.001));
  // By hand for DeepSeek-V3: B_e = 44,040,192 B over 0.9 * 3350 GB/s = 14.607 us, plus c0 2.3 us
  // (memory-bound at n = 10); at n = 1000: 2.3 + 6 * 7168 * 2048 * 1000 / (0.78 * 1978e12) = 59.39 us.
  assert.ok(near(slotTimeUs(v3, 10), 16.907, 0.001));
  assert.ok(near(slotTimeUs(v3, 1000), 59.39, 0.001));
  assert.ok(near(slotTimeUs(v3p, 10), 13.146, 0.001));
  assert.equal(slotTimeUs(v3, 0), 0);
  // Normal kernels: no fixed latency by default; low-latency kernels: DeepEP's fitted 29.5 us.
  assert.equal(v3.constants.commLatencyUs, 0);
  assert.equal(buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster: defaultCluster(8), overrides: { lowLatency: 1 } }).constants.commLatencyUs, 29.5);
});

test('overrides, explain sources and layer-time formulas', () => {
  const cm = buildCostModel({
    model: loadModelConfig('DeepSeek-V3'),
    cluster: defaultCluster(8),
    overrides: parseOverrides(['c0Us=2', 'eff=0.5']),
  });
  assert.equal(cm.constants.c0Us, 2);
  // memory term (default hbmEff 0.9) unchanged, c0 = 2 added: 2 + 14.607
  assert.ok(near(slotTimeUs(cm, 10), 16.607, 0.001));
  const rows = explainCostModel(cm);
  assert.match(rows.find((r) => r.name === 'eff')!.source, /user override/);
  assert.match(rows.find((r) => r.name === 'hiddenSize')!.source, /hidden_size/);
  assert.match(rows.find((r) => r.name === 'dispatchBytesPerToken')!.source, /docs\/cost-model\.md#bytes-per-token/);
  for (const r of rows) assert.doesNotMatch(r.source, /REFERENCE/, r.name);
  assert.throws(() => parseOverrides(['nope=1']), /unknown constant/);
  // Barrier: 10 + 30 + 20 = 60.
  assert.equal(combineLayerTime(cm, 10, 30, 20).totalUs, 60);
  // Two micro-batches: d = 5, c = 10, x = 16: 5 + max(16,5) + max(16,10) + 10 = 47.
  const ov = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster: defaultCluster(8), overrides: { overlap: 1 } });
  assert.equal(combineLayerTime(ov, 10, 30, 20, 16).totalUs, 47);
  // Moving 3 replicas of 44.04 MB into one rank over NVLink 450 GB/s: 3 * 44040192 / 450e3 = 293.6 us.
  assert.ok(near(moveTimeUs(cm, [0, 3, 1, 0, 0, 0, 0, 0]), 293.6, 0.001));
});

test('DeepEP low-latency dispatch: 77 us at EP8, 128 tokens/rank, top-8, H=7168, FP8 + scales, reproduced within 10%', () => {
  // Published (DeepEP README, docs/cost-model.md): low-latency dispatch 77 us at EP8, 128 tokens per rank,
  // top-8 of 256 experts, H = 7168, FP8 dispatch; H800 + CX7 400 Gb/s NIC per GPU ("pure RDMA").
  //
  // Bytes per token copy (our formula): FP8 activations H = 7168 B + one fp32 scale per 128 channels
  // 4 * 7168 / 128 = 224 B -> 7392 B.
  //
  // Which byte count? DeepEP's own "RDMA bandwidth" column (98 GB/s at EP8) is exactly one copy per
  // (token, expert): 128 * 8 * 7392 B / 77 us = 98.3 GB/s. That is twice one NIC (50 GB/s), so the
  // EP8 run cannot have pushed all of those bytes through a single NIC; per-(token, expert) counting
  // over any REFERENCE link constant (43-58 GB/s) gives 130-176 us, 1.7-2.3x too slow.
  //
  // The cost model's default formula counts one copy per distinct destination rank other than the
  // source. Under uniform top-8 routing over 256 experts, 32 per rank, another rank receives nothing
  // with probability C(224,8)/C(256,8) = 0.3382, so a token reaches 7 * (1 - 0.3382) = 4.633 other
  // ranks: 128 * 4.633 * 7392 B = 4.38 MB per rank. Over DeepEP's best measured per-GPU RDMA rate
  // (58 GB/s, docs/cost-model.md normal-kernel range 43-58) that is 75.6 us in expectation; the barrier
  // takes the busiest of 8 ranks (send or receive), a little above the mean. At the NIC's nominal
  // 50 GB/s it would be 87.7 us (+14%), at 43 GB/s 102 us: only the top of the measured range lands
  // within 10%, which we state rather than hide.
  //
  // "Pure RDMA" is modelled as 8 nodes of 1 GPU each, every pair linked by the network at 58 GB/s.
  const G = 8;
  const gpus = Array.from({ length: G }, (_, r) => ({ name: 'H800', node: r, numa: 0, speed: 1, hbmFreeBytes: Infinity, hbmGBs: 3350, tflops: 989 }));
  const cluster = makeCluster('8x1xH800-RDMA', G, 1, gpus, () => ({ kind: LinkKind.NETWORK, GBs: 58 }));
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster });
  assert.equal(cm.constants.dispatchBytesPerToken, 7392);

  const E = 256;
  const k = 8;
  const T = 128 * G;
  const ids = new Uint8Array(T * k);
  const rnd = mulberry32(77);
  for (let t = 0; t < T; t++) {
    let n = 0;
    while (n < k) {
      const e = Math.floor(rnd() * E);
      let dup = false;
      for (let j = 0; j < n; j++) if (ids[t * k + j] === e) dup = true;
      if (!dup) ids[t * k + n++] = e;
    }
  }
  const routes = makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: E, topK: k, experts: ids });
  const plan: Plan = { version: 1, numLayers: 1, numExperts: E, numRanks: G, layerIds: [0], phy2log: [linearPhy2log(E, G)], ranksPerNode: 1 };
  const series = Object.fromEntries(
    ['maxOverMean', 'activatedMax', 'activatedMean', 'distinctRanks', 'distinctNodes', 'dispatchUs', 'computeUs', 'combineUs', 'moveUs', 'timeUs', 'expertsMoved'].map((n) => [n, new Float64Array(1)]),
  ) as unknown as BatchSeries;
  scoreRoutesBatch(routes, compilePlan(plan), 0, T, 0, new ReplayScratch(cm), 'token-mod', series, 0);
  // Sanity: distinct ranks per token (including the source's own) ~ 8 * (1 - 0.3382) = 5.29.
  assert.ok(Math.abs(series.distinctRanks[0] - 5.29) < 0.15, `${series.distinctRanks[0]}`);
  const dispatch = series.dispatchUs[0];
  // With this seed the busiest rank gives 78.5 us (+2%).
  assert.ok(dispatch > 75.6, `barrier time ${dispatch} must be at least the mean-rank time`);
  assert.ok(Math.abs(dispatch - 77) / 77 <= 0.1, `predicted ${dispatch.toFixed(1)} us vs published 77 us`);

  // The byte count behind DeepEP's bandwidth column: one copy per (token, expert) at 98 GB/s -> 77 us.
  const ll = buildCostModel({ model: loadModelConfig('DeepSeek-V3'), cluster, overrides: { lowLatency: 1, networkGBs: 98 } });
  scoreRoutesBatch(routes, compilePlan(plan), 0, T, 0, new ReplayScratch(ll), 'token-mod', series, 0);
  // Off-rank copies only (7/8 of 1024 on average, busiest rank a little more): 128*8*7/8*7392/98e3 = 67.6 us
  // mean; the published 77 us matches all 1024 copies (77.2 us), i.e. DeepEP counts the local copy too.
  assert.ok(series.dispatchUs[0] > 60 && series.dispatchUs[0] < 77.2, `${series.dispatchUs[0]}`);
});
