/**
 * Solver registry: every placement solver, each in its own folder, behind one interface
 * (src/plan/solver.ts). One conformance test (common.case.test.ts) runs against all of them.
 */
import { InputError } from '../../core/errors.ts';
import type { PlacementSolver } from '../solver.ts';
import { solver as ballast } from './ballast/index.ts';
import { solver as deepseek } from './deepseek/index.ts';
import { solver as exact } from './exact/index.ts';
import { solver as linear } from './linear/index.ts';
import { solver as roundRobin } from './round-robin/index.ts';

export const SOLVERS: PlacementSolver[] = [ballast, deepseek, linear, roundRobin, exact];

/** The solver named `name`; InputError listing the names when there is none. */
export function getSolver(name: string): PlacementSolver {
  const s = SOLVERS.find((x) => x.name === name);
  if (!s) {
    throw new InputError('--solver', '', `unknown solver '${name}'; expected one of ${SOLVERS.map((x) => x.name).join(', ')}`);
  }
  return s;
}
