import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../../core/errors.ts';
import { validatePlan } from '../../../core/plan.ts';
import type { SolveInput } from '../../solver.ts';
import { esftCounts } from '../real-data.ts';
import { solveDeepseek } from './index.ts';

function one(w: number[], G: number, R: number, extra: Partial<SolveInput> = {}): SolveInput {
  return { load: Float64Array.from(w), numLayers: 1, numExperts: w.length, layerIds: [0], numRanks: G, numNodes: 1, numGroups: 1, redundantSlots: R, ...extra };
}

test('global EPLB by hand: weights [90,10,30,20], 2 GPUs, 2 redundant slots', () => {
  // Replicate (argmax w/c, first index wins): c=[1,1,1,1] -> w/c=[90,10,30,20] -> expert 0 (c0=2);
  //   w/c=[45,10,30,20] -> expert 0 again (c0=3). phy2log before packing = [0,1,2,3,0,0],
  //   per-replica weights [30,10,30,20,30,30].
  // Pack into 2 GPUs x 3 slots, heaviest first (stable: phys 0,2,4,5 at 30, then 3 at 20, 1 at 10),
  //   each into the lightest GPU with room, first index wins ties:
  //   phy0 -> g0 [30,0]; phy2 -> g1 [30,30]; phy4 -> g0 (tie) [60,30]; phy5 -> g1 [60,60];
  //   phy3 -> g0 (tie) [80,60]; phy1 -> g1 (g0 full) [80,70].
  //   g0 = phys 0,4,3 -> experts 0,0,3; g1 = phys 2,5,1 -> experts 2,0,1.
  const plan = solveDeepseek(one([90, 10, 30, 20], 2, 2));
  assert.deepEqual(Array.from(plan.phy2log[0]), [0, 0, 3, 2, 0, 1]);
  // Two replicas of expert 0 on GPU 0: the reference's known fault, recorded in the plan.
  assert.equal(plan.allowColocatedReplicas, true);
  validatePlan(plan);
});

test('hierarchical EPLB by hand: 8 experts, 4 groups, 2 nodes, 4 GPUs, no replicas', () => {
  // w = [5,1,7,3,2,2,6,4]; groups of 2: g0=6, g1=10, g2=4, g3=10.
  // Groups -> nodes (2 per node), order g1,g3,g0,g2: g1->n0, g3->n1, g0->n0 (tie 10/10), g2->n1.
  //   node 0 holds g1 then g0 -> experts [2,3,0,1]; node 1 holds g3 then g2 -> [6,7,4,5].
  // Node 0 weights [7,3,5,1] -> 2 GPUs x 2: 7->gpu0, 5->gpu1, 3->gpu1, 1->gpu0: gpu0=[2,1], gpu1=[0,3].
  // Node 1 weights [6,4,2,2] -> 6->gpu0, 4->gpu1, 2 (expert 4)->gpu1, 2 (expert 5)->gpu0:
  //   gpu2=[6,5], gpu3=[7,4].
  const plan = solveDeepseek(one([5, 1, 7, 3, 2, 2, 6, 4], 4, 0, { numGroups: 4, numNodes: 2 }));
  assert.deepEqual(Array.from(plan.phy2log[0]), [2, 1, 0, 3, 6, 5, 7, 4]);
  assert.equal(plan.params?.mode, 'hierarchical');
  assert.notEqual(plan.allowColocatedReplicas, true);
});

test('groups that do not divide by nodes fall back to the global algorithm (one group, one node)', () => {
  const w = [5, 1, 7, 3, 2, 2, 6, 4];
  const a = solveDeepseek(one(w, 4, 4, { numGroups: 2, numNodes: 4 }));
  const b = solveDeepseek(one(w, 4, 4));
  assert.deepEqual(Array.from(a.phy2log[0]), Array.from(b.phy2log[0]));
  assert.equal(a.params?.mode, 'global');
});

test('real trace: on ESFT intent (8 GPUs, 8 redundant) EPLB puts two replicas of expert 26 on GPU 7 in layer 1', () => {
  const s = esftCounts('intent');
  const plan = solveDeepseek({
    load: s.load, numLayers: 26, numExperts: 64, layerIds: Array.from({ length: 26 }, (_, i) => i + 1),
    numRanks: 8, numNodes: 1, numGroups: 1, redundantSlots: 8,
  });
  assert.equal(plan.allowColocatedReplicas, true);
  const gpu7 = Array.from(plan.phy2log[0].subarray(7 * 9, 8 * 9));
  assert.equal(gpu7.filter((e) => e === 26).length, 2);
  // The plan is still structurally valid once colocation is allowed, and rejected otherwise.
  validatePlan(plan);
  assert.throws(() => validatePlan({ ...plan, allowColocatedReplicas: false }), InputError);
});
