/**
 * The gate: should a proposed placement replace the current one? Decided by predicted time, not by
 * a fixed imbalance threshold.
 *
 * Inputs are paired per-batch predictions of the same batches under both placements (replay.ts).
 *   d_b            = time_current(b) - time_proposed(b)             (us saved in batch b)
 *   gain           = mean_b d_b                                     (us saved per step)
 *   stdErr         = sd_b(d_b) / sqrt(B)                            (sample sd, B - 1 denominator)
 *   amortisedMove  = moveCost / horizonSteps                        (us per step)
 *   net            = gain - amortisedMove
 *   apply  iff  net > 0  and  gain > k * stdErr  and  100 * gain / mean_b time_current(b) >= minGainPct
 * plus two vetoes: MoE layers served with tensor parallelism (no expert owns a rank: nothing to
 * rebalance) and replicas that need more HBM per GPU than the stated headroom.
 * With B = 1 batch the spread is unknown: the decision rests on net alone and a warning says so.
 */
import type { Cluster } from '../core/cluster.ts';
import { InputError } from '../core/errors.ts';
import { type LoadTrace, totalCounts } from '../core/load-trace.ts';
import type { Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { resolveCluster } from './cluster-spec.ts';
import { buildCostModel, type ConstantName, type CostModel, crossoverTokens, moveTimeUs } from './cost-model.ts';
import { loadModelConfig, type ModelConfig } from './model-config.ts';
import { movedReplicas } from './plan-tables.ts';
import { sampleRoutesFromCounts } from './sample-counts.ts';
import type { ReplaySource } from './replay.ts';
import { replayPoliciesParallel } from './replay-parallel.ts';
import { resolveTopK, type TopKChoice, topKLine } from './top-k.ts';

export type Verdict = 'apply' | 'keep current';

/** Default horizon: vLLM EPLB's default step_interval (3000 steps between re-plans). */
export const DEFAULT_HORIZON_STEPS = 3000;
/** Default standard errors the gain must clear. */
export const DEFAULT_K = 2;

export interface GateInput {
  /** Per-batch predicted time under the current placement, microseconds. */
  current: ArrayLike<number>;
  /** Per-batch predicted time under the proposed placement, same batches, microseconds. */
  proposed: ArrayLike<number>;
  /** Time to load the replicas the change moves, microseconds (0 when nothing moves). */
  moveCostUs: number;
  /** Steps (batches) the proposed placement is expected to stay in force. */
  horizonSteps?: number;
  /** Standard errors the per-step gain must exceed. */
  k?: number;
  /** Smallest gain worth a change, percent of current time (default 0.5). */
  minGainPct?: number;
  /** Mean per-batch max/mean rank load under each placement. */
  imbalance?: { current: number; proposed: number };
  /** How the MoE layers are served: 'ep' expert parallel (default) or 'tp' tensor parallel. */
  moeParallel?: 'ep' | 'tp';
  /** Extra HBM the proposed replicas need on the fullest GPU, bytes. */
  extraHbmBytes?: number;
  /** HBM the GPUs can spare for replicas, bytes (Infinity / undefined: not limited). */
  hbmHeadroomBytes?: number;
  /** Label of the scored data, e.g. 'held-out (last 50%)' or 'in-sample'. */
  scoredOn?: string;
}

export interface GateDecision {
  verdict: Verdict;
  /** 100 * gain / mean current time. */
  predictedGainPct: number;
  /** Mean time saved per step, microseconds. */
  gainPerStepUs: number;
  /** Mean current time per step, microseconds. */
  currentStepUs: number;
  moveCostMs: number;
  horizonSteps: number;
  /** Steps until the move cost is paid back (Infinity when there is no gain). */
  breakEvenSteps: number;
  imbalance: { current: number; proposed: number };
  uncertainty: { stdErrUs: number; k: number; batches: number; gainOverStdErr: number };
  reasons: string[];
  warnings: string[];
}

function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return String(us);
  if (Math.abs(us) >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  return `${us.toFixed(1)} us`;
}

/** Decide from paired per-batch predictions. Shapes: current, proposed [B], B >= 1. */
export function gateDecision(input: GateInput): GateDecision {
  const B = Math.min(input.current.length, input.proposed.length);
  const horizon = input.horizonSteps ?? DEFAULT_HORIZON_STEPS;
  const k = input.k ?? DEFAULT_K;
  const minGain = input.minGainPct ?? 0.5;
  const reasons: string[] = [];
  const warnings: string[] = [];
  let sumCur = 0;
  let sumD = 0;
  for (let b = 0; b < B; b++) {
    sumCur += input.current[b];
    sumD += input.current[b] - input.proposed[b];
  }
  const cur = B > 0 ? sumCur / B : Number.NaN;
  const gain = B > 0 ? sumD / B : Number.NaN;
  let ss = 0;
  for (let b = 0; b < B; b++) {
    const d = input.current[b] - input.proposed[b] - gain;
    ss += d * d;
  }
  const se = B > 1 ? Math.sqrt(ss / (B - 1)) / Math.sqrt(B) : Number.NaN;
  const gainPct = (100 * gain) / cur;
  const amortised = input.moveCostUs / horizon;
  const net = gain - amortised;
  const breakEven = gain > 0 ? input.moveCostUs / gain : Number.POSITIVE_INFINITY;
  const imbalance = input.imbalance ?? { current: Number.NaN, proposed: Number.NaN };

  let apply = B > 0;
  if (B === 0) reasons.push('no full batch to score: nothing to predict from');
  if (input.scoredOn) reasons.push(`scored on ${input.scoredOn}${/\bbatches\b/.test(input.scoredOn) ? '' : `, ${B} batch${B === 1 ? '' : 'es'}`}`);
  reasons.push(
    `predicted MoE time per step ${fmtUs(cur)} now, ${fmtUs(cur - gain)} proposed: ${gain >= 0 ? 'saves' : 'costs'} ${fmtUs(Math.abs(gain))} (${gainPct.toFixed(1)}%)`,
  );
  if (Number.isFinite(imbalance.current)) {
    reasons.push(`per-batch max/mean rank load ${imbalance.current.toFixed(2)} now, ${imbalance.proposed.toFixed(2)} proposed`);
  }
  reasons.push(
    `moving expert weights costs ${fmtUs(input.moveCostUs)}, ${fmtUs(amortised)} per step over ${horizon} steps` +
      (Number.isFinite(breakEven) ? `; pays back after ${Math.ceil(breakEven)} steps` : ''),
  );
  if (!(net > 0)) {
    apply = false;
    reasons.push(gain > 0 ? 'the gain does not pay for the move within the horizon' : 'the proposed placement is not faster');
  }
  if (B > 1 && gain > 0) {
    if (!(gain > k * se)) {
      apply = false;
      reasons.push(
        `the gain ${fmtUs(gain)} is within ${k}x its standard error over the ${B} scored batches (${fmtUs(k * se)}): the predicted gain varies that much from batch to batch (spread over batches, not the cost model's error)`,
      );
    } else {
      reasons.push(`the gain is more than ${k}x its standard error over the ${B} scored batches (${fmtUs(k * se)}; spread of the predicted gain from batch to batch, not the cost model's error)`);
    }
  } else if (B === 1) {
    warnings.push('one batch scored: batch-to-batch variation unknown, the gain is not tested against noise');
  }
  if (gain > 0 && gainPct < minGain) {
    apply = false;
    reasons.push(`the gain ${gainPct.toFixed(2)}% is below the ${minGain}% worth changing for`);
  }
  if (input.moeParallel === 'tp') {
    apply = false;
    warnings.push('MoE layers are served with tensor parallelism: every GPU holds a slice of every expert, so there is no expert placement to rebalance');
  }
  if (input.extraHbmBytes !== undefined && input.hbmHeadroomBytes !== undefined && Number.isFinite(input.hbmHeadroomBytes)) {
    if (input.extraHbmBytes > input.hbmHeadroomBytes) {
      apply = false;
      warnings.push(
        `replicas need ${(input.extraHbmBytes / 1e9).toFixed(2)} GB more HBM on the fullest GPU than the ${(input.hbmHeadroomBytes / 1e9).toFixed(2)} GB headroom (risk of OOM; lower --redundant or --gpu-memory-utilization)`,
      );
    }
  }
  return {
    verdict: apply ? 'apply' : 'keep current',
    predictedGainPct: gainPct,
    gainPerStepUs: gain,
    currentStepUs: cur,
    moveCostMs: input.moveCostUs / 1000,
    horizonSteps: horizon,
    breakEvenSteps: breakEven,
    imbalance,
    uncertainty: { stdErrUs: se, k, batches: B, gainOverStdErr: gain / se },
    reasons,
    warnings,
  };
}

/** Extra HBM the plan's replicas need on the fullest rank, bytes: sum over layers of (slots on r - E/G) * B_e. */
export function extraHbmBytes(plan: Plan, expertBytes: number): number {
  const G = plan.numRanks;
  const base = plan.numExperts / G;
  let extra = 0;
  for (let l = 0; l < plan.numLayers; l++) extra += Math.max(0, plan.phy2log[l].length / G - base);
  return extra * expertBytes;
}

/** Move cost of going from `from` to `to`, microseconds: sum over layers of the slowest rank's loads. */
export function planMoveCostUs(cm: CostModel, from: Plan, to: Plan): { us: number; moved: number } {
  const mv = movedReplicas(from, to);
  const G = cm.numRanks;
  let us = 0;
  for (let l = 0; l < to.numLayers; l++) us += moveTimeUs(cm, mv.perRank.subarray(l * G, (l + 1) * G));
  return { us, moved: mv.total };
}

export interface PredictAndGateInput {
  /** [W][L][E] load; scored per window when there are no routes. */
  load: LoadTrace;
  routes?: TokenRoutes;
  /** Proposed plan. */
  plan: Plan;
  /** Placement in force now. */
  current: Plan;
  /** Preset name / config path, or a loaded config. */
  model: string | ModelConfig;
  /** Preset / file, a Cluster, or undefined for H100 nodes of plan.numRanks GPUs. */
  cluster?: string | Cluster;
  /** Tokens per step (batch): routes are cut into batches of it; load windows are scaled to it. Default 512. */
  batchTokens?: number;
  /** Score load windows as recorded (each window is one engine step) instead of scaling to batchTokens. */
  windowsAreSteps?: boolean;
  /**
   * Without routes: replay this many batches of tokens sampled from the scored windows' histogram
   * (sample-counts.ts) instead of the histogram itself, so the gain is tested against per-step noise.
   */
  sampleBatches?: number;
  /** Seed for sampleBatches. */
  seed?: number;
  /** First token (routes) or window (counts) scored; default 0 (in-sample when the plan saw it all). */
  scoreStart?: number;
  horizonSteps?: number;
  k?: number;
  minGainPct?: number;
  overrides?: Partial<Record<ConstantName, number>>;
  moeParallel?: 'ep' | 'tp';
  /** HBM headroom per GPU for replicas; default: the cluster's smallest hbmFreeBytes. */
  hbmHeadroomBytes?: number;
  /** Experts per token and where from (default: resolveTopK on routes, trace metadata, then the model). */
  topK?: TopKChoice;
}

export interface PredictAndGateResult extends GateDecision {
  expertsMoved: number;
  extraHbmBytes: number;
  predictedLayerTimeUs: { current: number; proposed: number };
  model: string;
  cluster: string;
  /** Experts per token the replay used, and where that number came from. */
  topK: number;
  topKSource: string;
}

/** One call: build the cost model, replay both placements on the same batches, move cost, gate. */
export async function predictAndGate(input: PredictAndGateInput): Promise<PredictAndGateResult> {
  const { plan, current } = input;
  if (plan.numRanks !== current.numRanks || plan.numLayers !== current.numLayers || plan.numExperts !== current.numExperts) {
    throw new InputError(
      'plan',
      '',
      `the proposed plan is ${plan.numLayers} layers x ${plan.numExperts} experts on ${plan.numRanks} ranks but the current one is ${current.numLayers} x ${current.numExperts} on ${current.numRanks}`,
    );
  }
  const model = typeof input.model === 'string' ? loadModelConfig(input.model) : input.model;
  const cluster = typeof input.cluster === 'object' ? input.cluster : await resolveCluster(input.cluster, input.plan.numRanks);
  const cm = buildCostModel({ model, cluster, overrides: input.overrides });
  const batchTokens = input.batchTokens ?? 512;
  const start = input.scoreStart ?? 0;
  const kc = input.topK ?? resolveTopK({ routes: input.routes, load: input.load, model });
  let src: ReplaySource;
  if (input.routes) {
    src = { kind: 'routes', routes: input.routes, startToken: start, endToken: input.routes.numTokens, batchTokens };
  } else if (input.sampleBatches && input.sampleBatches > 0) {
    const L = input.load.numLayers;
    const E = input.load.numExperts;
    const sum = totalCounts(input.load, start);
    const routes = sampleRoutesFromCounts(sum, L, E, kc.topK, input.sampleBatches * batchTokens, input.seed ?? 1, input.load.meta.layerIds);
    src = { kind: 'routes', routes, startToken: 0, endToken: routes.numTokens, batchTokens };
  } else {
    src = { kind: 'counts', load: input.load, startWindow: start, endWindow: input.load.numWindows, stepTokens: input.windowsAreSteps ? undefined : batchTokens, topK: kc.topK };
  }
  const [cur, prop] = await replayPoliciesParallel(src, [
    { kind: 'static', name: 'current', plan: input.current },
    { kind: 'static', name: 'proposed', plan: input.plan },
  ], cm);
  const move = planMoveCostUs(cm, input.current, input.plan);
  const extra = extraHbmBytes(input.plan, cm.expertBytes);
  let headroom = input.hbmHeadroomBytes;
  if (headroom === undefined) {
    headroom = Number.POSITIVE_INFINITY;
    for (let r = 0; r < cm.numRanks; r++) headroom = Math.min(headroom, cm.hbmFreeBytes[r]);
  }
  const mean = (a: Float64Array) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
  const L = input.plan.numLayers;
  const d = gateDecision({
    current: cur.series.timeUs,
    proposed: prop.series.timeUs,
    moveCostUs: move.us,
    horizonSteps: input.horizonSteps,
    k: input.k,
    minGainPct: input.minGainPct,
    imbalance: { current: mean(cur.series.maxOverMean), proposed: mean(prop.series.maxOverMean) },
    moeParallel: input.moeParallel,
    extraHbmBytes: extra,
    hbmHeadroomBytes: headroom,
    scoredOn:
      (start > 0 ? `the trace from ${input.routes ? 'token' : 'window'} ${start} on` : 'the whole trace (in-sample if the plan was made on it)') +
      (!input.routes && input.sampleBatches ? `, as ${input.sampleBatches} batches sampled from its histogram` : ''),
  });
  // Say why when token balance improves but time does not.
  const actCur = mean(cur.series.activatedMax);
  const actProp = mean(prop.series.activatedMax);
  if (d.imbalance.proposed < d.imbalance.current && d.gainPerStepUs <= 0) {
    const perExpert = (batchTokens * kc.topK) / input.plan.numExperts;
    const xo = crossoverTokens(cm);
    d.reasons.push(
      `token balance improves, but the busiest GPU activates ${actCur.toFixed(1)} -> ${actProp.toFixed(1)} experts per layer; at ~${perExpert.toFixed(0)} tokens per expert per step (${perExpert < xo ? 'below' : 'above'} the ~${xo.toFixed(0)}-token crossover) ${perExpert < xo ? 'each active expert streams its weights, so time follows active experts, not tokens' : 'compute follows tokens, and communication changes too'}`,
    );
  }
  return {
    ...d,
    expertsMoved: move.moved,
    extraHbmBytes: extra,
    predictedLayerTimeUs: { current: mean(cur.series.timeUs) / L, proposed: mean(prop.series.timeUs) / L },
    model: model.name,
    cluster: cluster.name,
    topK: kc.topK,
    topKSource: kc.source,
  };
}

/** Plain-text rendering of a gate result (no colour). */
export function renderGate(r: GateDecision & Partial<PredictAndGateResult>): string {
  const lines: string[] = [];
  lines.push(`gate: ${r.verdict.toUpperCase()}  (predicted gain ${r.predictedGainPct.toFixed(1)}% per step, move ${r.moveCostMs.toFixed(2)} ms over ${r.horizonSteps} steps)`);
  if (r.model) {
    lines.push(`  model ${r.model} on ${r.cluster}, ${r.topK !== undefined ? topKLine({ topK: r.topK, source: r.topKSource ?? '' }) : 'top-k unknown'}`);
    lines.push(`  ${r.expertsMoved ?? 0} expert copies moved, ${((r.extraHbmBytes ?? 0) / 1e9).toFixed(2)} GB extra HBM on the fullest GPU`);
  }
  for (const x of r.reasons) lines.push(`  - ${x}`);
  for (const w of r.warnings) lines.push(`  ! ${w}`);
  return lines.join('\n');
}
