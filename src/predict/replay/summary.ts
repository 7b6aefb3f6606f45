/**
 * Summary statistics of each policy's replay (means, percentiles, throughput against a baseline).
 */
import { nearestRankPercentile } from '../../analyze/percentile.ts';
import type { PolicyResult } from './policy/spec.ts';

/** Summary statistics of one policy's replay. */
export interface PolicySummary {
  name: string;
  batches: number;
  perBatchMaxOverMean: { mean: number; p50: number; p99: number };
  activatedExpertsPerRank: { mean: number; max: number };
  distinctRanksPerToken: number;
  distinctNodesPerToken: number;
  /** Mean over batches of the mean MoE layer time (batch time / L), microseconds. */
  predictedLayerTimeUs: number;
  /** Mean over batches of the batch's MoE time (all replayed layers, incl. moves), microseconds. */
  predictedBatchTimeUs: number;
  /** Sum over batches, microseconds. */
  predictedMoeTimeUs: number;
  phaseUs: { dispatch: number; compute: number; combine: number; move: number };
  /** time(linear) / time(this policy); NaN when no linear policy was replayed. */
  throughputVsLinear: number;
  expertsMoved: number;
  replans: number;
}

export function mean(a: Float64Array): number {
  if (a.length === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

export function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** Summarise results; `baseline` names the policy throughput is measured against (default 'linear'). */
export function summarize(results: PolicyResult[], numLayers: number, baseline = 'linear'): PolicySummary[] {
  const base = results.find((r) => r.name === baseline);
  const baseTime = base ? sum(base.series.timeUs) : Number.NaN;
  return results.map((r) => {
    const s = r.series;
    const total = sum(s.timeUs);
    return {
      name: r.name,
      batches: s.timeUs.length,
      perBatchMaxOverMean: { mean: mean(s.maxOverMean), p50: nearestRankPercentile(s.maxOverMean, 0.5), p99: nearestRankPercentile(s.maxOverMean, 0.99) },
      activatedExpertsPerRank: { mean: mean(s.activatedMean), max: mean(s.activatedMax) },
      distinctRanksPerToken: mean(s.distinctRanks),
      distinctNodesPerToken: mean(s.distinctNodes),
      predictedLayerTimeUs: mean(s.timeUs) / numLayers,
      predictedBatchTimeUs: mean(s.timeUs),
      predictedMoeTimeUs: total,
      phaseUs: { dispatch: mean(s.dispatchUs), compute: mean(s.computeUs), combine: mean(s.combineUs), move: sum(s.moveUs) },
      throughputVsLinear: baseTime / total,
      expertsMoved: r.expertsMoved,
      replans: r.replans,
    };
  });
}
