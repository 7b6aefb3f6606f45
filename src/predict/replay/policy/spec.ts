/**
 * Policy specifications and results (what a policy is). The decisions of the re-planning policies
 * live in eplb.ts (with their state in state.ts); execute.ts runs them batch by batch.
 */
import type { Plan } from '../../../core/plan.ts';
import type { PlacementSolver, SolveInput } from '../../../plan/solver.ts';
import type { BatchSeries } from '../series.ts';
import type { ReplicaRouting } from '../source.ts';

/** The parts of a SolveInput a policy fills per re-plan (load, current, routes are set per call). */
export type SolveBase = Omit<SolveInput, 'load' | 'current' | 'routes' | 'windows' | 'numWindows'>;

/**
 * An engine's periodic re-balancing, in engine steps (one replayed batch = one step):
 *   windowSteps        steps of load each re-plan sums (vLLM window_size, SGLang recorder buffer)
 *   intervalSteps      steps between re-plans (vLLM step_interval, SGLang eplb_rebalance_num_iterations)
 *   firstAfterSteps    steps before the first re-plan (vLLM starts its counter 3/4 of the way)
 *   async              true: the new placement is copied in the background and applied one layer
 *                      per step (vLLM use_async), the copy overlapping compute and not charged to
 *                      any step; false: every layer moves at once and the step pays the copy time
 *   source             the engine source this replays, for outputs
 */
export interface EplbConfig {
  engine: 'vllm' | 'sglang';
  windowSteps: number;
  intervalSteps: number;
  firstAfterSteps: number;
  async: boolean;
  source: string;
}

export type PolicySpec =
  | { kind: 'static'; name: string; plan: Plan }
  | {
      kind: 'eplb';
      name: string;
      /** Placement before the first re-plan (both engines start from their default, linear). */
      initial: Plan;
      /** The engine's re-balancing algorithm (both: DeepSeek's EPLB). */
      solver: PlacementSolver;
      solveBase: SolveBase;
      config: EplbConfig;
      /**
       * Per-step expert counts [L][E] of steps the engine served before the scored part (the
       * planning part of the trace): they fill the window and advance the step counter, unscored.
       */
      warmup?: Float64Array[];
    }
  | { kind: 'oracle'; name: string; solver: PlacementSolver; solveBase: SolveBase };

export interface PolicyResult {
  name: string;
  kind: PolicySpec['kind'];
  series: BatchSeries;
  /** The plan in force at the end of the replay. */
  finalPlan?: Plan;
  /** Re-plans performed (eplb: during warmup and scoring; oracle: one per batch). */
  replans: number;
  /** Expert copies moved over the whole replay (eplb re-plans, warmup included). */
  expertsMoved: number;
  /** eplb: steps served before the scored part, and re-plans that happened in them. */
  warmupSteps?: number;
  warmupReplans?: number;
}

export interface ReplayOptions {
  routing?: ReplicaRouting;
}
