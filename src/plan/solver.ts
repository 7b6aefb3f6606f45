/**
 * The placement-solver interface. Every solver (src/plan/solvers/<name>/) implements it, and one
 * conformance test (src/plan/solvers/common.case.test.ts) runs against all of them.
 */
import type { Cluster } from '../core/cluster.ts';
import type { Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';

export interface SolveInput {
  /** [L][E] planning load (e.g. summed or averaged over windows). */
  load: Float64Array;
  /** Optional [W][L][E] per-window loads, for variance- and drift-aware solvers. */
  windows?: Float64Array;
  numWindows?: number;
  numLayers: number;
  numExperts: number;
  layerIds: number[];
  /** EP size G. */
  numRanks: number;
  /** Nodes (G divisible by it). Default 1. */
  numNodes: number;
  /** Expert groups for hierarchical solvers (E divisible by it). Default 1. */
  numGroups: number;
  /**
   * Redundant slots per layer (P = E + R), when fixed. When a memory budget is given instead,
   * solvers that support it choose R per layer.
   */
  redundantSlots: number;
  /** Per-GPU bytes for extra replicas, with expertBytes: the memory budget. */
  memoryBudgetBytes?: number;
  /** Bytes of one expert in one layer. */
  expertBytes?: number;
  /** True when the target allows different slot counts per layer. */
  allowVariableSlots?: boolean;
  cluster?: Cluster;
  /** Token routes of the planning part, for co-activation-aware solvers. */
  routes?: TokenRoutes;
  /** Current placement, to minimise moves. */
  current?: Plan;
  allowColocatedReplicas?: boolean;
  /** Balance tolerance the solver may give up for locality (fraction, e.g. 0.02). */
  balanceTolerance?: number;
  /** Seed for any randomised step (solvers must be deterministic for a given seed). */
  seed?: number;
  /**
   * Tokens per forward pass (engine step) the placement will serve, for solvers that plan for
   * per-step balance (ballast's variance-aware step). Default: the solver's own (512).
   */
  batchTokens?: number;
}

export interface PlacementSolver {
  readonly name: string;
  /** One-line description for --help and reports. */
  readonly description: string;
  /** True when the solver can place redundant replicas. */
  readonly supportsReplicas: boolean;
  solve(input: SolveInput): Plan | Promise<Plan>;
}
