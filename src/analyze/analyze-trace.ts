/**
 * `analyzeTrace`: every imbalance metric of one trace as a stable JSON object (docs/analyze.md).
 *
 * Shapes: `load` LoadTrace [W][L][E] (windows are summed first); optional `routes` [T][L][k] with the
 * same L and E; a placement over G ranks -> AnalysisJson, `layers` in the trace's layer order (one
 * entry per MoE layer), rank arrays of length G.
 */
import { type CaptureInfo, captureInfo } from '../core/capture-info.ts';
import { InputError } from '../core/errors.ts';
import { defaultPlan, type DefaultPlacement } from '../core/default-placements.ts';
import { type LoadTrace, totalCounts } from '../core/load-trace.ts';
import { checkPlanMatchesTrace, type Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { activatedExpertsPerRank } from './activated-experts-per-rank.ts';
import { balancednessSglang } from './balancedness-sglang.ts';
import { balancednessVllm } from './balancedness-vllm.ts';
import { batchRankLoad } from './batch-rank-load.ts';
import { coefficientOfVariation } from './coefficient-of-variation.ts';
import { distinctRanksPerToken } from './distinct-ranks-per-token.ts';
import { gini } from './gini.ts';
import { hottestExpert } from './hottest-expert.ts';
import { maxOverMean } from './max-over-mean.ts';
import { normalizedEntropy } from './normalized-entropy.ts';
import { rankLoads } from './rank-loads.ts';
import { topShare } from './top-share.ts';

/** Tokens per batch for the per-batch replay when none is given (512, as plan, simulate, report and demo). */
export const DEFAULT_BATCH_TOKENS = 512;

export interface AnalyzeOptions {
  /** EP size G. Needed for a default placement; taken from the plan when a Plan is given. */
  ranks?: number;
  /** Default 'linear' (when ranks are given). */
  placement?: DefaultPlacement | Plan;
  /** Ranks per node for distinct nodes per token (default: the plan's, else G, i.e. one node). */
  ranksPerNode?: number;
  /** Token routes for per-batch and per-token metrics (need ranks). */
  routes?: TokenRoutes;
  /** Tokens per batch (default DEFAULT_BATCH_TOKENS). */
  batchTokens?: number;
  /** Name of the plan file, for error messages and `summary.placement`. */
  planFile?: string;
}

export interface LayerAnalysis {
  /** Model layer id (meta.layerIds). */
  layer: number;
  expertMaxOverMean: number;
  cv: number;
  gini: number;
  entropy: number;
  /** -1 when the layer has no traffic. */
  hottestExpert: number;
  hottestShare: number;
  top10Share: number;
  top25Share: number;
  rankLoads?: number[];
  rankMaxOverMean?: number;
  activatedExpertsPerRank?: number[];
}

export interface AnalysisSummary {
  meanExpertMaxOverMean: number;
  /** Model layer id with the highest expertMaxOverMean (first on ties). */
  worstLayer: number;
  balancednessVllm?: number;
  balancednessSglang?: number;
  meanRankMaxOverMean?: number;
  /** Model layer id with the highest rankMaxOverMean (first on ties). */
  worstRankLayer?: number;
  /** 'linear', 'round-robin', or 'plan:<file or solver>'. */
  placement?: string;
  ranks?: number;
  ranksPerNode?: number;
  /** Redundant slots per layer, summed over layers (0 for default placements). */
  redundantSlots?: number;
  batchTokens?: number;
  /** Full batches replayed (the last partial one is dropped). */
  batches?: number;
  perBatchMaxOverMean?: { mean: number | null; p99: number | null };
  /** null when the routes hold no tokens. */
  distinctRanksPerToken?: number | null;
  distinctNodesPerToken?: number | null;
  tokens?: number;
}

export interface AnalysisJson {
  version: 1;
  trace: {
    model: string | null;
    layers: number;
    experts: number;
    topK: number | null;
    windows: number;
    sources: { path: string; format: string; incomplete?: string }[];
    phase: string | null;
    /** Capture point, engine and version that produced the trace (traces written by the capture agent). */
    capture?: CaptureInfo;
  };
  layers: LayerAnalysis[];
  summary: AnalysisSummary;
}

export function analyzeTrace(load: LoadTrace, opts: AnalyzeOptions = {}): AnalysisJson {
  const { numLayers: L, numExperts: E } = load;
  const total = totalCounts(load);
  const layers: LayerAnalysis[] = [];
  for (let l = 0; l < L; l++) {
    const row = total.subarray(l * E, (l + 1) * E);
    const hot = hottestExpert(row);
    layers.push({
      layer: load.meta.layerIds[l],
      expertMaxOverMean: maxOverMean(row),
      cv: coefficientOfVariation(row),
      gini: gini(row),
      entropy: normalizedEntropy(row),
      hottestExpert: hot.expert,
      hottestShare: hot.share,
      top10Share: topShare(row, 0.1),
      top25Share: topShare(row, 0.25),
    });
  }
  const summary: AnalysisSummary = {
    meanExpertMaxOverMean: mean(layers.map((x) => x.expertMaxOverMean)),
    worstLayer: layers[argmax(layers.map((x) => x.expertMaxOverMean))].layer,
  };

  const plan = resolvePlan(load, opts);
  if (plan) {
    const G = plan.numRanks;
    const rl = rankLoads(total, plan);
    const act = activatedExpertsPerRank(total, plan);
    const rankMom: number[] = [];
    for (let l = 0; l < L; l++) {
      const row = rl.subarray(l * G, (l + 1) * G);
      layers[l].rankLoads = Array.from(row);
      layers[l].rankMaxOverMean = maxOverMean(row);
      layers[l].activatedExpertsPerRank = Array.from(act.subarray(l * G, (l + 1) * G));
      rankMom.push(layers[l].rankMaxOverMean!);
    }
    const ranksPerNode = opts.ranksPerNode ?? plan.ranksPerNode;
    if (!Number.isInteger(ranksPerNode) || ranksPerNode < 1 || G % ranksPerNode !== 0) {
      throw new InputError('--ranks-per-node', '', `${ranksPerNode} ranks per node do not divide ${G} ranks`);
    }
    summary.balancednessVllm = balancednessVllm(rl, G);
    summary.balancednessSglang = balancednessSglang(rl, G);
    summary.meanRankMaxOverMean = mean(rankMom);
    summary.worstRankLayer = layers[argmax(rankMom)].layer;
    summary.placement = placementName(opts);
    summary.ranks = G;
    summary.ranksPerNode = ranksPerNode;
    summary.redundantSlots = plan.phy2log.reduce((s, row) => s + row.length - E, 0);

    const routes = opts.routes;
    if (routes) {
      if (routes.numLayers !== L || routes.numExperts !== E) {
        throw new InputError(
          routes.meta.sources[0]?.path ?? '',
          '',
          `token routes are ${routes.numLayers} layers x ${routes.numExperts} experts but the load trace is ${L} x ${E}`,
        );
      }
      const B = opts.batchTokens ?? DEFAULT_BATCH_TOKENS;
      if (!Number.isInteger(B) || B < 1) throw new InputError('--batch-tokens', '', `expected a positive integer, got ${B}`);
      const batches = batchRankLoad(routes, plan, B);
      const fan = distinctRanksPerToken(routes, plan, ranksPerNode);
      summary.batchTokens = B;
      summary.batches = batches.perBatch.length;
      summary.perBatchMaxOverMean = { mean: nullIfNaN(batches.mean), p99: nullIfNaN(batches.p99) };
      summary.distinctRanksPerToken = nullIfNaN(fan.ranks);
      summary.distinctNodesPerToken = nullIfNaN(fan.nodes);
      summary.tokens = routes.numTokens;
    }
  } else if (opts.routes) {
    // Without ranks there is no placement to replay the routes against; only the token count is kept.
    summary.tokens = opts.routes.numTokens;
  }

  const capture = captureInfo(load.meta);
  return {
    version: 1,
    trace: {
      model: load.meta.model ?? null,
      layers: L,
      experts: E,
      topK: load.meta.topK ?? opts.routes?.topK ?? null,
      windows: load.numWindows,
      sources: load.meta.sources.map((s) => ({ path: s.path, format: s.format, ...(s.incomplete ? { incomplete: s.incomplete } : {}) })),
      phase: load.meta.phase ?? null,
      ...(capture ? { capture } : {}),
    },
    layers,
    summary,
  };
}

/** The plan to score: the given Plan (checked against the trace), or a default placement over `ranks`. */
function resolvePlan(load: LoadTrace, opts: AnalyzeOptions): Plan | undefined {
  const p = opts.placement;
  if (p !== undefined && typeof p === 'object') {
    const file = opts.planFile ?? 'plan';
    checkPlanMatchesTrace(p, load.numLayers, load.numExperts, file);
    if (opts.ranks !== undefined && opts.ranks !== p.numRanks) {
      throw new InputError('--ranks', '', `${opts.ranks} ranks given but the plan ${file} is for ${p.numRanks} ranks`);
    }
    return p;
  }
  if (opts.ranks === undefined) return undefined;
  const G = opts.ranks;
  if (!Number.isInteger(G) || G < 1) throw new InputError('--ranks', '', `expected a positive integer, got ${G}`);
  const kind = p ?? 'linear';
  if (kind !== 'linear' && kind !== 'round-robin') {
    throw new InputError('--placement', '', `unknown placement "${String(kind)}"; expected linear, round-robin or a plan file`);
  }
  return defaultPlan(kind, load.numLayers, load.numExperts, G, load.meta.layerIds, opts.ranksPerNode ?? G);
}

function placementName(opts: AnalyzeOptions): string {
  const p = opts.placement;
  if (p !== undefined && typeof p === 'object') return `plan:${opts.planFile ?? p.solver ?? 'custom'}`;
  return p ?? 'linear';
}

function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

function nullIfNaN(x: number): number | null {
  return Number.isNaN(x) ? null : x;
}
