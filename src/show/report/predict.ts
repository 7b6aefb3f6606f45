/**
 * Predicted time and the gate for a trace's current vs recommended placement, for the report and the
 * dashboard: the same gate `ballast plan` runs (src/predict/plan-gate-run.ts: held out when the
 * trace is long enough, in-sample and said so otherwise), shown through planGateView, plus the
 * predicted MoE time per batch of both placements replayed on the whole trace.
 *
 * predictForTrace(input, recommended, opts) ->
 *   { gate?: GateView, series?: SeriesView (predicted µs per batch, [B] per placement), note? }
 */
import type { Cluster } from '../../core/cluster.ts';
import { InputError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { InputData } from '../../ingest/readers.ts';
import type { PlacementSolver, SolveInput } from '../../plan/solver.ts';
import { buildCostModel } from '../../predict/cost-model.ts';
import { loadModelConfig } from '../../predict/model-config.ts';
import { runPlanGate } from '../../predict/plan-gate-run.ts';
import type { ReplaySource } from '../../predict/replay.ts';
import { replayPoliciesParallel } from '../../predict/replay-parallel.ts';
import { planGateView } from './gate-view.ts';
import type { GateView, SeriesView } from './model.ts';

export interface PredictOptions {
  /** Model preset name or config.json path (default: guessed from the trace). */
  model?: string;
  /** The cluster, resolved (default: H100-SXM nodes of 8). */
  cluster?: Cluster;
  numNodes: number;
  /** The placement the user says is in force (default: linear). */
  current?: Plan;
  /** How the recommended plan was solved; absent for a plan read from a file. */
  solved?: { solver: PlacementSolver; solveInput: SolveInput };
  /** Tokens per batch (default 512). */
  batchTokens: number;
}

export interface Prediction {
  gate?: GateView;
  series?: SeriesView;
  note?: string;
}

const sig = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)) : 0);

export async function predictForTrace(input: InputData, recommended: Plan, opts: PredictOptions): Promise<Prediction> {
  const load = input.load;
  const fromFile = !opts.solved;
  // A plan from a file is not re-made on part of the trace: the "solver" hands back the same plan,
  // so the gate scores it on the second part (in-sample if the file was made from this trace).
  const solver: PlacementSolver = opts.solved?.solver ?? { name: 'given', description: 'the plan given', supportsReplicas: true, solve: () => recommended };
  const solveInput: SolveInput = opts.solved?.solveInput ?? {
    load: new Float64Array(0), numLayers: load.numLayers, numExperts: load.numExperts, layerIds: [...load.meta.layerIds],
    numRanks: recommended.numRanks, numNodes: opts.numNodes, numGroups: 1, redundantSlots: 0,
  };
  const run = await runPlanGate({
    load,
    routes: input.routes,
    plan: recommended,
    solveInput,
    solver,
    cluster: opts.cluster,
    current: opts.current,
    numNodes: opts.numNodes,
    model: opts.model ? loadModelConfig(opts.model) : undefined,
    batchTokens: opts.batchTokens,
  });
  if (!run.gate || !run.resolved) return { note: run.notes.join('; ').replace(/^no gate:/, 'no predicted time or gate:') };
  const { model, cluster, current } = run.resolved;
  const hasReplicas = recommended.phy2log.some((r) => r.length > recommended.numExperts);
  const view = planGateView(run.gate, { solver: recommended.solver ?? solver.name, notes: run.notes, hasReplicas, fromFile });
  const batchTokens = opts.batchTokens;
  const cm = buildCostModel({ model, cluster });
  const src: ReplaySource = input.routes
    ? { kind: 'routes', routes: input.routes, startToken: 0, endToken: input.routes.numTokens, batchTokens }
    : { kind: 'counts', load, startWindow: 0, endWindow: load.numWindows, stepTokens: batchTokens, topK: run.gate.topK };
  const [cur, rec] = await replayPoliciesParallel(src, [
    { kind: 'static', name: 'current', plan: current },
    { kind: 'static', name: 'recommended', plan: recommended },
  ], cm);
  const B = cur.series.timeUs.length;
  const series: SeriesView = {
    title: `Predicted MoE time per batch (${model.name} on ${cluster.name}, ${batchTokens} tokens per batch)`,
    xName: input.routes ? 'batch' : 'window',
    xLabel: input.routes ? `batch (${batchTokens} tokens each)` : `window (scaled to ${batchTokens} tokens)`,
    yLabel: 'predicted time (µs, all MoE layers)',
    unit: 'µs',
    x: Array.from({ length: B }, (_, i) => i),
    series: [
      { label: 'current', values: Array.from(cur.series.timeUs, sig) },
      { label: 'recommended', values: Array.from(rec.series.timeUs, sig) },
    ],
    note: view.heldOut
      ? 'whole trace, in-sample (the recommended plan was made on all of it); the gate is judged on held-out traffic'
      : 'whole trace, in-sample when the plan was made on this trace',
  };
  return { gate: view, series };
}

/** predictForTrace, turning bad --model input into InputError and other failures into a note. */
export async function tryPredict(input: InputData, recommended: Plan, opts: PredictOptions): Promise<Prediction> {
  try {
    return await predictForTrace(input, recommended, opts);
  } catch (e) {
    if (e instanceof InputError) throw e;
    return { note: `no predicted time or gate: ${(e as Error).message}` };
  }
}
