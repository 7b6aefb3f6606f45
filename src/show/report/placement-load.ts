/**
 * The placement view of one trace under one plan, built from src/analyze's metrics.
 *
 * placementView(label, plan, load[L][E]) -> PlacementView: rank loads summed over layers [G],
 *   per-layer max/mean rank load [L], both balancedness conventions.
 * perWindowMaxOverMean(trace, plan) -> [W]: for each window, the mean over layers (with traffic) of
 *   max/mean rank load in that window (same numbers as rankLoads + maxOverMean, without allocating
 *   per window).
 * expertsMoved(current, next) -> replicas of `next` placed on a rank that held no copy of that expert
 *   in `current` (the weights that must be loaded to switch).
 */
import type { LoadTrace } from '../../core/load-trace.ts';
import { type Plan, rankOfSlot } from '../../core/plan.ts';
import { rankLoads } from '../../analyze/rank-loads.ts';
import { maxOverMean } from '../../analyze/max-over-mean.ts';
import { balancednessVllm } from '../../analyze/balancedness-vllm.ts';
import { balancednessSglang } from '../../analyze/balancedness-sglang.ts';
import type { PlacementView } from './model.ts';

export function placementView(label: string, plan: Plan, load: Float64Array): PlacementView {
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
    stats: plan.stats ? { ...plan.stats } : undefined,
    params: plan.params,
  };
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

export function expertsMoved(current: Plan, next: Plan): number {
  let moved = 0;
  const E = next.numExperts;
  for (let l = 0; l < next.numLayers; l++) {
    const held = new Set<number>();
    const cur = current.phy2log[l];
    for (let p = 0; p < cur.length; p++) held.add(rankOfSlot(p, cur.length, current.numRanks) * E + cur[p]);
    const row = next.phy2log[l];
    for (let p = 0; p < row.length; p++) if (!held.has(rankOfSlot(p, row.length, next.numRanks) * E + row[p])) moved++;
  }
  return moved;
}

export function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : Number.NaN;
}
