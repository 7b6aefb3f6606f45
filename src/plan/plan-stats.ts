/**
 * The numbers every plan reports (PlanStats in src/core/plan.ts), scored in-sample on the planning load.
 *
 *   maxOverMean     mean over layers of max_r / mean_r rank load (an expert's load splits evenly over
 *                   its replicas; a layer with no load counts as 1)
 *   lowerBound      mean over layers of rankLowerBound(w_l, G, P_l) / (sum w_l / G)   (lower-bound.ts,
 *                   docs/solvers.md, lower bound)
 *   gapToBound      (maxOverMean - lowerBound) / lowerBound
 *   expertsMoved    with `current`: distinct (layer, expert, rank) triples the plan holds that `current`
 *                   does not, i.e. expert weights that must be copied onto a rank that lacks them
 *   extraSlotsPerRank  sum over layers of (P_l / G - ceil(E / G)): slots per rank beyond the fewest any
 *                   plan of this shape needs (every rank holds P_l / G slots, so it is the same on all)
 *   extraHbmBytes   extraSlotsPerRank x expertBytes (per rank; max over ranks = every rank)
 *   movedBytes      expertsMoved x expertBytes (total over the cluster)
 *   distinctRanksPerToken / distinctNodesPerToken  with routes: mean over tokens and layers of the
 *                   distinct ranks (nodes) one token's k experts live on (analyze/distinct-ranks-per-token.ts)
 *   worstLayer      index of the layer with the largest max/mean, and its value worstMaxOverMean
 *   speedAdjustedMaxOverMean  only with a cluster whose GPUs differ in speed: mean over layers of
 *                   max_r (load_r / speed_r) / (sum_r load_r / sum_r speed_r), i.e. the slowest GPU's
 *                   time over the time of a split proportional to speed (1 = every GPU finishes together)
 *
 * Shapes: plan with L layers, E experts, G ranks; load Float64Array[L][E] row-major; current with the
 * same L, E and G; routes [T][L][k] with the same L, E.
 */
import type { Cluster } from '../core/cluster.ts';
import { InputError } from '../core/errors.ts';
import type { Plan, PlanStats } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { distinctRanksPerToken } from '../analyze/distinct-ranks-per-token.ts';
import { layerRankLoads, planBalance } from './lower-bound.ts';

export interface PlanStatsOptions {
  /** Placement in force now, for experts moved. */
  current?: Plan;
  /** Bytes of one expert in one layer, for extra HBM and moved bytes. */
  expertBytes?: number;
  /** Token routes of the planning data, for distinct ranks / nodes per token. */
  routes?: TokenRoutes;
  /** Cluster: its GPUs per node sets the node of each rank (else plan.ranksPerNode). */
  cluster?: Cluster;
}

export interface FullPlanStats extends PlanStats {
  maxOverMean: number;
  lowerBound: number;
  gapToBound: number;
  extraSlotsPerRank: number;
  worstLayer: number;
  worstMaxOverMean: number;
  movedBytes?: number;
  speedAdjustedMaxOverMean?: number;
}

/** Count (layer, expert, rank) triples in `plan` absent from `current`. Shapes: same L, E, G. */
export function expertsMoved(plan: Plan, current: Plan): number {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  const had = new Uint8Array(E * G);
  const has = new Uint8Array(E * G);
  let moved = 0;
  for (let l = 0; l < L; l++) {
    had.fill(0);
    has.fill(0);
    const cur = current.phy2log[l];
    const cs = cur.length / G;
    for (let p = 0; p < cur.length; p++) had[cur[p] * G + Math.floor(p / cs)] = 1;
    const row = plan.phy2log[l];
    const s = row.length / G;
    for (let p = 0; p < row.length; p++) {
      const i = row[p] * G + Math.floor(p / s);
      if (!had[i] && !has[i]) moved++;
      has[i] = 1;
    }
  }
  return moved;
}

/** Sum over layers of slots per rank beyond ceil(E / G). */
export function extraSlotsPerRank(plan: Plan): number {
  const base = Math.ceil(plan.numExperts / plan.numRanks);
  let extra = 0;
  for (const row of plan.phy2log) extra += row.length / plan.numRanks - base;
  return extra;
}

export function planStats(plan: Plan, load: Float64Array, opts: PlanStatsOptions = {}): FullPlanStats {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  if (load.length !== L * E) throw new InputError('load', '', `expected ${L} layers x ${E} experts = ${L * E} values, got ${load.length}`);
  const bal = planBalance(load, plan);
  let worstLayer = 0;
  for (let l = 1; l < L; l++) if (bal.maxOverMean[l] > bal.maxOverMean[worstLayer]) worstLayer = l;
  const extra = extraSlotsPerRank(plan);
  const stats: FullPlanStats = {
    maxOverMean: bal.meanMaxOverMean,
    lowerBound: bal.meanLowerBound,
    gapToBound: bal.gapToBound,
    extraSlotsPerRank: extra,
    worstLayer,
    worstMaxOverMean: bal.maxOverMean[worstLayer],
  };
  if (opts.expertBytes !== undefined) stats.extraHbmBytes = extra * opts.expertBytes;
  if (opts.current) {
    const c = opts.current;
    if (c.numLayers !== L || c.numExperts !== E || c.numRanks !== G) {
      throw new InputError(
        '--current',
        '',
        `current plan is ${c.numLayers} layers x ${c.numExperts} experts on ${c.numRanks} ranks; the new plan is ${L} x ${E} on ${G}`,
      );
    }
    stats.expertsMoved = expertsMoved(plan, c);
    if (opts.expertBytes !== undefined) stats.movedBytes = stats.expertsMoved * opts.expertBytes;
  }
  if (opts.cluster && opts.cluster.gpus.some((g) => g.speed !== 1)) {
    stats.speedAdjustedMaxOverMean = speedAdjustedMaxOverMean(plan, load, opts.cluster.gpus.map((g) => g.speed));
  }
  if (opts.routes) {
    const ranksPerNode = opts.cluster ? opts.cluster.gpusPerNode : plan.ranksPerNode;
    const d = distinctRanksPerToken(opts.routes, plan, ranksPerNode);
    stats.distinctRanksPerToken = d.ranks;
    stats.distinctNodesPerToken = d.nodes;
  }
  return stats;
}

/**
 * Mean over layers of max_r (load_r / speed_r) / (sum load / sum speed); a layer with no load counts as 1.
 * Shapes: load [L][E], speeds [G] (> 0) -> number >= 1.
 */
export function speedAdjustedMaxOverMean(plan: Plan, load: Float64Array, speeds: number[]): number {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  if (speeds.length !== G) throw new InputError('--cluster', '', `the cluster has ${speeds.length} GPUs but the plan has ${G} ranks`);
  let totalSpeed = 0;
  for (const s of speeds) totalSpeed += s;
  const loads = new Float64Array(G);
  let acc = 0;
  for (let l = 0; l < L; l++) {
    layerRankLoads(load.subarray(l * E, (l + 1) * E), plan.phy2log[l], G, loads);
    let sum = 0;
    let worst = 0;
    for (let r = 0; r < G; r++) {
      sum += loads[r];
      worst = Math.max(worst, loads[r] / speeds[r]);
    }
    acc += sum > 0 ? worst / (sum / totalSpeed) : 1;
  }
  return acc / L;
}
