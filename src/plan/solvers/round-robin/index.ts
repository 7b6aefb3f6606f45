/**
 * round-robin: the engines' other default (vLLM `--expert-placement-strategy round_robin`): expert e
 * lives on rank e mod G. No replicas: it refuses R > 0.
 */
import { defaultPlacementSolve } from '../default-solve.ts';
import type { PlacementSolver, SolveInput } from '../../solver.ts';
import type { Plan } from '../../../core/plan.ts';

export const solver: PlacementSolver = {
  name: 'round-robin',
  description: 'engine default: expert e on rank e mod G (no replicas)',
  supportsReplicas: false,
  solve(input: SolveInput): Plan {
    return defaultPlacementSolve(input, 'round-robin');
  },
};
