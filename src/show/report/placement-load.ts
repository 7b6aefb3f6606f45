/**
 * The placement view of one trace under one plan, built from src/analyze's metrics.
 *
 * placementView(label, plan, load[L][E]) -> PlacementView: rank loads summed over layers [G],
 *   per-layer max/mean rank load [L], both balancedness conventions.
 * perWindowMaxOverMean(trace, plan) -> [W]: for each window, the mean over layers (with traffic) of
 *   max/mean rank load in that window (same numbers as rankLoads + maxOverMean, without allocating
 *   per window).
 * expertsMoved(current, next) -> (layer, expert, rank) triples of `next` absent from `current` (the
 *   expert weights that must be loaded to switch), as src/plan/plan-stats.ts counts them.
 * Each view carries planStats (lower bound, gap to it, distinct ranks per token...) on this trace.
 */
import type { LoadTrace } from '../../core/load-trace.ts';
import { type Plan, rankOfSlot } from '../../core/plan.ts';
import type { TokenRoutes } from '../../core/token-routes.ts';
import { expertsMoved as planExpertsMoved, planStats } from '../../plan/plan-stats.ts';
import { rankLoads } from '../../analyze/rank-loads.ts';
import { maxOverMean } from '../../analyze/max-over-mean.ts';
import { balancednessVllm } from '../../analyze/balancedness-vllm.ts';
import { balancednessSglang } from '../../analyze/balancedness-sglang.ts';
import type { PlacementView } from './model.ts';

export function placementView(label: string, plan: Plan, load: Float64Array, opts: { current?: Plan; routes?: TokenRoutes } = {}): PlacementView {
  const G = plan.numRanks;
  const L = plan.numLayers;
  const rl = rankLoads(load, plan);
  const rankLoad = new Array<number>(G).fill(0);
  const layerMom: number[] = [];
  for (let l = 0; l < L; l++) {
    const row = rl.subarray(l * G, (l + 1) * G);
    for (let r = 0; r < G; r++) rankLoad[r] += row[r];
    layerMom.push(maxOverMean(row));
  }
  let redundant = 0;
  for (const row of plan.phy2log) redundant = Math.max(redundant, row.length - plan.numExperts);
  return {
    label,
    solver: plan.solver,
    numRanks: G,
    ranksPerNode: plan.ranksPerNode,
    redundantSlots: redundant,
    rankLoad,
    layerMaxOverMean: layerMom,
    meanMaxOverMean: mean(layerMom),
    balancednessVllm: balancednessVllm(rl, G),
    balancednessSglang: balancednessSglang(rl, G),
    stats: statsOf(plan, load, opts),
    params: plan.params,
  };
}

/** planStats (src/plan/plan-stats.ts) scored on this trace's load; plain numbers only. */
function statsOf(plan: Plan, load: Float64Array, opts: { current?: Plan; routes?: TokenRoutes }): Record<string, unknown> {
  const cur = opts.current && opts.current.numRanks === plan.numRanks && opts.current !== plan ? opts.current : undefined;
  const routes = opts.routes && opts.routes.numLayers === plan.numLayers && opts.routes.numExperts === plan.numExperts ? opts.routes : undefined;
  const st = planStats(plan, load, { current: cur, routes });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(st)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    // planStats gives the worst layer as an index; show the model's layer id instead.
    if (k === 'worstLayer') out.worstLayerId = plan.layerIds[v] ?? v;
    else out[k] = v;
  }
  return out;
}

export function perWindowMaxOverMean(trace: LoadTrace, plan: Plan): number[] {
  const { numLayers: L, numExperts: E, numWindows: W } = trace;
  const G = plan.numRanks;
  // Per layer, per slot: expert, rank and the share of the expert's load it takes (1 / replicas).
  const slotExpert: Int32Array[] = [];
  const slotRank: Int32Array[] = [];
  const slotWeight: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    const row = plan.phy2log[l];
    const P = row.length;
    const cnt = new Int32Array(E);
    for (const e of row) cnt[e]++;
    slotExpert.push(Int32Array.from(row));
    slotRank.push(Int32Array.from({ length: P }, (_, p) => rankOfSlot(p, P, G)));
    slotWeight.push(Float64Array.from(row, (e) => 1 / cnt[e]));
  }
  const acc = new Float64Array(G);
  const out: number[] = [];
  const c = trace.counts;
  for (let w = 0; w < W; w++) {
    let s = 0;
    let n = 0;
    for (let l = 0; l < L; l++) {
      acc.fill(0);
      const base = (w * L + l) * E;
      const se = slotExpert[l];
      const sr = slotRank[l];
      const sw = slotWeight[l];
      for (let p = 0; p < se.length; p++) acc[sr[p]] += c[base + se[p]] * sw[p];
      let tot = 0;
      let mx = 0;
      for (let r = 0; r < G; r++) {
        tot += acc[r];
        if (acc[r] > mx) mx = acc[r];
      }
      if (tot <= 0) continue;
      s += mx / (tot / G);
      n++;
    }
    out.push(n ? s / n : Number.NaN);
  }
  return out;
}

/** Replicas the switch from `current` to `next` must load: plan-stats' (layer, expert, rank) count. */
export function expertsMoved(current: Plan, next: Plan): number {
  return planExpertsMoved(next, current);
}

export function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : Number.NaN;
}
