/**
 * deepseek: DeepSeek EPLB as both engines ship it (docs/solvers.md#deepseek), ported faithfully in eplb.ts —
 * hierarchical when expert groups divide by nodes, global otherwise, same tie-breaking, same known
 * fault (two replicas of one expert may share a GPU; the plan then records allowColocatedReplicas).
 *
 * Uniform R in every layer (the reference takes one num_replicas). It ignores windows, routes, the
 * cluster's speeds and the current placement, like the reference.
 */
import type { Plan } from '../../../core/plan.ts';
import type { PlacementSolver, SolveInput } from '../../solver.ts';
import { checkSolveInput, emptyPlan, layerLoad } from '../check-input.ts';
import { eplbScratch, rebalanceLayer } from './eplb.ts';

/** Shapes: input.load [L][E] -> Plan with phy2log[L][P], P = E + R. */
export function solveDeepseek(input: SolveInput): Plan {
  const P = checkSolveInput(input);
  const { numLayers: L, numExperts: E, numRanks: G } = input;
  const numGroups = input.numGroups ?? 1;
  const numNodes = input.numNodes ?? 1;
  const s = eplbScratch(E, P, G, numGroups);
  const phy2log: Int32Array[] = [];
  let colocated = false;
  const S = P / G;
  const seen = new Int32Array(E).fill(-1);
  for (let l = 0; l < L; l++) {
    const row = new Int32Array(P);
    rebalanceLayer(layerLoad(input, l), P, numGroups, numNodes, G, row, s);
    phy2log.push(row);
    if (!colocated && P > E) {
      seen.fill(-1);
      for (let p = 0; p < P && !colocated; p++) {
        const r = Math.floor(p / S);
        if (seen[row[p]] === r) colocated = true;
        seen[row[p]] = r;
      }
    }
  }
  const hierarchical = numGroups % numNodes === 0;
  const plan = emptyPlan(input, 'deepseek', phy2log, {
    redundantSlots: P - E,
    numGroups,
    numNodes,
    mode: hierarchical ? 'hierarchical' : 'global',
  });
  if (colocated) plan.allowColocatedReplicas = true;
  return plan;
}

export const solver: PlacementSolver = {
  name: 'deepseek',
  description: 'DeepSeek EPLB port (hierarchical/global, as vLLM and SGLang ship it)',
  supportsReplicas: true,
  solve: solveDeepseek,
};
