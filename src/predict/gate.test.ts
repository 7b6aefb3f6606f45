import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { defaultPlan } from '../core/default-placements.ts';
import { makeLoadTrace } from '../core/load-trace.ts';
import { routesToCounts } from '../core/token-routes.ts';
import { readInput } from '../ingest/readers.ts';
import { getSolver } from '../plan/solvers/index.ts';
import { gateDecision, predictAndGate, renderGate } from './gate.ts';

test('gateDecision arithmetic: gain, standard error, amortised move, vetoes', () => {
  // d = [10, 12, 8, 10]: mean 10, sample sd sqrt(8/3) = 1.633, se = 0.8165.
  const cur = [100, 100, 100, 100];
  const prop = [90, 88, 92, 90];
  const ok = gateDecision({ current: cur, proposed: prop, moveCostUs: 3000, horizonSteps: 1000, k: 2 });
  assert.equal(ok.verdict, 'apply');
  assert.equal(ok.gainPerStepUs, 10);
  assert.equal(ok.predictedGainPct, 10);
  assert.ok(Math.abs(ok.uncertainty.stdErrUs - Math.sqrt(8 / 3) / 2) < 1e-12);
  assert.equal(ok.breakEvenSteps, 300);
  // Move cost 3000 us over 250 steps = 12 us/step > 10 us gain: does not pay.
  const noPay = gateDecision({ current: cur, proposed: prop, moveCostUs: 3000, horizonSteps: 250 });
  assert.equal(noPay.verdict, 'keep current');
  assert.ok(noPay.reasons.some((r) => /does not pay/.test(r)));
  // Same mean gain but noisy: d = [30, -10, 30, -10] -> se = 11.5, 2 se = 23 > 10.
  const noisy = gateDecision({ current: cur, proposed: [70, 110, 70, 110], moveCostUs: 0 });
  assert.equal(noisy.verdict, 'keep current');
  assert.ok(noisy.reasons.some((r) => /standard error over the \d+ scored batches/.test(r)));
  const tp = gateDecision({ current: cur, proposed: prop, moveCostUs: 0, moeParallel: 'tp' });
  assert.equal(tp.verdict, 'keep current');
  assert.ok(tp.warnings.some((w) => /tensor parallelism/.test(w)));
  const oom = gateDecision({ current: cur, proposed: prop, moveCostUs: 0, extraHbmBytes: 3e9, hbmHeadroomBytes: 2e9 });
  assert.equal(oom.verdict, 'keep current');
  assert.ok(oom.warnings.some((w) => /HBM/.test(w)));
});

const COUNTS = JSON.parse(readFileSync(new URL('../../data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json', import.meta.url), 'utf8'));

function domainLoad(model: string, domain: string) {
  const e = COUNTS.models[model];
  const counts = Float64Array.from((e.domains[domain].expert_counts as number[][]).flat());
  return { e, counts, load: makeLoadTrace({ layerIds: e.layers, topK: e.top_k, sources: [] }, e.layers.length, e.num_experts, counts) };
}

test('gate keeps current on near-balanced Mixtral traffic (plan on C4, score on Wikipedia)', async () => {
  const train = domainLoad('mistral', 'c4');
  const test_ = domainLoad('mistral', 'wikipedia');
  const G = 4;
  const plan = await getSolver('deepseek').solve({
    load: train.counts, numLayers: 3, numExperts: 8, layerIds: train.e.layers, numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: 0,
  });
  const current = defaultPlan('linear', 3, 8, G, train.e.layers);
  for (const batchTokens of [512, 4096]) {
    const r = await predictAndGate({ load: test_.load, plan, current, model: 'Mixtral-8x7B', batchTokens });
    // Linear is already near balance on this traffic (max/mean rank load ~1.08).
    assert.ok(r.imbalance.current > 1.0 && r.imbalance.current < 1.15, `${r.imbalance.current}`);
    assert.equal(r.verdict, 'keep current', renderGate(r));
    assert.ok(r.predictedGainPct < 0.5);
  }
});

test('gate applies a held-out plan on skewed ESFT law traffic, keeps current when replicas only add weight reads', async () => {
  const d = await readInput(new URL('../../data/esft-dsv2lite/raw/law.tgz', import.meta.url).pathname);
  const routes = d.routes!;
  const cut = routes.seqStarts.find((x) => x >= routes.numTokens / 2)!;
  const current = defaultPlan('linear', routes.numLayers, routes.numExperts, 8, routes.meta.layerIds);
  const base = { numLayers: routes.numLayers, numExperts: routes.numExperts, layerIds: routes.meta.layerIds, numRanks: 8, numNodes: 1, numGroups: 1 };
  const load = routesToCounts(routes, 0, cut);
  const plan0 = await getSolver('deepseek').solve({ ...base, load, redundantSlots: 0 });
  const r = await predictAndGate({ load: d.load, routes, plan: plan0, current, model: 'DeepSeek-V2-Lite', batchTokens: 512, scoreStart: cut });
  assert.equal(r.uncertainty.batches, 7); // (8327 - 4252) / 512 -> 7 full batches
  assert.ok(r.imbalance.current > 1.3, `${r.imbalance.current}`);
  assert.ok(r.imbalance.proposed < r.imbalance.current - 0.15);
  assert.equal(r.verdict, 'apply', renderGate(r));
  assert.ok(r.uncertainty.gainOverStdErr > 2);
  // 8 redundant slots: 9 slots per rank instead of 8. At 512 tokens x top-6 / 64 experts = 48 tokens per
  // expert (below the ~295 crossover) every slot streams its weights, so the extra slot costs ~1/8 more
  // compute even though token balance improves: the gate must refuse.
  const plan8 = await getSolver('deepseek').solve({ ...base, load, redundantSlots: 8 });
  const r8 = await predictAndGate({ load: d.load, routes, plan: plan8, current, model: 'DeepSeek-V2-Lite', batchTokens: 512, scoreStart: cut });
  assert.ok(r8.imbalance.proposed < r8.imbalance.current);
  assert.equal(r8.verdict, 'keep current', renderGate(r8));
  assert.ok(r8.predictedGainPct < -5);
  // 9 slots per GPU, all of them receiving tokens at 48 tokens per expert.
  assert.ok(r8.reasons.some((x) => /activates 8\.0 -> 9\.0 experts/.test(x)), r8.reasons.join('\n'));
});

test('gate applies on OLMoE arXiv (hottest expert ~7x mean) with compute-bound 4096-token steps', async () => {
  const arxiv = domainLoad('olmoe', 'arxiv');
  const plan = await getSolver('deepseek').solve({
    load: arxiv.counts, numLayers: 3, numExperts: 64, layerIds: arxiv.e.layers, numRanks: 8, numNodes: 1, numGroups: 1, redundantSlots: 8,
  });
  const current = defaultPlan('linear', 3, 64, 8, arxiv.e.layers);
  const r = await predictAndGate({ load: arxiv.load, plan, current, model: 'OLMoE-1B-7B', batchTokens: 4096 });
  assert.ok(r.imbalance.current > 1.5);
  assert.equal(r.verdict, 'apply', renderGate(r));
  assert.ok(r.predictedGainPct > 20);
  assert.ok(r.warnings.some((w) => /one batch/.test(w)));
  // The same histogram replayed as 16 sampled 4096-token steps: the gain is now tested against noise.
  const s = await predictAndGate({ load: arxiv.load, plan, current, model: 'OLMoE-1B-7B', batchTokens: 4096, sampleBatches: 16 });
  assert.equal(s.uncertainty.batches, 16);
  assert.equal(s.verdict, 'apply', renderGate(s));
  assert.ok(s.uncertainty.gainOverStdErr > 2);
  assert.ok(!s.warnings.some((w) => /one batch/.test(w)));
});
