/**
 * Predicted time and the gate for a trace's current vs recommended placement, through src/predict:
 * the cost model (model config + cluster), a replay of both placements on the same batches, and
 * `predictAndGate`'s verdict.
 *
 * predictForTrace(input, current, recommended, opts) ->
 *   { gate?: GateView, series?: SeriesView (predicted µs per batch, [B] per placement), note? }
 * The model config is `opts.model` (preset or config.json) or guessed from the trace's shape; when
 * neither works there is no prediction and `note` says why.
 */
import { InputError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import type { InputData } from '../../ingest/readers.ts';
import { resolveCluster } from '../../predict/cluster-spec.ts';
import { buildCostModel } from '../../predict/cost-model.ts';
import { predictAndGate } from '../../predict/gate.ts';
import { loadModelConfig, type ModelConfig } from '../../predict/model-config.ts';
import type { ReplaySource } from '../../predict/replay.ts';
import { replayPoliciesParallel } from '../../predict/replay-parallel.ts';
import { guessModel } from '../../predict/simulate.ts';
import type { GateView, SeriesView } from './model.ts';

export interface PredictOptions {
  /** Model preset name or config.json path. */
  model?: string;
  /** Cluster preset or JSON path (default: H100 nodes of G GPUs). */
  cluster?: string;
  /** Tokens per batch (default 512). */
  batchTokens: number;
}

export interface Prediction {
  gate?: GateView;
  series?: SeriesView;
  note?: string;
}

const sig = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)) : 0);

export async function predictForTrace(input: InputData, current: Plan, recommended: Plan, opts: PredictOptions): Promise<Prediction> {
  const load = input.load;
  let model: ModelConfig | undefined;
  let modelNote = '';
  if (opts.model) model = loadModelConfig(opts.model);
  else {
    const g = guessModel(load.numExperts, load.meta.topK ?? input.routes?.topK, load.meta.model);
    if (g) {
      model = g.model;
      modelNote = g.note;
    }
  }
  if (!model) {
    return { note: `no predicted time or gate: cannot tell the model of a ${load.numExperts}-expert trace; pass --model` };
  }
  const cluster = await resolveCluster(opts.cluster, recommended.numRanks);
  const batchTokens = opts.batchTokens;
  const res = await predictAndGate({ load, routes: input.routes, plan: recommended, current, model, cluster, batchTokens, moeParallel: load.meta.moeParallel });
  const cm = buildCostModel({ model, cluster });
  const src: ReplaySource = input.routes
    ? { kind: 'routes', routes: input.routes, startToken: 0, endToken: input.routes.numTokens, batchTokens }
    : { kind: 'counts', load, startWindow: 0, endWindow: load.numWindows, stepTokens: batchTokens, topK: res.topK };
  const [cur, rec] = await replayPoliciesParallel(src, [
    { kind: 'static', name: 'current', plan: current },
    { kind: 'static', name: 'recommended', plan: recommended },
  ], cm);
  const B = cur.series.timeUs.length;
  const gate: GateView = {
    verdict: res.verdict,
    reason: [...res.reasons, ...res.warnings].join('; ') || undefined,
    figures: {
      'predicted gain per step (%)': sig(res.predictedGainPct),
      'time saved per step (µs)': sig(res.gainPerStepUs),
      'current step time (µs)': sig(res.currentStepUs),
      'move cost (ms)': sig(res.moveCostMs),
      'break-even (steps)': Number.isFinite(res.breakEvenSteps) ? sig(res.breakEvenSteps) : '∞',
      'horizon (steps)': res.horizonSteps,
      'replicas moved': res.expertsMoved,
      'extra HBM on fullest GPU (GB)': sig(res.extraHbmBytes / 1e9),
      'gain / std. error': sig(res.uncertainty.gainOverStdErr),
      'batches scored': res.uncertainty.batches,
      model: res.model + (modelNote ? ` (${modelNote})` : ''),
      cluster: res.cluster,
    },
  };
  const series: SeriesView = {
    title: `Predicted MoE time per batch (${res.model} on ${res.cluster}, ${batchTokens} tokens per batch)`,
    xName: input.routes ? 'batch' : 'window',
    xLabel: input.routes ? `batch (${batchTokens} tokens each)` : `window (scaled to ${batchTokens} tokens)`,
    yLabel: 'predicted time (µs, all MoE layers)',
    unit: 'µs',
    x: Array.from({ length: B }, (_, i) => i),
    series: [
      { label: 'current', values: Array.from(cur.series.timeUs, sig) },
      { label: 'recommended', values: Array.from(rec.series.timeUs, sig) },
    ],
    note: 'cost model of src/predict; in-sample when the plan was made on this trace',
  };
  return { gate, series };
}

/** predictForTrace, turning bad --model/--cluster input into InputError and other failures into a note. */
export async function tryPredict(input: InputData, current: Plan, recommended: Plan, opts: PredictOptions): Promise<Prediction> {
  try {
    return await predictForTrace(input, current, recommended, opts);
  } catch (e) {
    if (e instanceof InputError) throw e;
    return { note: `no predicted time or gate: ${(e as Error).message}` };
  }
}
