/**
 * linear: the engines' default placement (vLLM `--expert-placement-strategy linear`): rank r holds the
 * contiguous experts [r*E/G, (r+1)*E/G), phy2log[p] = p in every layer. No replicas: it refuses R > 0.
 */
import { defaultPlacementSolve } from '../default-solve.ts';
import type { PlacementSolver, SolveInput } from '../../solver.ts';
import type { Plan } from '../../../core/plan.ts';

export const solver: PlacementSolver = {
  name: 'linear',
  description: 'engine default: rank r holds a contiguous block of E/G experts (no replicas)',
  supportsReplicas: false,
  solve(input: SolveInput): Plan {
    return defaultPlacementSolve(input, 'linear');
  },
};
