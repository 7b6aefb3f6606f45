/**
 * Compare two load histograms (two traces, or two saved reports): before and after a placement
 * change, or two workloads.
 *
 * Shapes: each side is [L][E] counts with layer ids; sides are aligned on the layer ids they share
 * (or by position when they share none but have the same L). E must match.
 *   share_X[l][e] = counts_X[l][e] / sum_e counts_X[l][e]
 *   layers[l]:  hottest-expert max/mean of A and B, rank max/mean under each side's placement, and
 *               total variation distance 0.5 * sum_e |share_B - share_A| (0 = same mix, 1 = disjoint)
 *   movers:     the `top` (layer, expert) pairs with the largest |share_B - share_A|
 *   change:     [L][E] (share_B - share_A) * E, i.e. the change in "x layer mean" units
 */
import { basename } from 'node:path';
import { InputError } from '../../core/errors.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import { type LoadTrace, totalCounts } from '../../core/load-trace.ts';
import { checkPlanMatchesTrace, type Plan } from '../../core/plan.ts';
import { maxOverMean } from '../../analyze/max-over-mean.ts';
import { rankLoads } from '../../analyze/rank-loads.ts';
import type { ReportModel } from '../report/model.ts';

export interface DiffSide {
  label: string;
  path: string;
  model?: string;
  layerIds: number[];
  numExperts: number;
  /** [L][E] counts. */
  counts: Float64Array;
}

export interface DiffLayer {
  layer: number;
  expertMaxOverMeanA: number;
  expertMaxOverMeanB: number;
  rankMaxOverMeanA: number;
  rankMaxOverMeanB: number;
  /** 0.5 * sum_e |share_B - share_A|. */
  totalVariation: number;
  hottestExpertA: number;
  hottestExpertB: number;
}

export interface DiffMover {
  layer: number;
  expert: number;
  shareA: number;
  shareB: number;
  /** shareB - shareA. */
  delta: number;
}

export interface DiffModel {
  format: 'ballast-diff';
  version: 1;
  a: { label: string; path: string; model?: string; totalAssignments: number };
  b: { label: string; path: string; model?: string; totalAssignments: number };
  numExperts: number;
  numRanks: number;
  placementA: string;
  placementB: string;
  /** How layers were matched: 'layer ids' or 'position'. */
  alignedBy: 'layer ids' | 'position';
  layers: DiffLayer[];
  movers: DiffMover[];
  summary: {
    meanExpertMaxOverMeanA: number;
    meanExpertMaxOverMeanB: number;
    meanRankMaxOverMeanA: number;
    meanRankMaxOverMeanB: number;
    meanTotalVariation: number;
    /** Layer whose rank max/mean rose most (B - A); undefined when none rose. */
    worstLayer?: number;
  };
  /** [L][E] row-major, (share_B - share_A) * E. */
  change: number[];
}

export function sideFromTrace(path: string, load: LoadTrace): DiffSide {
  return { label: basename(path), path, model: load.meta.model, layerIds: [...load.meta.layerIds], numExperts: load.numExperts, counts: totalCounts(load) };
}

/** A side from a saved report (first trace): counts = value * rowTotal / E. */
export function sideFromReport(path: string, model: ReportModel): DiffSide {
  const t = model.traces[0];
  if (!t) throw new InputError(path, 'traces', 'the report holds no trace to compare');
  const { rows: L, cols: E, values, rowTotals } = t.heatmap;
  const counts = new Float64Array(L * E);
  for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) counts[l * E + e] = (values[l * E + e] * rowTotals[l]) / E;
  return { label: basename(path), path, model: t.meta.model, layerIds: [...t.heatmap.rowLabels], numExperts: E, counts };
}

function shares(row: Float64Array): Float64Array {
  let s = 0;
  for (const v of row) s += v;
  return s > 0 ? row.map((v) => v / s) : new Float64Array(row.length);
}

export interface DiffOptions {
  /** EP size for the linear placement used for rank imbalance (default: 8 or a divisor of E). */
  ranks: number;
  planA?: Plan;
  planB?: Plan;
  /** How many movers to list (default 20). */
  top?: number;
}

export function diffSides(a: DiffSide, b: DiffSide, opts: DiffOptions): DiffModel {
  const E = a.numExperts;
  if (b.numExperts !== E) {
    throw new InputError(b.path, '', `has ${b.numExperts} experts per layer but ${a.path} has ${E}; expected the same model`);
  }
  const common = a.layerIds.filter((id) => b.layerIds.includes(id));
  let pairs: [number, number, number][]; // [layerId, index in a, index in b]
  let alignedBy: DiffModel['alignedBy'] = 'layer ids';
  if (common.length) pairs = common.map((id) => [id, a.layerIds.indexOf(id), b.layerIds.indexOf(id)]);
  else if (a.layerIds.length === b.layerIds.length) {
    alignedBy = 'position';
    pairs = a.layerIds.map((id, i) => [id, i, i]);
  } else {
    throw new InputError(b.path, 'layerIds', `shares no MoE layer id with ${a.path} and has a different layer count (${b.layerIds.length} vs ${a.layerIds.length})`);
  }
  const L = pairs.length;
  const pick = (s: DiffSide, idx: number[]) => {
    const out = new Float64Array(L * E);
    idx.forEach((li, l) => out.set(s.counts.subarray(li * E, (li + 1) * E), l * E));
    return out;
  };
  const ca = pick(a, pairs.map((p) => p[1]));
  const cb = pick(b, pairs.map((p) => p[2]));
  const ids = pairs.map((p) => p[0]);
  const G = opts.planA?.numRanks ?? opts.ranks;
  const planFor = (p: Plan | undefined, which: string) => {
    if (p) {
      checkPlanMatchesTrace(p, L, E, `--plan-${which}`);
      return p;
    }
    return defaultPlan('linear', L, E, opts.ranks, ids);
  };
  const pa = planFor(opts.planA, 'a');
  const pb = planFor(opts.planB, 'b');
  const ra = rankLoads(ca, pa);
  const rb = rankLoads(cb, pb);
  const layers: DiffLayer[] = [];
  const change: number[] = new Array(L * E);
  const movers: DiffMover[] = [];
  for (let l = 0; l < L; l++) {
    const rowA = ca.subarray(l * E, (l + 1) * E);
    const rowB = cb.subarray(l * E, (l + 1) * E);
    const sa = shares(rowA);
    const sb = shares(rowB);
    let tv = 0;
    let hotA = 0;
    let hotB = 0;
    for (let e = 0; e < E; e++) {
      const d = sb[e] - sa[e];
      tv += Math.abs(d);
      change[l * E + e] = Number((d * E).toPrecision(4));
      movers.push({ layer: ids[l], expert: e, shareA: sa[e], shareB: sb[e], delta: d });
      if (rowA[e] > rowA[hotA]) hotA = e;
      if (rowB[e] > rowB[hotB]) hotB = e;
    }
    layers.push({
      layer: ids[l],
      expertMaxOverMeanA: maxOverMean(rowA),
      expertMaxOverMeanB: maxOverMean(rowB),
      rankMaxOverMeanA: maxOverMean(ra.subarray(l * pa.numRanks, (l + 1) * pa.numRanks)),
      rankMaxOverMeanB: maxOverMean(rb.subarray(l * pb.numRanks, (l + 1) * pb.numRanks)),
      totalVariation: tv / 2,
      hottestExpertA: hotA,
      hottestExpertB: hotB,
    });
  }
  movers.sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta) || x.layer - y.layer || x.expert - y.expert);
  const avg = (f: (x: DiffLayer) => number) => layers.reduce((s, x) => s + f(x), 0) / Math.max(1, L);
  let worst: number | undefined;
  let worstRise = 0;
  for (const x of layers) {
    const rise = x.rankMaxOverMeanB - x.rankMaxOverMeanA;
    if (rise > worstRise) {
      worstRise = rise;
      worst = x.layer;
    }
  }
  const sum = (c: Float64Array) => c.reduce((s, v) => s + v, 0);
  return {
    format: 'ballast-diff',
    version: 1,
    a: { label: a.label, path: a.path, model: a.model, totalAssignments: sum(ca) },
    b: { label: b.label, path: b.path, model: b.model, totalAssignments: sum(cb) },
    numExperts: E,
    numRanks: G,
    placementA: opts.planA ? `plan (${opts.planA.solver ?? 'file'})` : `linear over ${opts.ranks} ranks`,
    placementB: opts.planB ? `plan (${opts.planB.solver ?? 'file'})` : `linear over ${opts.ranks} ranks`,
    alignedBy,
    layers,
    movers: movers.slice(0, opts.top ?? 20),
    summary: {
      meanExpertMaxOverMeanA: avg((x) => x.expertMaxOverMeanA),
      meanExpertMaxOverMeanB: avg((x) => x.expertMaxOverMeanB),
      meanRankMaxOverMeanA: avg((x) => x.rankMaxOverMeanA),
      meanRankMaxOverMeanB: avg((x) => x.rankMaxOverMeanB),
      meanTotalVariation: avg((x) => x.totalVariation),
      worstLayer: worst,
    },
    change,
  };
}
