/**
 * Trace replay: play a trace against placement policies, batch by batch, and predict time.
 *
 * Input (`ReplaySource`):
 *   routes  token routes [T][L][k]; the scored part [startToken, endToken) is cut into consecutive
 *           batches of `batchTokens` tokens from its start, the last partial batch dropped.
 *   counts  a load trace [W][L][E]; each window in [startWindow, endWindow) is one batch. Without
 *           routes, communication is estimated by treating a token's k choices as independent draws
 *           from the layer's rank shares (see `scoreCountsBatch`).
 *
 * Per batch and layer (routes): each (token, expert) choice goes to one replica: by default replica
 * number (i mod replicas(e)) where i is the token's index within the scored part ('token-mod', as
 * batch-rank-load.ts), or the replica with the fewest tokens so far in the batch ('least-loaded').
 * The batch's tokens come from the G ranks in contiguous equal blocks (data-parallel attention):
 * token at offset o of a batch of n tokens starts on rank floor(o * G / n).
 *
 * Per batch (length-B series in `BatchSeries`):
 *   maxOverMean     (1/L) sum_l max_r N[l][r] / (batchTokens * k / G)   (N: token-expert pairs on r)
 *   activatedMax    (1/L) sum_l max_r A[l][r]   (A: slots on r with at least one token)
 *   activatedMean   (1/L) sum_l mean_r A[l][r]
 *   distinctRanks   mean over (token, layer) of distinct ranks holding its k choices
 *   distinctNodes   the same for nodes
 *   dispatch/compute/combineUs   sum over layers of each phase's max over ranks (cost-model.ts)
 *   timeUs          sum over layers of the layer time, plus moveUs
 *   moveUs          time to load replicas moved by a re-plan taking effect at this batch
 *
 * Policies (`PolicySpec`): a static plan; periodic re-planning like vLLM EPLB (re-plan every
 * `interval` batches on the last `window` batches' counts, paying each re-plan's move cost); the
 * oracle (re-planned on every batch's own counts, no move cost: the ceiling a placement can reach).
 *
 * Performance: one pass over the ids per policy, typed arrays only, no per-token allocation.
 */
import { LinkKind } from '../core/cluster.ts';
import type { LoadTrace } from '../core/load-trace.ts';
import type { Plan } from '../core/plan.ts';
import type { TokenRoutes } from '../core/token-routes.ts';
import { routesToCounts } from '../core/token-routes.ts';
import type { PlacementSolver, SolveInput } from '../plan/solver.ts';
import { nearestRankPercentile } from '../analyze/percentile.ts';
import { combineLayerTime, commPhaseUs, type CostModel, layerComputeUs, moveTimeUs, NUM_LINK_KINDS } from './cost-model.ts';
import { compilePlan, movedReplicas, type PlanTables } from './plan-tables.ts';

export type ReplicaRouting = 'token-mod' | 'least-loaded';

export type ReplaySource =
  | { kind: 'routes'; routes: TokenRoutes; startToken: number; endToken: number; batchTokens: number }
  | { kind: 'counts'; load: LoadTrace; startWindow: number; endWindow: number };

/** Per-batch series, each of length B (number of batches). */
export interface BatchSeries {
  maxOverMean: Float64Array;
  activatedMax: Float64Array;
  activatedMean: Float64Array;
  distinctRanks: Float64Array;
  distinctNodes: Float64Array;
  dispatchUs: Float64Array;
  computeUs: Float64Array;
  combineUs: Float64Array;
  moveUs: Float64Array;
  timeUs: Float64Array;
  expertsMoved: Float64Array;
}

function newSeries(B: number): BatchSeries {
  const f = () => new Float64Array(B);
  return {
    maxOverMean: f(),
    activatedMax: f(),
    activatedMean: f(),
    distinctRanks: f(),
    distinctNodes: f(),
    dispatchUs: f(),
    computeUs: f(),
    combineUs: f(),
    moveUs: f(),
    timeUs: f(),
    expertsMoved: f(),
  };
}

/** Number of batches a source yields. */
export function numBatches(src: ReplaySource): number {
  if (src.kind === 'routes') return Math.max(0, Math.floor((src.endToken - src.startToken) / src.batchTokens));
  return Math.max(0, src.endWindow - src.startWindow);
}

/** Scratch arrays shared by every batch of one replay (sized on first use, grown when needed). */
export class ReplayScratch {
  slotCount = new Float64Array(0);
  send = new Float64Array(0);
  recv = new Float64Array(0);
  rankStamp: Int32Array;
  nodeStamp: Int32Array;
  netStamp: Int32Array;
  distinct: Int32Array;
  rankTmp: Float64Array;
  rankTmp2: Float64Array;
  stamp = 0;
  constructor(readonly cm: CostModel) {
    const G = cm.numRanks;
    this.rankStamp = new Int32Array(G);
    this.nodeStamp = new Int32Array(G);
    this.netStamp = new Int32Array(G);
    this.distinct = new Int32Array(G);
    this.rankTmp = new Float64Array(G);
    this.rankTmp2 = new Float64Array(G);
  }
  ensure(totalSlots: number, numLayers: number): void {
    if (this.slotCount.length < totalSlots) this.slotCount = new Float64Array(totalSlots);
    const n = numLayers * this.cm.numRanks * NUM_LINK_KINDS;
    if (this.send.length < n) {
      this.send = new Float64Array(n);
      this.recv = new Float64Array(n);
    }
  }
}

/**
 * Replay tokens [bStart, bEnd) of `routes` against `tables`, writing batch `b` of `out`.
 * `i0` is the first token of the scored part (for 'token-mod' replica choice).
 */
export function scoreRoutesBatch(
  routes: TokenRoutes,
  tables: PlanTables,
  bStart: number,
  bEnd: number,
  i0: number,
  sc: ReplayScratch,
  routing: ReplicaRouting,
  out: BatchSeries,
  b: number,
): void {
  const cm = sc.cm;
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const G = cm.numRanks;
  const gpn = cm.ranksPerNode;
  const NK = NUM_LINK_KINDS;
  const NET = LinkKind.NETWORK;
  const lowLatency = cm.constants.lowLatency >= 1;
  sc.ensure(tables.totalSlots, L);
  const slotCount = sc.slotCount;
  const send = sc.send;
  const recv = sc.recv;
  slotCount.fill(0, 0, tables.totalSlots);
  send.fill(0, 0, L * G * NK);
  recv.fill(0, 0, L * G * NK);
  const { replicas, slots, slotRank } = tables;
  const X = tables.maxReplicas;
  const nodeOf = cm.nodeOfRank;
  const linkKind = cm.linkKind;
  const rankStamp = sc.rankStamp;
  const nodeStamp = sc.nodeStamp;
  const netStamp = sc.netStamp;
  const dl = sc.distinct;
  const leastLoaded = routing === 'least-loaded';
  let stamp = sc.stamp;
  let rankTotal = 0;
  let nodeTotal = 0;
  const n = bEnd - bStart;
  const perToken = L * k;
  let s = 0;
  let nextBoundary = Math.ceil(n / G); // first offset whose source rank is 1
  for (let t = bStart; t < bEnd; t++) {
    const off = t - bStart;
    while (off >= nextBoundary && s < G - 1) {
      s++;
      nextBoundary = Math.ceil(((s + 1) * n) / G);
    }
    const i = t - i0;
    const base = t * perToken;
    const sNode = nodeOf[s];
    for (let l = 0; l < L; l++) {
      stamp++;
      let nd = 0;
      const lE = l * E;
      const o = base + l * k;
      const co = l * G * NK;
      for (let j = 0; j < k; j++) {
        const le = lE + experts[o + j];
        const c = replicas[le];
        let slot: number;
        if (c === 1) slot = slots[le * X];
        else if (!leastLoaded) slot = slots[le * X + (i % c)];
        else {
          slot = slots[le * X];
          let best = slotCount[slot];
          for (let q = 1; q < c; q++) {
            const sl = slots[le * X + q];
            if (slotCount[sl] < best) {
              best = slotCount[sl];
              slot = sl;
            }
          }
        }
        slotCount[slot]++;
        const r = slotRank[slot];
        if (lowLatency && r !== s) {
          const kind = linkKind[s * G + r];
          send[co + s * NK + kind]++;
          recv[co + r * NK + kind]++;
        }
        if (rankStamp[r] !== stamp) {
          rankStamp[r] = stamp;
          dl[nd++] = r;
          const nn = nodeOf[r];
          if (nodeStamp[nn] !== stamp) {
            nodeStamp[nn] = stamp;
            nodeTotal++;
          }
        }
      }
      rankTotal += nd;
      if (lowLatency) continue;
      for (let q = 0; q < nd; q++) {
        const d = dl[q];
        if (d === s) continue;
        const dn = nodeOf[d];
        if (dn === sNode) {
          const kind = linkKind[s * G + d];
          send[co + s * NK + kind]++;
          recv[co + d * NK + kind]++;
        } else {
          // One network copy per destination node, landing on the GPU with the source's local index,
          // then forwarded inside that node (DeepEP normal kernels).
          const land = dn * gpn + (s % gpn);
          if (netStamp[dn] !== stamp) {
            netStamp[dn] = stamp;
            send[co + s * NK + NET]++;
            recv[co + land * NK + NET]++;
          }
          if (d !== land) {
            const kind = linkKind[land * G + d];
            send[co + land * NK + kind]++;
            recv[co + d * NK + kind]++;
          }
        }
      }
    }
  }
  sc.stamp = stamp;
  out.distinctRanks[b] = n > 0 ? rankTotal / (n * L) : Number.NaN;
  out.distinctNodes[b] = n > 0 ? nodeTotal / (n * L) : Number.NaN;
  finishBatch(sc, tables, (n * k) / G, out, b);
}

/**
 * Score batch `b` from per-layer expert counts [L][E] of `tokens` tokens (no routes): each expert's
 * count splits evenly over its replicas; communication uses the independent-draw estimate
 *   P(token reaches rank d) = 1 - (1 - q_d)^k,  q_d = N_d / sum_r N_r,
 * each source rank sending tokens/G tokens; distinct ranks per token = sum_d P(d), nodes likewise.
 * Low-latency kernels: copies s -> d = (tokens/G) * k * q_d.
 */
export function scoreCountsBatch(
  counts: Float64Array,
  topK: number,
  tokens: number,
  tables: PlanTables,
  sc: ReplayScratch,
  out: BatchSeries,
  b: number,
): void {
  const cm = sc.cm;
  const { numLayers: L, numExperts: E } = tables;
  const G = cm.numRanks;
  const gpn = cm.ranksPerNode;
  const numNodes = G / gpn;
  const NK = NUM_LINK_KINDS;
  const NET = LinkKind.NETWORK;
  sc.ensure(tables.totalSlots, L);
  const { slotCount, send, recv } = sc;
  slotCount.fill(0, 0, tables.totalSlots);
  send.fill(0, 0, L * G * NK);
  recv.fill(0, 0, L * G * NK);
  const X = tables.maxReplicas;
  const q = sc.rankTmp;
  const pHit = sc.rankTmp2;
  const nodeShare = new Float64Array(numNodes);
  const perSrc = tokens / G;
  let rankSum = 0;
  let nodeSum = 0;
  let pairsTotal = 0;
  for (let l = 0; l < L; l++) {
    q.fill(0);
    let tot = 0;
    for (let e = 0; e < E; e++) {
      const le = l * E + e;
      const c = tables.replicas[le];
      const v = counts[le];
      tot += v;
      for (let j = 0; j < c; j++) {
        const slot = tables.slots[le * X + j];
        slotCount[slot] += v / c;
        q[tables.slotRank[slot]] += v / c;
      }
    }
    pairsTotal += tot;
    if (tot <= 0) continue;
    nodeShare.fill(0);
    for (let r = 0; r < G; r++) {
      q[r] /= tot;
      pHit[r] = 1 - Math.pow(1 - q[r], topK);
      nodeShare[cm.nodeOfRank[r]] += q[r];
      rankSum += pHit[r];
    }
    for (let nn = 0; nn < numNodes; nn++) nodeSum += 1 - Math.pow(1 - nodeShare[nn], topK);
    const co = l * G * NK;
    for (let s = 0; s < G; s++) {
      const sNode = cm.nodeOfRank[s];
      for (let d = 0; d < G; d++) {
        if (d === s) continue;
        const copies = cm.constants.lowLatency >= 1 ? perSrc * topK * q[d] : perSrc * pHit[d];
        const dn = cm.nodeOfRank[d];
        if (dn === sNode || cm.constants.lowLatency >= 1) {
          const kind = cm.linkKind[s * G + d];
          send[co + s * NK + kind] += copies;
          recv[co + d * NK + kind] += copies;
        } else {
          const land = dn * gpn + (s % gpn);
          if (d !== land) {
            const kind = cm.linkKind[land * G + d];
            send[co + land * NK + kind] += copies;
            recv[co + d * NK + kind] += copies;
          }
        }
      }
      if (cm.constants.lowLatency < 1) {
        for (let nn = 0; nn < numNodes; nn++) {
          if (nn === sNode) continue;
          const copies = perSrc * (1 - Math.pow(1 - nodeShare[nn], topK));
          const land = nn * gpn + (s % gpn);
          send[co + s * NK + NET] += copies;
          recv[co + land * NK + NET] += copies;
        }
      }
    }
  }
  out.distinctRanks[b] = rankSum / L;
  out.distinctNodes[b] = nodeSum / L;
  finishBatch(sc, tables, pairsTotal / L / G, out, b);
}

/** Per-layer reduction shared by both batch scorers. `meanRank` = mean token-expert pairs per rank. */
function finishBatch(sc: ReplayScratch, tables: PlanTables, meanRank: number, out: BatchSeries, b: number): void {
  const cm = sc.cm;
  const L = tables.numLayers;
  const G = cm.numRanks;
  const NK = NUM_LINK_KINDS;
  const { slotCount, send, recv } = sc;
  const rankTok = sc.rankTmp;
  const rankAct = sc.rankTmp2;
  const overlap = cm.constants.overlap >= 1;
  let mom = 0;
  let actMax = 0;
  let actMean = 0;
  let disp = 0;
  let comp = 0;
  let comb = 0;
  let total = 0;
  const scratch = new Float64Array(G);
  for (let l = 0; l < L; l++) {
    const p0 = tables.slotBase[l];
    const p1 = tables.slotBase[l + 1];
    rankTok.fill(0);
    rankAct.fill(0);
    for (let p = p0; p < p1; p++) {
      const v = slotCount[p];
      if (v > 0) {
        const r = tables.slotRank[p];
        rankTok[r] += v;
        rankAct[r]++;
      }
    }
    let mx = 0;
    let amx = 0;
    let asum = 0;
    for (let r = 0; r < G; r++) {
      if (rankTok[r] > mx) mx = rankTok[r];
      if (rankAct[r] > amx) amx = rankAct[r];
      asum += rankAct[r];
    }
    mom += meanRank > 0 ? mx / meanRank : 1;
    actMax += amx;
    actMean += asum / G;
    const counts = slotCount.subarray(p0, p1);
    const ranks = tables.slotRank.subarray(p0, p1);
    const x = layerComputeUs(cm, counts, ranks, scratch);
    const xh = overlap ? layerComputeUs(cm, counts, ranks, scratch, 0.5) : x / 2;
    const d = commPhaseUs(cm, send, recv, l * G * NK, cm.constants.dispatchBytesPerToken);
    const c = commPhaseUs(cm, send, recv, l * G * NK, cm.constants.combineBytesPerToken);
    const lt = combineLayerTime(cm, d, x, c, xh);
    disp += d;
    comp += x;
    comb += c;
    total += lt.totalUs;
  }
  out.maxOverMean[b] = mom / L;
  out.activatedMax[b] = actMax / L;
  out.activatedMean[b] = actMean / L;
  out.dispatchUs[b] = disp;
  out.computeUs[b] = comp;
  out.combineUs[b] = comb;
  out.timeUs[b] = total + out.moveUs[b];
}

/** Per-layer expert counts [L][E] of batch `b` (copies). */
export function batchCounts(src: ReplaySource, b: number): Float64Array {
  if (src.kind === 'routes') {
    const t0 = src.startToken + b * src.batchTokens;
    return routesToCounts(src.routes, t0, t0 + src.batchTokens);
  }
  const per = src.load.numLayers * src.load.numExperts;
  const w = src.startWindow + b;
  return src.load.counts.slice(w * per, (w + 1) * per);
}

function scoreBatch(src: ReplaySource, tables: PlanTables, b: number, sc: ReplayScratch, routing: ReplicaRouting, out: BatchSeries): void {
  if (src.kind === 'routes') {
    const t0 = src.startToken + b * src.batchTokens;
    scoreRoutesBatch(src.routes, tables, t0, t0 + src.batchTokens, src.startToken, sc, routing, out, b);
  } else {
    const counts = batchCounts(src, b);
    const w = src.load.windows[src.startWindow + b];
    const k = src.load.meta.topK ?? 1;
    let layer0 = 0;
    for (let e = 0; e < src.load.numExperts; e++) layer0 += counts[e];
    const tokens = w?.tokens ?? layer0 / k;
    scoreCountsBatch(counts, k, tokens, tables, sc, out, b);
  }
}

/** The parts of a SolveInput a policy fills per re-plan (load, current, routes are set per call). */
export type SolveBase = Omit<SolveInput, 'load' | 'current' | 'routes' | 'windows' | 'numWindows'>;

export type PolicySpec =
  | { kind: 'static'; name: string; plan: Plan }
  | {
      kind: 'periodic';
      name: string;
      /** Placement before the first re-plan (vLLM starts from its default, linear). */
      initial: Plan;
      solver: PlacementSolver;
      solveBase: SolveBase;
      /** Batches of history each re-plan uses (vLLM window_size). */
      window: number;
      /** Re-plan after every `interval` batches (vLLM step_interval). */
      interval: number;
    }
  | { kind: 'oracle'; name: string; solver: PlacementSolver; solveBase: SolveBase };

export interface PolicyResult {
  name: string;
  kind: PolicySpec['kind'];
  series: BatchSeries;
  /** The plan in force at the end of the replay. */
  finalPlan?: Plan;
  /** Re-plans performed (periodic; oracle: one per batch). */
  replans: number;
  /** Replicas moved over the whole replay (periodic re-plans). */
  expertsMoved: number;
}

export interface ReplayOptions {
  routing?: ReplicaRouting;
}

/** Replay every policy over the same batches of `src`. */
export async function replayPolicies(src: ReplaySource, policies: PolicySpec[], cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult[]> {
  const out: PolicyResult[] = [];
  for (const p of policies) out.push(await replayPolicy(src, p, cm, opts));
  return out;
}

/** Replay one policy. */
export async function replayPolicy(src: ReplaySource, policy: PolicySpec, cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult> {
  const routing = opts.routing ?? 'token-mod';
  const B = numBatches(src);
  const series = newSeries(B);
  const sc = new ReplayScratch(cm);
  if (policy.kind === 'static') {
    const tables = compilePlan(policy.plan);
    for (let b = 0; b < B; b++) scoreBatch(src, tables, b, sc, routing, series);
    return { name: policy.name, kind: policy.kind, series, finalPlan: policy.plan, replans: 0, expertsMoved: 0 };
  }
  if (policy.kind === 'oracle') {
    let last: Plan | undefined;
    for (let b = 0; b < B; b++) {
      const counts = batchCounts(src, b);
      last = await policy.solver.solve({ ...policy.solveBase, load: counts });
      scoreBatch(src, compilePlan(last), b, sc, routing, series);
    }
    return { name: policy.name, kind: policy.kind, series, finalPlan: last, replans: B, expertsMoved: 0 };
  }
  // periodic
  const L = policy.initial.numLayers;
  const E = policy.initial.numExperts;
  const W = Math.max(1, policy.window);
  const S = Math.max(1, policy.interval);
  const history: Float64Array[] = [];
  let plan = policy.initial;
  let tables = compilePlan(plan);
  let replans = 0;
  let moved = 0;
  let pendingMoveUs = 0;
  let pendingMoved = 0;
  for (let b = 0; b < B; b++) {
    series.moveUs[b] = pendingMoveUs;
    series.expertsMoved[b] = pendingMoved;
    pendingMoveUs = 0;
    pendingMoved = 0;
    scoreBatch(src, tables, b, sc, routing, series);
    history.push(batchCounts(src, b));
    if (history.length > W) history.shift();
    if ((b + 1) % S === 0 && b + 1 < B) {
      const load = new Float64Array(L * E);
      for (const h of history) for (let i = 0; i < load.length; i++) load[i] += h[i];
      const next = await policy.solver.solve({ ...policy.solveBase, load, current: plan });
      const mv = movedReplicas(plan, next);
      // Each layer's weights move in turn; the re-plan costs the sum over layers of the slowest rank.
      const G = cm.numRanks;
      let us = 0;
      for (let l = 0; l < L; l++) us += moveTimeUs(cm, mv.perRank.subarray(l * G, (l + 1) * G));
      pendingMoveUs = us;
      pendingMoved = mv.total;
      moved += mv.total;
      replans++;
      plan = next;
      tables = compilePlan(plan);
    }
  }
  return { name: policy.name, kind: policy.kind, series, finalPlan: plan, replans, expertsMoved: moved };
}

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

function mean(a: Float64Array): number {
  if (a.length === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

function sum(a: Float64Array): number {
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
