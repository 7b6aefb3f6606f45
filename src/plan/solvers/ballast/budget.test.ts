import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validatePlan } from '../../../core/plan.ts';
import { rankLowerBound } from '../../lower-bound.ts';
import type { SolveInput } from '../../solver.ts';
import { packedMaxCost, slotsUnderBudget, windowCost } from './budget.ts';
import { solveBallast } from './index.ts';

/*
 * Hand-worked case: E = 6 experts, G = 2 GPUs, P0 = 6 slots (3 per GPU), one step = 2 slots (one more
 * per GPU) costs expertBytes = 100 per GPU.
 *
 * Coarse layer [3,3,3,1,1,1] (sum 12, mean rank load 6):
 *   P = 6: each GPU holds 3 experts, so one GPU holds two of the three 3s: >= 3 + 3 + 1 = 7, and
 *          {3,3,1} / {3,1,1} reaches 7. Max 7.
 *   P = 8: split one 3 (expert 0 -> 1.5 + 1.5) and one 1 (expert 3 -> 0.5 + 0.5); each GPU takes
 *          {3, 1.5, 0.5, 1} = 6 = the mean, the least possible. Max 6: gain 1.
 *   The lower bound is 6 at both P (sum/G = 6; w_(G) + w_(G+1) = 3 + 3 = 6; with replicas the
 *   heaviest slot is 3 <= 6), so a bound-driven allocation sees no gain here.
 * Flat layer [2,2,2,2,2,2]: {2,2,2} on each GPU = 6 = the mean at P = 6 already: gain 0.
 * Budget 100 bytes = one step: it must go to the coarse layer.
 */
const COARSE = [3, 3, 3, 1, 1, 1];
const FLAT = [2, 2, 2, 2, 2, 2];

test('the fast packer reaches the hand-worked maxima (7 -> 6 coarse, 6 -> 6 flat); the bound does not move', () => {
  const coarse = Float64Array.from(COARSE);
  const c = packedMaxCost(coarse, 6, 2, 12);
  assert.equal(c(0, 6), 7);
  assert.equal(c(0, 8), 6);
  const f = packedMaxCost(Float64Array.from(FLAT), 6, 2, 12);
  assert.equal(f(0, 6), 6);
  assert.equal(f(0, 8), 6);
  assert.equal(rankLowerBound(coarse, 2, 6), 6);
  assert.equal(rankLowerBound(coarse, 2, 8), 6);
});

test('one step of budget goes to the layer whose packing is coarse, whichever its index', () => {
  const a = Float64Array.from([...COARSE, ...FLAT]);
  assert.deepEqual(Array.from(slotsUnderBudget(a, 2, 6, 2, 100, 100, true)), [8, 6]);
  const b = Float64Array.from([...FLAT, ...COARSE]);
  assert.deepEqual(Array.from(slotsUnderBudget(b, 2, 6, 2, 100, 100, true)), [6, 8]);
  // uniform: floor(1 step / 2 layers) = 0 steps each
  assert.deepEqual(Array.from(slotsUnderBudget(a, 2, 6, 2, 100, 100, false)), [6, 6]);
});

test('steps no cost shows a gain for are spread to the layers with the fewest slots; budget never exceeded', () => {
  // 2 steps: the coarse layer takes the first (gain 1); then neither layer gains (coarse is at its
  // mean 6, flat too), so the second goes to the layer with fewer slots: the flat one.
  const a = Float64Array.from([...COARSE, ...FLAT]);
  assert.deepEqual(Array.from(slotsUnderBudget(a, 2, 6, 2, 250, 100, true)), [8, 8]);
  // 7 steps: both layers flat after the first; leftovers alternate by fewest slots, ties to the
  // larger heaviest-slot share max(w/c) * P / sum (coarse 3 * 8 / 12 = 2 vs flat 2 * 8 / 12 = 1.33
  // at P = 8 -> coarse first): [8,6] -> [8,8] -> [10,8] -> [10,10] -> [12,10] -> [12,12] = E*G each,
  // and the 7th step has nowhere to go.
  const s = slotsUnderBudget(a, 2, 6, 2, 700, 100, true);
  assert.deepEqual(Array.from(s), [12, 12]);
  let used = 0;
  for (const P of s) used += ((P - 6) / 2) * 100;
  assert.ok(used <= 700);
});

test('lookahead: a layer that gains only after two steps beats one whose first step gains less per step', () => {
  // Hand-set costs (P0 = 4, G = 2): layer 0: 10, 10, 4 at P = 4, 6, 8 (rate 3 per step over two);
  // layer 1: 10, 8, 7 (first step gains 2). Two steps: both to layer 0 drops the sum by 6, both to
  // layer 1 by 3, one each by 2.
  const table = [
    [10, 10, 4, 4, 4],
    [10, 8, 7, 7, 7],
  ];
  const cost = (l: number, P: number) => table[l][(P - 4) / 2];
  const load = new Float64Array(2 * 4).fill(1);
  assert.deepEqual(Array.from(slotsUnderBudget(load, 2, 4, 2, 200, 100, true, cost)), [8, 4]);
  // with a single step, only layer 1's gain fits
  assert.deepEqual(Array.from(slotsUnderBudget(load, 2, 4, 2, 100, 100, true, cost)), [4, 6]);
});

test('padding slots are paid first; a budget below them is refused', () => {
  // E = 6, G = 4: P0 = 8, 2 padding slots per layer = 0.5 slot per GPU per layer; 2 layers x 0.5 x 100
  // = 100 bytes. Budget 150 leaves 50: no whole step.
  const load = Float64Array.from([...COARSE, ...FLAT]);
  assert.deepEqual(Array.from(slotsUnderBudget(load, 2, 6, 4, 150, 100, true)), [8, 8]);
  assert.throws(() => slotsUnderBudget(load, 2, 6, 4, 99, 100, true), /need 100 bytes per GPU, budget is 99/);
});

test('windowCost: sum over windows of the heaviest rank, by hand', () => {
  // E = 2, G = 2, windows [3,1] and [1,3] (load [4,4]); row [0,1]: each window's heaviest rank is 3 -> 6.
  // row [0,1,0,1] (S = 2: rank 0 {0,1}, rank 1 {0,1}): every rank 1.5 + 0.5 = 2 per window -> 4.
  const windows = Float64Array.from([3, 1, 1, 3]);
  const inv = new Float64Array(2).fill(1);
  const loads = new Float64Array(2);
  const cnt = new Int32Array(2);
  assert.equal(windowCost(windows, 2, 1, 2, 0, Int32Array.from([0, 1]), 2, inv, 1, loads, cnt), 6);
  assert.equal(windowCost(windows, 2, 1, 2, 0, Int32Array.from([0, 1, 0, 1]), 2, inv, 1, loads, cnt), 4);
  // a GPU at half speed doubles its time; scale multiplies
  inv[1] = 2;
  assert.equal(windowCost(windows, 2, 1, 2, 0, Int32Array.from([0, 1]), 2, inv, 0.5, loads, cnt), 0.5 * (3 + 6));
});

function inp(load: Float64Array, L: number, E: number, G: number, extra: Partial<SolveInput>): SolveInput {
  return { load, numLayers: L, numExperts: E, layerIds: Array.from({ length: L }, (_, i) => i), numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: 0, ...extra };
}

test('ballast with windows: replicas go to the layer whose experts surge per window, not the steady one', () => {
  // E = 4, G = 2, 4 windows. Layer 0 steady: [2,2,2,2] every window. Layer 1: expert w surges in
  // window w ([5,1,1,1], [1,5,1,1], ...). Both sum to a flat histogram ([8,8,8,8] in layer 1), so
  // in-sample every layer packs to its mean at P = 4 and nothing "gains" there.
  // Per window (windowCost): layer 0 at P = 4 is 4 in every window (16), the least possible.
  // Layer 1 at P = 4: the hot expert's GPU carries 5 + 1 = 6 in each window (24); at P = 8 every
  // expert is on both GPUs, each carries half of each window: 4 per window (16). Two steps of budget
  // (200 bytes at 100 per step) -> both to layer 1: slots [4, 8].
  const W = 4;
  const L = 2;
  const E = 4;
  const windows = new Float64Array(W * L * E);
  for (let w = 0; w < W; w++) {
    for (let e = 0; e < E; e++) {
      windows[(w * L + 0) * E + e] = 2;
      windows[(w * L + 1) * E + e] = e === w ? 5 : 1;
    }
  }
  const load = new Float64Array(L * E);
  for (let w = 0; w < W; w++) for (let i = 0; i < L * E; i++) load[i] += windows[w * L * E + i];
  const plan = solveBallast(inp(load, L, E, 2, { windows, numWindows: W, memoryBudgetBytes: 200, expertBytes: 100, allowVariableSlots: true }));
  validatePlan(plan);
  assert.deepEqual(plan.phy2log.map((r) => r.length), [4, 8]);
  // layer 1 at 8 slots: every expert on both GPUs
  const row = plan.phy2log[1];
  for (const half of [row.subarray(0, 4), row.subarray(4, 8)]) assert.deepEqual(Array.from(half).sort(), [0, 1, 2, 3]);
  // without windows the histogram shows no gain anywhere: the steps are spread (fewest slots first,
  // then the heaviest-slot share, equal here, then the lowest index)
  const flat = solveBallast(inp(load, L, E, 2, { memoryBudgetBytes: 200, expertBytes: 100, allowVariableSlots: true }));
  assert.deepEqual(flat.phy2log.map((r) => r.length), [6, 6]);
});

test('deterministic: the same input gives the same slots and rows', () => {
  const load = Float64Array.from([...COARSE, ...FLAT, 5, 5, 5, 1, 1, 1]);
  const input = inp(load, 3, 6, 2, { memoryBudgetBytes: 300, expertBytes: 100, allowVariableSlots: true });
  const a = solveBallast(input);
  const b = solveBallast(input);
  assert.deepEqual(a.phy2log.map((r) => Array.from(r)), b.phy2log.map((r) => Array.from(r)));
  let used = 0;
  for (const r of a.phy2log) used += ((r.length - 6) / 2) * 100;
  assert.ok(used <= 300);
});
