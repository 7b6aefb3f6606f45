/**
 * The gate behind `ballast plan`: would applying this solver's placement pay, judged on traffic the
 * plan has not seen? The plan `ballast plan` prints is made on the whole trace; the gate re-runs the
 * same solver, with the same options, on the first part of the trace and replays the rest against
 * the placement in force (--current, else the engines' linear default), then decides with
 * gateDecision (predicted gain, move cost over the horizon, imbalance, the gain's standard error over
 * the scored batches; TP and HBM vetoes).
 *
 * Splits:
 *   routes [T][L][k]      plan on tokens [0, cut), cut = first sequence start at or after f*T;
 *                         score [cut, T) in batches of batchTokens (needs at least one full batch)
 *   load windows [W][L][E], W >= 2, no routes
 *                         plan on windows [0, c), c = clamp(round(f*W), 1, W-1) (histogram and
 *                         windows); score windows [c, W), each scaled to batchTokens
 *   anything shorter      in-sample: the whole-trace plan scored on the whole trace (on batches
 *                         sampled from the histogram when there are no routes), with a warning
 */
import type { Cluster } from '../core/cluster.ts';
import { type LoadTrace, totalCounts } from '../core/load-trace.ts';
import type { Plan } from '../core/plan.ts';
import { routesToCounts, sliceRoutes, type TokenRoutes } from '../core/token-routes.ts';
import type { PlacementSolver, SolveInput } from '../plan/solver.ts';
import { predictAndGate, type PredictAndGateResult } from './gate.ts';
import type { ModelConfig } from './model-config.ts';
import { sequenceCut } from './simulate.ts';

export interface PlanGateInput {
  load: LoadTrace;
  routes?: TokenRoutes;
  /** The input the whole-trace plan was solved with (options reused for the held-out re-plan). */
  solveInput: SolveInput;
  solver: PlacementSolver;
  /** The whole-trace plan (scored only when no part can be held out; made with the solver then if omitted). */
  plan?: Plan;
  /** Placement in force now, and its name for the output ('current', 'linear'). */
  current: Plan;
  currentName: string;
  model: ModelConfig;
  cluster: Cluster;
  batchTokens: number;
  /** Share of the trace the held-out plan is made on (default 0.5). */
  trainFraction?: number;
  horizonSteps?: number;
  hbmHeadroomBytes?: number;
  moeParallel?: 'ep' | 'tp';
}

export interface PlanGateResult extends PredictAndGateResult {
  /** True when the scored part was not used to make the judged plan. */
  heldOut: boolean;
  /** What the judged plan was made on, and what it was scored on, in words. */
  plannedOn: string;
  against: string;
}

/** Batches sampled from the histogram when a histogram-only trace is scored in-sample. */
const IN_SAMPLE_BATCHES = 16;

/** Decide apply / keep current for the solver's plan (see the file comment for the split). */
export async function gatePlan(input: PlanGateInput): Promise<PlanGateResult> {
  const f = input.trainFraction ?? 0.5;
  const { load, routes, solver, solveInput } = input;
  const L = load.numLayers;
  const E = load.numExperts;
  const common = {
    load,
    routes,
    current: input.current,
    model: input.model,
    cluster: input.cluster,
    batchTokens: input.batchTokens,
    horizonSteps: input.horizonSteps,
    hbmHeadroomBytes: input.hbmHeadroomBytes,
    moeParallel: input.moeParallel,
  };
  if (routes) {
    const cut = sequenceCut(routes, f);
    if (cut > 0 && routes.numTokens - cut >= input.batchTokens) {
      const train = sliceRoutes(routes, 0, cut);
      // Load windows are not split by tokens: the held-out plan uses the first part's routes and histogram.
      const plan = await solver.solve({ ...solveInput, load: routesToCounts(train), routes: train, windows: undefined, numWindows: undefined });
      const r = await predictAndGate({ ...common, plan, scoreStart: cut });
      return { ...r, heldOut: true, plannedOn: `tokens [0, ${cut}) of ${routes.numTokens} (first sequence boundary at or after ${f})`, against: input.currentName };
    }
  } else if (load.numWindows >= 2) {
    const W = load.numWindows;
    const c = Math.min(W - 1, Math.max(1, Math.round(f * W)));
    const windows = load.counts.subarray(0, c * L * E);
    const hist = totalCounts(load, 0, c);
    const plan = await solver.solve({ ...solveInput, load: hist, windows: c >= 2 ? windows : undefined, numWindows: c >= 2 ? c : undefined });
    const r = await predictAndGate({ ...common, plan, scoreStart: c });
    return { ...r, heldOut: true, plannedOn: `load windows [0, ${c}) of ${W}`, against: input.currentName };
  }
  // Too short to hold anything out: judge the whole-trace plan on the whole trace.
  const r = await predictAndGate({
    ...common,
    plan: input.plan ?? (await solver.solve(solveInput)),
    sampleBatches: routes ? undefined : IN_SAMPLE_BATCHES,
  });
  r.warnings.push(
    routes
      ? `scored in-sample: the trace has no full ${input.batchTokens}-token batch after the ${f} split, so the verdict is optimistic`
      : 'scored in-sample: a trace of one load window has nothing to hold out, so the verdict is optimistic; record several windows (or routes) for a held-out verdict',
  );
  return { ...r, heldOut: false, plannedOn: 'the whole trace', against: input.currentName };
}
