/**
 * The SolveInput for a whole trace, built one way for `ballast plan`, `report` and the dashboard's
 * playground, so that the same trace and flags give the same plan (and the same gate) everywhere.
 *
 * solveInputForTrace(load [W][L][E], routes?, opts) -> SolveInput with
 *   load    = the [L][E] sum over windows
 *   windows = the [W][L][E] counts when W > 1 (else none: one window carries no drift)
 *   current = only the placement the user says is in force (a solver given one minimises moves
 *             and skips steps that assume a fresh start, so a default linear is not passed)
 */
import type { Cluster } from '../core/cluster.ts';
import { type LoadTrace, totalCounts } from '../core/load-trace.ts';
import type { Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import type { SolveInput } from './solver.ts';

export interface TraceSolveOptions {
  numRanks: number;
  numNodes: number;
  numGroups?: number;
  redundantSlots?: number;
  memoryBudgetBytes?: number;
  expertBytes?: number;
  allowVariableSlots?: boolean;
  cluster?: Cluster;
  /** The placement in force, when the user gave one. */
  current?: Plan;
  allowColocatedReplicas?: boolean;
  balanceTolerance?: number;
  seed?: number;
  batchTokens?: number;
}

export function solveInputForTrace(trace: LoadTrace, routes: TokenRoutes | undefined, o: TraceSolveOptions): SolveInput {
  const W = trace.numWindows;
  return {
    load: totalCounts(trace),
    windows: W > 1 ? trace.counts : undefined,
    numWindows: W > 1 ? W : undefined,
    numLayers: trace.numLayers,
    numExperts: trace.numExperts,
    layerIds: trace.meta.layerIds.slice(),
    numRanks: o.numRanks,
    numNodes: o.numNodes,
    numGroups: o.numGroups ?? 1,
    redundantSlots: o.redundantSlots ?? 0,
    memoryBudgetBytes: o.memoryBudgetBytes,
    expertBytes: o.expertBytes,
    allowVariableSlots: o.allowVariableSlots ?? false,
    cluster: o.cluster,
    routes,
    current: o.current,
    allowColocatedReplicas: o.allowColocatedReplicas ?? false,
    balanceTolerance: o.balanceTolerance,
    seed: o.seed,
    batchTokens: o.batchTokens,
  };
}
