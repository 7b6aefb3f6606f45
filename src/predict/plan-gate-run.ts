/**
 * The one gate `ballast plan`, `ballast report` and the dashboard's plan playground run, with the
 * same defaults everywhere: the model (--model, else guessed from the trace's shape), the cluster
 * (--cluster, else H100-SXM nodes of 8), the placement in force (--current, else the engines'
 * linear default) and 512-token steps. It then calls gatePlan (plan-gate.ts: held out when the
 * trace is long enough, in-sample with a warning otherwise).
 *
 * runPlanGate(...) -> { gate?: PlanGateResult, notes: string[] }: no gate, with a note saying why,
 * when one of model / cluster / default placement is missing; it never fails the plan.
 */
import type { Cluster } from '../core/cluster.ts';
import { defaultPlan } from '../core/default-placements.ts';
import type { LoadTrace } from '../core/load-trace.ts';
import type { Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import type { PlacementSolver, SolveInput } from '../plan/solver.ts';
import { defaultCluster } from './cluster-spec.ts';
import { modelPresetNames, type ModelConfig } from './model-config.ts';
import { gatePlan, type PlanGateResult } from './plan-gate.ts';
import { guessModel } from './simulate.ts';

/** Tokens per engine step the gate replays when not told (the same default in every command). */
export const GATE_BATCH_TOKENS = 512;

export interface RunPlanGateInput {
  load: LoadTrace;
  routes?: TokenRoutes;
  /** The whole-trace plan and the input it was solved with (re-solved on the first part). */
  plan: Plan;
  solveInput: SolveInput;
  solver: PlacementSolver;
  /** --cluster, resolved; default H100-SXM nodes of 8 GPUs. */
  cluster?: Cluster;
  /** --current, read; default the engines' linear placement. */
  current?: Plan;
  numNodes: number;
  /** --model, resolved; default guessed from the trace's shape. */
  model?: ModelConfig;
  batchTokens?: number;
  trainFraction?: number;
  horizonSteps?: number;
  hbmHeadroomBytes?: number;
  /** --moe-tp; else what the capture recorded; else expert parallel. */
  moeTp?: boolean;
}

export interface RunPlanGateResult {
  gate?: PlanGateResult;
  notes: string[];
  /** What the gate ran with, once resolved (absent when there is no gate). */
  resolved?: { model: ModelConfig; cluster: Cluster; current: Plan; currentName: string };
}

export async function runPlanGate(r: RunPlanGateInput): Promise<RunPlanGateResult> {
  const notes: string[] = [];
  const { load, routes } = r;
  const { numLayers: L, numExperts: E } = load;
  const G = r.plan.numRanks;
  let model: ModelConfig;
  if (r.model) model = r.model;
  else {
    const g = guessModel(E, routes?.topK ?? load.meta.topK, load.meta.model);
    if (!g) {
      notes.push(`no gate: cannot tell the model of a ${E}-expert trace; pass --model (${modelPresetNames().join(', ')} or a config.json)`);
      return { notes };
    }
    model = g.model;
    notes.push(g.note);
  }
  let cluster = r.cluster;
  if (!cluster) {
    const perNode = Math.min(8, G);
    if (G % perNode !== 0 || G / perNode !== r.numNodes) {
      notes.push(`no gate: the cost model needs the links between ${G} GPUs on ${r.numNodes} node(s); pass --cluster`);
      return { notes };
    }
    cluster = defaultCluster(G);
  }
  let current = r.current;
  let currentName = 'current';
  if (!current) {
    if (E % G !== 0) {
      notes.push(`no gate: ${E} experts do not divide over ${G} GPUs, so there is no default placement to compare with; pass --current`);
      return { notes };
    }
    current = defaultPlan('linear', L, E, G, load.meta.layerIds, G / r.numNodes);
    currentName = 'linear (the engines\' default)';
  }
  const gate = await gatePlan({
    load,
    routes,
    solveInput: r.solveInput,
    solver: r.solver,
    plan: r.plan,
    current,
    currentName,
    model,
    cluster,
    batchTokens: r.batchTokens ?? GATE_BATCH_TOKENS,
    trainFraction: r.trainFraction,
    horizonSteps: r.horizonSteps,
    hbmHeadroomBytes: r.hbmHeadroomBytes,
    // --moe-tp, else what the capture recorded (vLLM FusedMoE use_ep / tp_size), else expert parallel.
    moeParallel: r.moeTp ? 'tp' : (load.meta.moeParallel ?? 'ep'),
  });
  return { gate, notes, resolved: { model, cluster, current, currentName } };
}
