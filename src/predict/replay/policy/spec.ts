/**
 * Policy specifications and results (what a policy is; policy/*.ts hold each policy's decisions).
 */
import type { Plan } from '../../../core/plan.ts';
import type { PlacementSolver, SolveInput } from '../../../plan/solver.ts';
import type { BatchSeries } from '../series.ts';
import type { ReplicaRouting } from '../source.ts';

/** The parts of a SolveInput a policy fills per re-plan (load, current, routes are set per call). */
export type SolveBase = Omit<SolveInput, 'load' | 'current' | 'routes' | 'windows' | 'numWindows'>;

export type PolicySpec =
  | { kind: 'static'; name: string; plan: Plan }
  | {
      kind: 'periodic';
      name: string;
      /** Placement before the first re-plan (vLLM starts from its default, linear). */
      initial: Plan;
      solver: PlacementSolver;
      solveBase: SolveBase;
      /** Batches of history each re-plan uses (vLLM window_size). */
      window: number;
      /** Re-plan after every `interval` batches (vLLM step_interval). */
      interval: number;
    }
  | { kind: 'oracle'; name: string; solver: PlacementSolver; solveBase: SolveBase };

export interface PolicyResult {
  name: string;
  kind: PolicySpec['kind'];
  series: BatchSeries;
  /** The plan in force at the end of the replay. */
  finalPlan?: Plan;
  /** Re-plans performed (periodic; oracle: one per batch). */
  replans: number;
  /** Replicas moved over the whole replay (periodic re-plans). */
  expertsMoved: number;
}

export interface ReplayOptions {
  routing?: ReplicaRouting;
}
