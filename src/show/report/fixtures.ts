/**
 * Small hand-checkable inputs for the report, dashboard and diff tests.
 *
 * tinyTrace: L=2 layers (model ids 3, 5), E=4 experts, 2 windows
 *   window 0: layer 3 [4,2,1,1], layer 5 [1,1,1,1]
 *   window 1: layer 3 [4,2,1,1], layer 5 [3,1,0,0]
 *   totals:   layer 3 [8,4,2,2] (16), layer 5 [4,2,1,1] (8)
 * swapPlan: 2 ranks, phy2log [0,3,1,2] in both layers (rank 0 holds {0,3}, rank 1 {1,2}).
 */
import { makeLoadTrace, type LoadTrace } from '../../core/load-trace.ts';
import type { Plan } from '../../core/plan.ts';
import type { InputData } from '../../ingest/readers.ts';

export function tinyTrace(model = 'tiny-moe'): LoadTrace {
  return makeLoadTrace(
    { model, layerIds: [3, 5], topK: 2, sources: [{ path: 'tiny.ballast', format: 'ballast' }] },
    2,
    4,
    Float64Array.from([4, 2, 1, 1, 1, 1, 1, 1, 4, 2, 1, 1, 3, 1, 0, 0]),
    [{ step: 10 }, { step: 20 }],
  );
}

export function tinyInput(model?: string): InputData {
  return { path: '/tmp/tiny.ballast', format: 'ballast', load: tinyTrace(model), warnings: [] };
}

export function swapPlan(): Plan {
  return {
    version: 1,
    numLayers: 2,
    numExperts: 4,
    numRanks: 2,
    ranksPerNode: 2,
    layerIds: [3, 5],
    phy2log: [Int32Array.from([0, 3, 1, 2]), Int32Array.from([0, 3, 1, 2])],
    solver: 'hand',
  };
}

/** A synthetic trace of the given shape whose expert e in layer l gets 1 + ((l * 7 + e * 13) % 50) per window. */
export function syntheticTrace(L: number, E: number, W: number, model = 'synthetic'): LoadTrace {
  const counts = new Float64Array(W * L * E);
  for (let w = 0; w < W; w++)
    for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) counts[(w * L + l) * E + e] = 1 + ((l * 7 + e * 13 + w) % 50);
  return makeLoadTrace(
    { model, layerIds: Array.from({ length: L }, (_, i) => i + 1), topK: 8, sources: [{ path: 'synthetic', format: 'ballast' }] },
    L,
    E,
    counts,
    Array.from({ length: W }, (_, i) => ({ step: i })),
  );
}
