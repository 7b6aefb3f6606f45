/**
 * Shared body of the `linear` and `round-robin` solvers: the engines' default placements, the same in
 * every layer, with no replicas (they refuse R > 0 rather than silently drop the slots).
 */
import { InputError } from '../../core/errors.ts';
import { type DefaultPlacement, linearPhy2log, roundRobinPhy2log } from '../../core/default-placements.ts';
import type { Plan } from '../../core/plan.ts';
import type { SolveInput } from '../solver.ts';
import { checkSolveInput, emptyPlan } from './check-input.ts';

/** Shapes: input with R = 0 and G dividing E -> Plan with phy2log[L][E]. */
export function defaultPlacementSolve(input: SolveInput, kind: DefaultPlacement): Plan {
  if ((input.redundantSlots ?? 0) > 0) {
    throw new InputError(
      '--redundant',
      '',
      `the ${kind} placement has no replicas; got ${input.redundantSlots} redundant slots (use --solver ballast or deepseek, or --redundant 0)`,
    );
  }
  checkSolveInput(input);
  const row = kind === 'linear' ? linearPhy2log(input.numExperts, input.numRanks) : roundRobinPhy2log(input.numExperts, input.numRanks);
  return emptyPlan(
    input,
    kind,
    Array.from({ length: input.numLayers }, () => row.slice()),
  );
}
