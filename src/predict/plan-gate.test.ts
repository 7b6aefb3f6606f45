import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPlan } from '../core/default-placements.ts';
import { makeLoadTrace } from '../core/load-trace.ts';
import { getSolver } from '../plan/solvers/index.ts';
import { defaultCluster } from './cluster-spec.ts';
import { loadModelConfig } from './model-config.ts';
import { gatePlan } from './plan-gate.ts';

// 4 experts on 2 GPUs, top-1, one layer, 4 load windows. Linear places {0, 1} on GPU 0 and {2, 3} on
// GPU 1. Planned on windows 0-1 with loads [100, 100, 10, 10], any balancing plan pairs a hot expert
// with a cold one: {0, 2 or 3} / {1, 3 or 2}, rank loads 110 / 110 against linear's 200 / 20.
const cluster = defaultCluster(2);
const model = loadModelConfig('Mixtral-8x7B');
const linear = defaultPlan('linear', 1, 4, 2, [0]);

function trace(windows: number[][]) {
  return makeLoadTrace({ layerIds: [0], topK: 1, sources: [] }, 1, 4, Float64Array.from(windows.flat()), windows.map(() => ({})));
}

async function gate(windows: number[][], moeParallel: 'ep' | 'tp' = 'ep') {
  const load = trace(windows);
  const solveInput = { load: Float64Array.from([0, 0, 0, 0]), numLayers: 1, numExperts: 4, layerIds: [0], numRanks: 2, numNodes: 1, numGroups: 1, redundantSlots: 0 };
  const solver = getSolver('ballast');
  const plan = await solver.solve({ ...solveInput, load: Float64Array.from([400, 400, 40, 40]) });
  return gatePlan({ load, solveInput, solver, plan, current: linear, currentName: 'linear', model, cluster, batchTokens: 512, moeParallel });
}

test('windows: the judged plan is made on the first half only, and a skew that persists says apply', async () => {
  const g = await gate([[100, 100, 10, 10], [100, 100, 10, 10], [100, 100, 10, 10], [100, 100, 10, 10]]);
  assert.equal(g.heldOut, true);
  assert.equal(g.plannedOn, 'load windows [0, 2) of 4');
  assert.equal(g.uncertainty.batches, 2);
  // Scored windows scaled to 512 tokens: linear's ranks 465.5 / 46.5 tokens, max/mean 200/110 = 1.818;
  // the balanced plan's 256 / 256, max/mean 1.
  assert.ok(Math.abs(g.imbalance.current - 200 / 110) < 1e-9, String(g.imbalance.current));
  assert.ok(Math.abs(g.imbalance.proposed - 1) < 1e-9, String(g.imbalance.proposed));
  assert.equal(g.verdict, 'apply');
  assert.ok(g.gainPerStepUs > 0);
});

test('windows: a plan fitted to a skew that moves away is judged on the moved traffic and kept out', async () => {
  // Planned on windows 0-1 [100, 96, 12, 8]: {0, 3} / {1, 2} gives 108 / 108 (pairing 0 with 2 gives
  // 112 / 104), so that is the plan. Scored windows [100, 10, 10, 100]: under it 200 / 20 (max/mean
  // 200/110), under linear 110 / 110. A plan made on all four windows ([400, 212, 44, 216]: {0, 2} /
  // {1, 3}, 444 / 428) would have scored 110 / 110: the 200/110 shows the scored part was held out.
  const g = await gate([[100, 96, 12, 8], [100, 96, 12, 8], [100, 10, 10, 100], [100, 10, 10, 100]]);
  assert.ok(Math.abs(g.imbalance.current - 1) < 1e-9, String(g.imbalance.current));
  assert.ok(Math.abs(g.imbalance.proposed - 200 / 110) < 1e-9, String(g.imbalance.proposed));
  assert.equal(g.verdict, 'keep current');
});

test('tensor-parallel MoE: keep current, with the reason', async () => {
  const g = await gate([[100, 100, 10, 10], [100, 100, 10, 10], [100, 100, 10, 10], [100, 100, 10, 10]], 'tp');
  assert.equal(g.verdict, 'keep current');
  assert.ok(g.warnings.some((w) => /tensor parallelism/.test(w)));
});

test('one window: judged in-sample on sampled batches, with a warning that says so', async () => {
  const g = await gate([[100, 100, 10, 10]]);
  assert.equal(g.heldOut, false);
  assert.equal(g.uncertainty.batches, 16);
  assert.ok(g.warnings.some((w) => /in-sample/.test(w)));
});
