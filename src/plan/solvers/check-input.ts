/**
 * Shape checks shared by every solver: impossible shapes are rejected with an InputError that names
 * the numbers (which flag, what it was, what would work).
 */
import { InputError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { SolveInput } from '../solver.ts';

/**
 * Check the parts of a SolveInput every solver relies on.
 * - load has L*E values, windows (when given) W*L*E;
 * - G >= 1, numNodes divides G, numGroups divides E;
 * - P = E + R is a multiple of G and at least G;
 * - a memory budget, when given with expertBytes, holds the R/G extra slots per layer on each GPU.
 * Returns P.
 */
export function checkSolveInput(input: SolveInput): number {
  const { numLayers: L, numExperts: E, numRanks: G } = input;
  const numNodes = input.numNodes ?? 1;
  const numGroups = input.numGroups ?? 1;
  const R = input.redundantSlots ?? 0;
  if (!Number.isInteger(L) || L < 1) throw new InputError('--layers', '', `expected a positive layer count, got ${L}`);
  if (!Number.isInteger(E) || E < 1) throw new InputError('--experts', '', `expected a positive expert count, got ${E}`);
  if (!Number.isInteger(G) || G < 1) throw new InputError('--ranks', '', `expected a positive rank (GPU) count, got ${G}`);
  if (input.load.length !== L * E) {
    throw new InputError('load', '', `expected ${L} layers x ${E} experts = ${L * E} values, got ${input.load.length}`);
  }
  if (input.layerIds.length !== L) throw new InputError('load', 'layerIds', `expected ${L} layer ids, got ${input.layerIds.length}`);
  for (let i = 0; i < input.load.length; i++) {
    const v = input.load[i];
    if (!(v >= 0) || !Number.isFinite(v)) {
      throw new InputError('load', `layer ${Math.floor(i / E)} expert ${i % E}`, `expected a finite non-negative load, got ${v}`);
    }
  }
  if (input.windows) {
    const W = input.numWindows ?? input.windows.length / (L * E);
    if (!Number.isInteger(W) || input.windows.length !== W * L * E) {
      throw new InputError('windows', '', `expected numWindows x ${L} x ${E} values, got ${input.windows.length}`);
    }
  }
  if (!Number.isInteger(numNodes) || numNodes < 1 || G % numNodes !== 0) {
    throw new InputError('--nodes', '', `${numNodes} nodes do not divide ${G} GPUs; expected a node count that divides ${G}`);
  }
  if (!Number.isInteger(numGroups) || numGroups < 1 || E % numGroups !== 0) {
    throw new InputError('--groups', '', `${numGroups} expert groups do not divide ${E} experts; expected a group count that divides ${E}`);
  }
  if (!Number.isInteger(R) || R < 0) throw new InputError('--redundant', '', `expected a non-negative redundant slot count, got ${R}`);
  const P = E + R;
  if (P < G) {
    throw new InputError('--ranks', '', `${P} slots (${E} experts + ${R} redundant) are fewer than ${G} GPUs; every GPU needs at least one slot`);
  }
  if (P % G !== 0) {
    const up = Math.ceil(P / G) * G - E;
    throw new InputError(
      '--redundant',
      '',
      `${P} slots (${E} experts + ${R} redundant) do not divide evenly over ${G} GPUs; use ${up} redundant slots (P = ${E + up})`,
    );
  }
  if (input.cluster && input.cluster.gpus.length !== G) {
    throw new InputError('--cluster', '', `the cluster has ${input.cluster.gpus.length} GPUs but ${G} ranks were asked for`);
  }
  if (input.memoryBudgetBytes !== undefined) {
    const B = input.memoryBudgetBytes;
    const eb = input.expertBytes;
    if (!(B >= 0)) throw new InputError('--memory-budget', '', `expected a non-negative byte count, got ${B}`);
    if (eb === undefined || !(eb > 0)) {
      throw new InputError('--expert-bytes', '', `a memory budget needs the bytes of one expert in one layer (got ${eb})`);
    }
    if (R > 0 && !input.allowVariableSlots) {
      const need = (R / G) * L * eb;
      if (need > B) {
        throw new InputError(
          '--memory-budget',
          '',
          `${R} redundant slots over ${G} GPUs and ${L} layers need ${need} bytes per GPU (${R / G} x ${L} x ${eb}), budget is ${B}`,
        );
      }
    }
  }
  return P;
}

/** One layer's load. Shapes: load [L][E] -> view [E]. */
export function layerLoad(input: SolveInput, l: number): Float64Array {
  return input.load.subarray(l * input.numExperts, (l + 1) * input.numExperts);
}

/** A plan skeleton for the input's shape. */
export function emptyPlan(input: SolveInput, solver: string, phy2log: Int32Array[], params?: Record<string, unknown>): Plan {
  const nodes = input.numNodes ?? 1;
  return {
    version: 1,
    numLayers: input.numLayers,
    numExperts: input.numExperts,
    numRanks: input.numRanks,
    layerIds: input.layerIds.slice(),
    phy2log,
    ranksPerNode: input.numRanks / nodes,
    solver,
    params,
  };
}
