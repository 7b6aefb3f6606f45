import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../../core/errors.ts';
import { makeTokenRoutes, routesToCounts } from '../../../core/token-routes.ts';
import { defaultCluster } from '../../../predict/cluster-spec.ts';
import { buildCostModel } from '../../../predict/cost-model.ts';
import { loadModelConfig } from '../../../predict/model-config.ts';
import { layerStepTime, resampleStarts, stepTimeScratch } from './step-time.ts';
import { solveBallastTime } from './time-objective.ts';
import { activationSwapSearch } from './activation-search.ts';

// DeepSeek-V2-Lite on H100s at peak (efficiencies 1, c0 0 set explicitly: these tests check the step
// arithmetic, not the default constants). Worked from the definitions in cost-model.ts:
//   expert bytes B_e = 3 * 2048 * 1408 * 2 = 17 301 504; memUs = B_e / 3.35e6 B/us = 5.164628... us
//   dispatch copy = H + 4H/128 = 2112 B, combine copy = 2H = 4096 B, NVLink 450 GB/s = 450 000 B/us.
const MEM = 17301504 / 3.35e6;
const cm2 = () => buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(2), overrides: { hbmEff: 1, eff: 1, c0Us: 0 } });
const close = (a: number, b: number, msg: string) => assert.ok(Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(b)), `${msg}: ${a} vs ${b}`);

function routes1(ids: number[], E: number) {
  return makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: E, topK: 1, experts: Uint8Array.from(ids) });
}

test('layerStepTime: one 4-token batch worked by hand (activated experts, tokens, copies)', () => {
  const cm = cm2();
  // Experts of tokens 0..3: 0, 0, 1, 2. Row [0,1 | 2,3]: rank 0 holds e0, e1; rank 1 holds e2, e3.
  // Tokens 0,1 start on rank 0, tokens 2,3 on rank 1. Rank 0: e0 (2 tokens) and e1 (1 token) active,
  // both below the ~295-token crossover -> 2 * memUs; rank 1: e2 -> memUs. Token 2 (rank 1) -> e1 on
  // rank 0: one copy over NVLink; every other choice is local.
  const r = layerStepTime(cm, routes1([0, 0, 1, 2], 4), 0, Int32Array.of(0, 1, 2, 3), Int32Array.of(0), 4, stepTimeScratch(cm, 4, 4));
  close(r.computeUs, 2 * MEM, 'compute');
  assert.equal(r.activatedMax, 2);
  assert.equal(r.tokensMax, 3);
  close(r.dispatchUs, 2112 / 450000, 'dispatch');
  close(r.combineUs, 4096 / 450000, 'combine');
  close(r.timeUs, 2 * MEM + 2112 / 450000 + 4096 / 450000, 'layer');
});

test('layerStepTime: replica routing token-mod vs local-first', () => {
  const cm = cm2();
  // Row [0,1 | 0,2]: expert 0 on both ranks; all 4 tokens choose e0.
  const routes = routes1([0, 0, 0, 0], 3);
  const row = Int32Array.of(0, 1, 0, 2);
  // token-mod: offsets 0,2 -> slot 0 (rank 0), 1,3 -> slot 2 (rank 1). Token 1 (rank 0) goes to rank 1
  // and token 2 (rank 1) to rank 0: one copy each way; each rank one active slot with 2 tokens.
  const tm = layerStepTime(cm, routes, 0, row, Int32Array.of(0), 4, stepTimeScratch(cm, 3, 4), 'token-mod');
  assert.equal(tm.activatedMax, 1);
  assert.equal(tm.tokensMax, 2);
  close(tm.dispatchUs, 2112 / 450000, 'token-mod dispatch');
  close(tm.computeUs, MEM, 'token-mod compute');
  // local-first: every token uses the replica on its own GPU: no copy at all.
  const lf = layerStepTime(cm, routes, 0, row, Int32Array.of(0), 4, stepTimeScratch(cm, 3, 4), 'local-first');
  assert.equal(lf.dispatchUs, 0);
  assert.equal(lf.tokensMax, 2);
});

test('resampleStarts: offsets within [0, T - n], a step larger than T refused', () => {
  const s = resampleStarts(100, 40, 50, 3);
  assert.equal(s.length, 50);
  for (const v of s) assert.ok(v >= 0 && v <= 60);
  assert.throws(() => resampleStarts(10, 11, 1), RangeError);
});

/**
 * 8 experts on 4 GPUs, top-2: every token picks expert 0 and one of 1..7 in turn. In a 1024-token
 * step expert 0 gets 1024 tokens: 1024 * 0.0175 us = 17.9 us of GEMM, far above the 5.2 us weight
 * stream, so a second replica of it halves the busiest GPU's compute: replicas pay. In a 4-token
 * step every expert is below the crossover (weights dominate): a replica only adds a weight stream
 * to some GPU, so none pays.
 */
function hotRoutes(T: number) {
  const ids = new Uint8Array(T * 2);
  for (let t = 0; t < T; t++) {
    ids[2 * t] = 0;
    ids[2 * t + 1] = 1 + (t % 7);
  }
  return makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: 8, topK: 2, experts: ids });
}

test('time objective: replicas where they pay (prefill), none where they do not (decode)', () => {
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(4) });
  const routes = hotRoutes(4096);
  const input = {
    load: routesToCounts(routes),
    numLayers: 1,
    numExperts: 8,
    layerIds: [0],
    numRanks: 4,
    numNodes: 1,
    numGroups: 1,
    redundantSlots: 0,
    routes,
    memoryBudgetBytes: 4 * 17301504,
    expertBytes: 17301504,
  };
  const prefill = solveBallastTime(input, { cm, steps: [{ name: 'prefill', tokens: 1024, weight: 1 }], batches: 8 });
  assert.equal(prefill.phy2log[0].length, 12, 'prefill plan takes one replica per GPU');
  const decode = solveBallastTime(input, { cm, steps: [{ name: 'decode', tokens: 4, weight: 1 }], batches: 64 });
  assert.equal(decode.phy2log[0].length, 8, 'decode plan takes no replica');
});

test('time objective: bad input is an InputError (step larger than the trace, budget below one replica)', () => {
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(4) });
  const routes = hotRoutes(64);
  const input = { load: routesToCounts(routes), numLayers: 1, numExperts: 8, layerIds: [0], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 0, routes };
  assert.throws(() => solveBallastTime(input, { cm, steps: [{ name: 'prefill', tokens: 65, weight: 1 }] }), (e) => e instanceof InputError && /65 tokens is larger than the 64/.test(e.message));
  assert.throws(
    () => solveBallastTime({ ...input, memoryBudgetBytes: 1000, expertBytes: 17301504 }, { cm, steps: [{ name: 'decode', tokens: 4, weight: 1 }] }),
    (e) => e instanceof InputError && /no replica fits/.test(e.message),
  );
});

test('time objective: a count-only trace samples routes with the model top-k and says so', () => {
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(4) });
  const load = Float64Array.of(800, 100, 100, 100, 100, 100, 100, 100);
  const input = { load, numLayers: 1, numExperts: 8, layerIds: [0], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 0 };
  const p = solveBallastTime(input, { cm, steps: [{ name: 'decode', tokens: 16, weight: 1 }], topK: 2, sampleTokens: 512, batches: 16 });
  const to = p.params!.timeObjective as { routes: string };
  assert.match(to.routes, /count-only trace: 512 tokens of routes sampled from the counts with top-2/);
  assert.throws(() => solveBallastTime(input, { cm, steps: [{ name: 'decode', tokens: 16, weight: 1 }] }), InputError);
});

test('activationSwapSearch: experts that wake together are split over GPUs (worked by hand)', () => {
  // 4 experts, top-1, 2 GPUs. Batch 0 (tokens 0,1) wakes e0 and e1; batch 1 (tokens 2,3) wakes e2, e3.
  // Row [0,1 | 2,3]: each batch wakes 2 experts on one GPU -> busiest GPU 2 in both: mean 2.
  // Pairs are tried in order: (e0, e1) share a GPU; (e0, e2) is the first improving swap, giving
  // [2,1 | 0,3]: each batch wakes one expert per GPU -> mean 1, the optimum; no swap improves on it.
  const r = activationSwapSearch(routes1([0, 1, 2, 3], 4), 0, Int32Array.of(0, 1, 2, 3), Int32Array.of(0, 2), 2, 2);
  assert.equal(r.before, 2);
  assert.equal(r.after, 1);
  assert.deepEqual(Array.from(r.row), [2, 1, 0, 3]);
});

test('time objective, variable slots: the replica budget goes to the layer where replicas pay, 0 elsewhere', () => {
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(4) });
  // Layer 0: every token picks expert 0 (+ one of 1..7): in 1024-token steps expert 0 is compute-bound
  // (1024 x 0.0175 us >> 5.2 us), so a replica halves its GPU's GEMM time. Layer 1: tokens spread
  // evenly (t mod 8, (t + 4) mod 8): 256 tokens per expert, every GPU equal, below the crossover: a
  // replica only adds a weight stream. Budget: one more slot per GPU in one layer.
  const T = 4096;
  const ids = new Uint8Array(T * 2 * 2);
  for (let t = 0; t < T; t++) {
    ids[t * 4] = 0;
    ids[t * 4 + 1] = 1 + (t % 7);
    ids[t * 4 + 2] = t % 8;
    ids[t * 4 + 3] = (t + 4) % 8;
  }
  const routes = makeTokenRoutes({ meta: { layerIds: [0, 1], sources: [] }, numLayers: 2, numExperts: 8, topK: 2, experts: ids });
  const input = {
    load: routesToCounts(routes),
    numLayers: 2,
    numExperts: 8,
    layerIds: [0, 1],
    numRanks: 4,
    numNodes: 1,
    numGroups: 1,
    redundantSlots: 0,
    routes,
    memoryBudgetBytes: 17301504,
    expertBytes: 17301504,
    allowVariableSlots: true,
  };
  const p = solveBallastTime(input, { cm, steps: [{ name: 'prefill', tokens: 1024, weight: 1 }], batches: 8 });
  assert.deepEqual(p.phy2log.map((r) => r.length), [12, 8]);
});

test('time objective, validated selection: R = 0 where replicas only help in-sample (2 folds)', () => {
  // 8 experts on 4 GPUs, top-2, one layer, one 4096-token sequence (folds [0, 2048) and [2048, 4096)).
  // First half: every token picks expert 0 and one of 2..7 in turn; second half: expert 1 instead of 0.
  // On all 4096 tokens both 0 and 1 are hot in the batches that hold them, so in-sample the model takes
  // a replica per GPU (12 slots). A plan made on the first half replicates 0 and never 1 (load 0), so
  // scored on the second half its replicas only add weight streams to GPUs next to the hot expert 1:
  // held out, every R = 0 row beats every R = G row, and validated selection keeps R = 0 — linear,
  // the most conservative of the rows that tie held out (each puts expert 1 alone with a cold expert).
  const T = 4096;
  const ids = new Uint8Array(T * 2);
  for (let t = 0; t < T; t++) {
    ids[2 * t] = t < T / 2 ? 0 : 1;
    ids[2 * t + 1] = 2 + (t % 6);
  }
  const routes = makeTokenRoutes({ meta: { layerIds: [0], sources: [] }, numLayers: 1, numExperts: 8, topK: 2, experts: ids });
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(4) });
  const input = { load: routesToCounts(routes), numLayers: 1, numExperts: 8, layerIds: [0], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 0, routes, memoryBudgetBytes: 17301504, expertBytes: 17301504 };
  const steps = [{ name: 'prefill', tokens: 1024, weight: 1 }];
  const inS = solveBallastTime(input, { cm, steps, batches: 8, selection: 'in-sample' });
  assert.equal(inS.phy2log[0].length, 12, 'in-sample: one replica per GPU');
  const v = solveBallastTime(input, { cm, steps, batches: 8 });
  assert.deepEqual(Array.from(v.phy2log[0]), [0, 1, 2, 3, 4, 5, 6, 7], 'validated: linear, no replica');
  const to = v.params!.timeObjective as { selection: { rule: string }; perReplicas: { heldOutUs: Record<string, number> }[] };
  assert.match(to.selection.rule, /^validated: 2 folds: planning tokens \[0, 2048\) and \[2048, 4096\)/);
  assert.ok(to.perReplicas[0].heldOutUs.best < to.perReplicas[1].heldOutUs.best, 'held out, R = 0 beats R = G');
});

test('time objective, validated selection: a count-only trace without windows takes no replicas and says why', () => {
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(4) });
  // Expert 0 takes half of all choices: in-sample, 1024-token steps pay for its replicas.
  const load = Float64Array.of(7000, 1000, 1000, 1000, 1000, 1000, 1000, 1000);
  const input = { load, numLayers: 1, numExperts: 8, layerIds: [0], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 0, memoryBudgetBytes: 17301504, expertBytes: 17301504 };
  const steps = [{ name: 'prefill', tokens: 1024, weight: 1 }];
  const inS = solveBallastTime(input, { cm, steps, topK: 2, sampleTokens: 4096, batches: 8, selection: 'in-sample' });
  assert.equal(inS.phy2log[0].length, 12);
  const v = solveBallastTime(input, { cm, steps, topK: 2, sampleTokens: 4096, batches: 8 });
  assert.equal(v.phy2log[0].length, 8);
  const sel = (v.params!.timeObjective as { selection: { rule: string; notes: string[] } }).selection;
  assert.match(sel.notes[0], /^count-only trace without windows: no replicas/);
  assert.match(sel.rule, /scored on 32768 tokens drawn afresh from the same counts/);
});

test('time objective, validated selection: a count-only trace with windows validates across them (the hot expert moved)', () => {
  const cm = buildCostModel({ model: loadModelConfig('DeepSeek-V2-Lite'), cluster: defaultCluster(4) });
  // Window 0: expert 0 takes half of all choices; window 1: expert 1 does. Summed, both are hot and
  // in-sample 1024-token steps pay for replicas of both. A plan made on one window replicates the
  // other window's cold expert and leaves the hot one alone: held out, no replica pays.
  const w0 = [7000, 0, 1000, 1000, 1000, 1000, 1000, 1000];
  const w1 = [0, 7000, 1000, 1000, 1000, 1000, 1000, 1000];
  const windows = Float64Array.from([...w0, ...w1]);
  const load = Float64Array.from(w0.map((v, e) => v + w1[e]));
  const input = { load, windows, numWindows: 2, numLayers: 1, numExperts: 8, layerIds: [0], numRanks: 4, numNodes: 1, numGroups: 1, redundantSlots: 0, memoryBudgetBytes: 17301504, expertBytes: 17301504 };
  const steps = [{ name: 'prefill', tokens: 1024, weight: 1 }];
  const inS = solveBallastTime(input, { cm, steps, topK: 2, sampleTokens: 4096, batches: 8, selection: 'in-sample' });
  assert.equal(inS.phy2log[0].length, 12, 'in-sample: one replica per GPU');
  const v = solveBallastTime(input, { cm, steps, topK: 2, sampleTokens: 4096, batches: 8 });
  const sel = (v.params!.timeObjective as { selection: { rule: string; notes: string[] } }).selection;
  assert.match(sel.rule, /^validated: 2 folds: windows \[0, 1\) and \[1, 2\)/);
  assert.deepEqual(sel.notes, []);
  assert.equal(v.phy2log[0].length, 8, 'validated: no replica');
});
