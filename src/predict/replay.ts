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
 * Performance (routes, G <= 32, token-mod; scoreRoutesBatchMulti): per batch and layer the ids are
 * gathered, counted and grouped by expert once for all policies; each policy ORs precomputed rank bits
 * (PlanTables.expertRankBit / slotRankBit) into one 32-bit mask per token, adds its replicated experts
 * expert by expert, and counts copies from the masks (byte lanes per node on 8-GPU nodes); counts are
 * Int32 and the per-layer time is computed from them in place (finishBatchCounts). Typed arrays only,
 * no per-batch allocation. Every path gives the same numbers as scoreRoutesBatchGeneral.
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
  | {
      kind: 'counts';
      load: LoadTrace;
      startWindow: number;
      endWindow: number;
      /**
       * Tokens per step: each window's counts are scaled to this many tokens (its expected load per
       * step), so a histogram captured over 200K tokens predicts a 512-token step. Undefined: windows
       * are scored as recorded (each window is one engine step).
       */
      stepTokens?: number;
    };

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

export function newSeries(B: number): BatchSeries {
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
  rankTmp3: Float64Array;
  stamp = 0;
  srcRank = new Int32Array(0);
  ids = new Int32Array(0);
  slotCountI = new Int32Array(0);
  /** [n] destination-rank bitmask of each token of the batch at the current layer. */
  masks = new Int32Array(0);
  fwdSend: Int32Array;
  sendI = new Int32Array(0);
  recvI = new Int32Array(0);
  /** [G * NUM_LINK_KINDS] bitmask of the same-node peers of rank s reached over each link kind (G <= 32). */
  kindMask: Int32Array;
  /** Same-node link kinds present in the cluster. */
  kindList: Int32Array;
  modTab = new Uint8Array(0);
  /** [maxReplicas] rank bit and token count of each replica of the expert being added (addReplicatedChoices). */
  repBit = new Int32Array(0);
  repCount = new Int32Array(0);
  /** [numNodes] bitmask of the ranks on each node (G <= 32). */
  nodeMask: Int32Array;
  /**
   * True when the byte-lane communication counter applies (commFromMasksNodes8): 8 ranks per node,
   * rank r on node floor(r / 8), G a multiple of 8 and <= 32, one same-node link kind joining every
   * same-node pair.
   */
  node8: boolean;
  /** All ranks have the same speed (finishBatchCounts then divides the slowest rank's time once). */
  uniformSpeed: boolean;
  /** [NUM_LINK_KINDS] 1 when every rank has the same bandwidth of that kind (one division per kind). */
  uniformLink: Uint8Array;
  /** Distinct ranks / nodes summed over (token, layer) by the current batch's mask pass. */
  rankTotal = 0;
  nodeTotal = 0;
  /** [32] per-destination-rank counters of commFromMasksNodes8. */
  laneHits = new Int32Array(32);
  laneSub = new Int32Array(32);
  constructor(readonly cm: CostModel) {
    const G = cm.numRanks;
    this.rankStamp = new Int32Array(G);
    this.nodeStamp = new Int32Array(G);
    this.netStamp = new Int32Array(G);
    this.distinct = new Int32Array(G);
    this.rankTmp = new Float64Array(G);
    this.rankTmp2 = new Float64Array(G);
    this.rankTmp3 = new Float64Array(G);
    const numNodes = Math.max(1, Math.round(G / cm.ranksPerNode));
    this.nodeMask = new Int32Array(numNodes);
    this.fwdSend = new Int32Array(numNodes);
    this.kindMask = new Int32Array(G * NUM_LINK_KINDS);
    if (G <= 32) {
      for (let r = 0; r < G; r++) this.nodeMask[cm.nodeOfRank[r]] |= 1 << r;
      for (let a = 0; a < G; a++) {
        for (let b = 0; b < G; b++) {
          if (a !== b && cm.nodeOfRank[a] === cm.nodeOfRank[b]) this.kindMask[a * NUM_LINK_KINDS + cm.linkKind[a * G + b]] |= 1 << b;
        }
      }
    }
    const kinds: number[] = [];
    for (let kind = 1; kind < NUM_LINK_KINDS; kind++) {
      if (kind === LinkKind.NETWORK) continue;
      for (let r = 0; r < Math.min(G, 32); r++) {
        if (this.kindMask[r * NUM_LINK_KINDS + kind] !== 0) {
          kinds.push(kind);
          break;
        }
      }
    }
    this.kindList = Int32Array.from(kinds);
    let node8 = cm.ranksPerNode === 8 && G % 8 === 0 && G <= 32 && kinds.length === 1;
    for (let r = 0; node8 && r < G; r++) {
      if (cm.nodeOfRank[r] !== r >>> 3) node8 = false;
      else if (this.kindMask[r * NUM_LINK_KINDS + kinds[0]] !== (this.nodeMask[r >>> 3] & ~(1 << r))) node8 = false;
    }
    this.node8 = node8;
    let us = true;
    for (let r = 1; r < G; r++) if (cm.rankSpeed[r] !== cm.rankSpeed[0]) us = false;
    this.uniformSpeed = us;
    this.uniformLink = new Uint8Array(NUM_LINK_KINDS);
    for (let kind = 0; kind < NUM_LINK_KINDS; kind++) {
      let u = 1;
      for (let r = 1; r < G; r++) if (cm.rankLinkGBs[r * NUM_LINK_KINDS + kind] !== cm.rankLinkGBs[kind]) u = 0;
      this.uniformLink[kind] = u;
    }
  }
  ensureBatch(n: number, maxReplicas: number): void {
    if (this.srcRank.length < n) this.srcRank = new Int32Array(n);
    if (this.masks.length < n) this.masks = new Int32Array(n);
    if (this.ids.length < n * 64) this.ids = new Int32Array(n * 64);
    const need = n * (maxReplicas + 1);
    if (maxReplicas > 1 && this.modTab.length < need) this.modTab = new Uint8Array(need);
    if (this.repBit.length < maxReplicas) {
      this.repBit = new Int32Array(maxReplicas);
      this.repCount = new Int32Array(maxReplicas);
    }
  }
  ensure(totalSlots: number, numLayers: number): void {
    if (this.slotCount.length < totalSlots) {
      this.slotCount = new Float64Array(totalSlots);
      this.slotCountI = new Int32Array(totalSlots);
    }
    const n = numLayers * this.cm.numRanks * NUM_LINK_KINDS;
    if (this.send.length < n) {
      this.send = new Float64Array(n);
      this.recv = new Float64Array(n);
      this.sendI = new Int32Array(n);
      this.recvI = new Int32Array(n);
    }
  }
}

/**
 * Replay tokens [bStart, bEnd) of `routes` against `tables`, writing batch `b` of `out`.
 * `i0` is the first token of the scored part (for 'token-mod' replica choice). Uses the bitmask path
 * when G <= 32 and routing is 'token-mod', else the general path; both give identical results.
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
  if (sc.cm.numRanks <= 32 && routing === 'token-mod') scoreRoutesBatchMask(routes, tables, bStart, bEnd, i0, sc, out, b);
  else scoreRoutesBatchGeneral(routes, tables, bStart, bEnd, i0, sc, routing, out, b);
}

/** Population count of a 32-bit integer. */
function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/** One policy's part of a multi-policy batch: its plan tables, scratch and output series. */
export interface ScoreItem {
  tables: PlanTables;
  sc: ReplayScratch;
  out: BatchSeries;
}

/** Buffers shared by every policy of one replay: the batch's ids of one layer and expert counts. */
export class SharedScratch {
  ids = new Int32Array(0);
  expertCount = new Int32Array(0);
  srcRank = new Int32Array(0);
  /** [n*k] the current layer's (token offset) of each choice, grouped by expert (counting sort). */
  byExpert = new Int32Array(0);
  /** [E+1] start of expert e's group in byExpert; [E] fill cursor. */
  expertStart = new Int32Array(0);
  expertFill = new Int32Array(0);
  /** [LB][8][E] the current layer block's expert counts split by token index mod 8. */
  countMod8 = new Int32Array(0);
  ensure(n: number, k: number, LE: number): void {
    if (this.ids.length < n * k) this.ids = new Int32Array(n * k);
    if (this.byExpert.length < n * k) this.byExpert = new Int32Array(n * k);
    if (this.expertCount.length < LE) this.expertCount = new Int32Array(LE);
    if (this.srcRank.length < n) this.srcRank = new Int32Array(n);
  }
}

/** Bitmask path for one policy (see scoreRoutesBatchMulti). */
export function scoreRoutesBatchMask(
  routes: TokenRoutes,
  tables: PlanTables,
  bStart: number,
  bEnd: number,
  i0: number,
  sc: ReplayScratch,
  out: BatchSeries,
  b: number,
): void {
  scoreRoutesBatchMulti(routes, [{ tables, sc, out }], bStart, bEnd, i0, b, new SharedScratch());
}

/**
 * Bitmask path (G <= 32, token-mod routing) for several policies over the same batch. Layer by layer:
 * the batch's ids of that layer are gathered once into a contiguous Int32 buffer and counted per expert
 * once, split by token index mod 8 (shared by all policies); each policy then turns every token's k
 * choices into a 32-bit mask of destination ranks (an OR of precomputed rank bits, no branches; experts
 * with 2, 4 or 8 replicas resolved there too, from rows indexed by token index mod 8, and their slot
 * counts taken from the mod-8 counts), adds experts with other replica counts (3, 5, ...) from the
 * choices grouped by expert, and counts communication copies
 * from the masks (commFromMasksNodes8 on 8-GPU nodes, else the bit-sliced counters). A policy with no
 * replicas needs no per-choice counter: its slot counts are the shared expert counts. Low-latency
 * kernels (a copy per choice) go through scoreRoutesBatchMultiPerChoice. Results are identical to
 * scoreRoutesBatchGeneral (all counts are integers).
 */
export function scoreRoutesBatchMulti(
  routes: TokenRoutes,
  items: ScoreItem[],
  bStart: number,
  bEnd: number,
  i0: number,
  b: number,
  shared: SharedScratch,
): void {
  if (items[0].sc.cm.numRanks > 32) throw new RangeError(`the bitmask path needs G <= 32 ranks, got ${items[0].sc.cm.numRanks}`);
  for (let q = 0; q < items.length; q++) {
    if (items[q].sc.cm.constants.lowLatency >= 1) {
      scoreRoutesBatchMultiPerChoice(routes, items, bStart, bEnd, i0, b, shared);
      return;
    }
  }
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const n = bEnd - bStart;
  const G = items[0].sc.cm.numRanks;
  const NK = NUM_LINK_KINDS;
  shared.ensure(n * Math.min(L, LAYER_BLOCK), k, L * E);
  const ids = shared.ids;
  const expertCount = shared.expertCount;
  const srcRank = shared.srcRank;
  expertCount.fill(0, 0, L * E);
  for (let off = 0; off < n; off++) srcRank[off] = Math.floor((off * G) / n);
  for (let q = 0; q < items.length; q++) {
    const { tables, sc } = items[q];
    sc.ensure(tables.totalSlots, L);
    sc.ensureBatch(n, tables.maxReplicas);
    sc.slotCountI.fill(0, 0, tables.totalSlots);
    sc.sendI.fill(0, 0, L * G * NK);
    sc.recvI.fill(0, 0, L * G * NK);
    sc.rankTotal = 0;
    sc.nodeTotal = 0;
    const X = tables.maxReplicas;
    if (X > 1) fillModTab(sc.modTab, X, bStart - i0, n);
  }
  // Experts with 2, 4 or 8 replicas are resolved in the mask pass (tables by token index mod 8) and
  // counted from the per-residue expert counts; only other replica counts need the choices grouped.
  let anyOther = false;
  for (let q = 0; q < items.length; q++) if (items[q].tables.otherExperts.length > 0) anyOther = true;
  const iBase = bStart - i0;
  // Three plans, k = 8, Uint8 ids, some choices to group: the fused mask pass reads the ids straight
  // from the trace, so the gather only counts them.
  const direct = anyOther && k === 8 && items.length === 3 && experts instanceof Uint8Array;
  const LB = Math.min(L, LAYER_BLOCK);
  if (shared.countMod8.length < LB * 8 * E) shared.countMod8 = new Int32Array(LB * 8 * E);
  const countMod8 = shared.countMod8;
  if (anyOther && shared.expertStart.length < E + 1) {
    shared.expertStart = new Int32Array(E + 1);
    shared.expertFill = new Int32Array(E);
  }
  // Layers in blocks of LB: one sweep over the batch's ids reads whole cache lines (k = 8: 8 layers of
  // a token are 64 contiguous bytes) and writes each layer's ids contiguously.
  for (let l = 0; l < L; l++) {
    const lE = l * E;
    const co = l * G * NK;
    const ib = (l % LB) * n * k;
    if (l % LB === 0) {
      const lb = Math.min(LB, L - l);
      countMod8.fill(0, 0, lb * 8 * E);
      if (direct) countLayers8(experts as Uint8Array, bStart * L * k + l * k, L * k, n, lb, E, countMod8, iBase);
      else if (experts instanceof Uint8Array) gatherLayers8(experts, bStart * L * k + l * k, L * k, n, k, lb, E, ids, countMod8, iBase);
      else gatherLayers16(experts, bStart * L * k + l * k, L * k, n, k, lb, E, ids, countMod8, iBase);
      sumCountMod8(countMod8, lb, E, expertCount, lE);
    }
    const cb = (l % LB) * 8 * E;
    // Grouping by expert is fused into the three-plan mask pass when there is one (k = 8).
    const fuseGroup = anyOther && k === 8 && items.length >= 3;
    if (fuseGroup) expertStarts(E, expertCount, lE, shared.expertStart, shared.expertFill);
    else if (anyOther) groupByExpert(ids, ib, n, k, E, expertCount, lE, shared.expertStart, shared.expertFill, shared.byExpert);
    // Masks: with k = 8, plans three (or two) at a time in one pass over the ids (every plan's
    // expertRankBitMod8 holds its single-replica experts' bits too).
    let q0 = 0;
    if (k === 8) {
      const lq = l * 8 * E;
      for (; q0 + 1 < items.length; ) {
        const a = items[q0];
        const b2 = items[q0 + 1];
        if (q0 + 2 < items.length) {
          const c2 = items[q0 + 2];
          if (direct) {
            masksMod8ThreeGroupedDirect(experts as Uint8Array, bStart * L * k + l * k, L * k, n, lq, E, iBase, a.tables.expertRankBitMod8, a.sc.masks, b2.tables.expertRankBitMod8, b2.sc.masks, c2.tables.expertRankBitMod8, c2.sc.masks, shared.expertFill, shared.byExpert);
          } else if (fuseGroup && q0 === 0) {
            masksMod8ThreeGrouped(ids, ib, n, lq, E, iBase, a.tables.expertRankBitMod8, a.sc.masks, b2.tables.expertRankBitMod8, b2.sc.masks, c2.tables.expertRankBitMod8, c2.sc.masks, shared.expertFill, shared.byExpert);
          } else {
            masksMod8Three(ids, ib, n, lq, E, iBase, a.tables.expertRankBitMod8, a.sc.masks, b2.tables.expertRankBitMod8, b2.sc.masks, c2.tables.expertRankBitMod8, c2.sc.masks);
          }
          q0 += 3;
        } else {
          masksMod8Two(ids, ib, n, lq, E, iBase, a.tables.expertRankBitMod8, a.sc.masks, b2.tables.expertRankBitMod8, b2.sc.masks);
          q0 += 2;
        }
      }
    }
    for (let q = 0; q < items.length; q++) {
      const { tables, sc } = items[q];
      if (tables.pow2Experts.length === 0) {
        if (q >= q0) masksSingle(ids, ib, n, k, lE, tables.expertRankBit, sc.masks);
      } else {
        if (q >= q0) masksMod8(ids, ib, n, k, l * 8 * E, E, iBase, tables.expertRankBitMod8, sc.masks);
        addPow2SlotCounts(tables, l, countMod8, cb, sc.slotCountI);
      }
    }
    // Other replicated experts, plans with them taken two at a time.
    let pending = -1;
    for (let q = 0; q < items.length; q++) {
      if (items[q].tables.otherExperts.length === 0) continue;
      if (pending < 0) pending = q;
      else {
        const a = items[pending];
        const b2 = items[q];
        addReplicatedChoicesPair(a.tables, b2.tables, l, shared.expertStart, shared.byExpert, a.sc, b2.sc, iBase);
        pending = -1;
      }
    }
    if (pending >= 0) addReplicatedChoices(items[pending].tables, l, shared.expertStart, shared.byExpert, items[pending].sc, iBase);
    for (let q = 0; q < items.length; q++) {
      const { sc } = items[q];
      const masks = sc.masks;
      if (sc.node8) commFromMasksNodes8(sc, masks, srcRank, n, co, sc.sendI, sc.recvI);
      else {
        maskTotals(sc, masks, n);
        if (sc.kindList.length <= 1) commFromMasks1(sc, masks, srcRank, n, co, sc.sendI, sc.recvI);
        else if (G / sc.cm.ranksPerNode === 1) commFromMasks(sc, masks, srcRank, n, co, sc.sendI, sc.recvI);
        else commFromMasksLoop(sc, masks, srcRank, n, co, sc.sendI, sc.recvI);
      }
    }
  }
  for (let q = 0; q < items.length; q++) {
    const { tables, sc, out } = items[q];
    // Slot counts: single-replica experts' are the shared expert counts; replicas were counted per choice.
    const ci = sc.slotCountI;
    const { singleLe, singleSlot } = tables;
    for (let j = 0; j < singleLe.length; j++) ci[singleSlot[j]] = expertCount[singleLe[j]];
    out.distinctRanks[b] = n > 0 ? sc.rankTotal / (n * L) : Number.NaN;
    out.distinctNodes[b] = n > 0 ? sc.nodeTotal / (n * L) : Number.NaN;
    finishBatchCounts(sc, tables, ci, sc.sendI, sc.recvI, (n * k) / G, out, b);
  }
}

/** Layers per gather sweep (scoreRoutesBatchMulti). */
const LAYER_BLOCK = 8;

/**
 * Copy the ids of lb consecutive layers of n consecutive tokens (token t's first at src + t * stride,
 * layer after layer, k per layer) into ids[lb][n * k] and count them by token index mod 8 into
 * countMod8[(li * 8 + (iBase + t) % 8) * E + e] (zeroed by the caller). Uint8 ids (one copy per id array
 * type keeps the loop monomorphic).
 */
function gatherLayers8(experts: Uint8Array, src: number, stride: number, n: number, k: number, lb: number, E: number, ids: Int32Array, countMod8: Int32Array, iBase: number): void {
  const nk = n * k;
  for (let li = 0; li < lb; li++) {
    const cl = li * 8 * E;
    let s = src + li * k;
    let d = li * nk;
    if (k === 8) {
      for (let off = 0; off < n; off++, s += stride, d += 8) {
        const c = cl + ((iBase + off) & 7) * E;
        const e0 = experts[s], e1 = experts[s + 1], e2 = experts[s + 2], e3 = experts[s + 3];
        const e4 = experts[s + 4], e5 = experts[s + 5], e6 = experts[s + 6], e7 = experts[s + 7];
        ids[d] = e0; ids[d + 1] = e1; ids[d + 2] = e2; ids[d + 3] = e3;
        ids[d + 4] = e4; ids[d + 5] = e5; ids[d + 6] = e6; ids[d + 7] = e7;
        countMod8[c + e0]++; countMod8[c + e1]++; countMod8[c + e2]++; countMod8[c + e3]++;
        countMod8[c + e4]++; countMod8[c + e5]++; countMod8[c + e6]++; countMod8[c + e7]++;
      }
    } else {
      for (let off = 0; off < n; off++, s += stride) {
        const c = cl + ((iBase + off) & 7) * E;
        for (let j = 0; j < k; j++) {
          const e = experts[s + j];
          ids[d++] = e;
          countMod8[c + e]++;
        }
      }
    }
  }
}

/** gatherLayers8's counting alone (k = 8), for when the ids are read from the trace afterwards. */
function countLayers8(experts: Uint8Array, src: number, stride: number, n: number, lb: number, E: number, countMod8: Int32Array, iBase: number): void {
  for (let li = 0; li < lb; li++) {
    const cl = li * 8 * E;
    let s = src + li * 8;
    for (let off = 0; off < n; off++, s += stride) {
      const c = cl + ((iBase + off) & 7) * E;
      countMod8[c + experts[s]]++; countMod8[c + experts[s + 1]]++; countMod8[c + experts[s + 2]]++; countMod8[c + experts[s + 3]]++;
      countMod8[c + experts[s + 4]]++; countMod8[c + experts[s + 5]]++; countMod8[c + experts[s + 6]]++; countMod8[c + experts[s + 7]]++;
    }
  }
}

/** gatherLayers8 for Uint16 ids. */
function gatherLayers16(experts: Uint16Array, src: number, stride: number, n: number, k: number, lb: number, E: number, ids: Int32Array, countMod8: Int32Array, iBase: number): void {
  const nk = n * k;
  for (let li = 0; li < lb; li++) {
    const cl = li * 8 * E;
    let s = src + li * k;
    let d = li * nk;
    for (let off = 0; off < n; off++, s += stride) {
      const c = cl + ((iBase + off) & 7) * E;
      for (let j = 0; j < k; j++) {
        const e = experts[s + j];
        ids[d++] = e;
        countMod8[c + e]++;
      }
    }
  }
}

/** expertCount[lE + li * E + e] = sum over q < 8 of countMod8[(li * 8 + q) * E + e], for li < lb. */
function sumCountMod8(countMod8: Int32Array, lb: number, E: number, expertCount: Int32Array, lE: number): void {
  for (let li = 0; li < lb; li++) {
    const c = li * 8 * E;
    const d = lE + li * E;
    for (let e = 0; e < E; e++) {
      const a = c + e;
      expertCount[d + e] =
        countMod8[a] + countMod8[a + E] + countMod8[a + 2 * E] + countMod8[a + 3 * E] +
        countMod8[a + 4 * E] + countMod8[a + 5 * E] + countMod8[a + 6 * E] + countMod8[a + 7 * E];
    }
  }
}

/**
 * masks[t] = OR of the rank bits of token t's k choices, token t = iBase + t in the replayed part,
 * from expertRankBitMod8 rows (lq + ((iBase + t) mod 8) * E): single-replica experts and those with 2, 4
 * or 8 replicas (replica (iBase + t) mod c); 0 for other replicated experts. ids [n * k] from ib.
 */
function masksMod8(ids: Int32Array, ib: number, n: number, k: number, lq: number, E: number, iBase: number, bitMod8: Int32Array, masks: Int32Array): void {
  if (k === 8) {
    for (let off = 0, o = ib; off < n; off++, o += 8) {
      const r = lq + ((iBase + off) & 7) * E;
      masks[off] =
        bitMod8[r + ids[o]] | bitMod8[r + ids[o + 1]] | bitMod8[r + ids[o + 2]] | bitMod8[r + ids[o + 3]] |
        bitMod8[r + ids[o + 4]] | bitMod8[r + ids[o + 5]] | bitMod8[r + ids[o + 6]] | bitMod8[r + ids[o + 7]];
    }
    return;
  }
  for (let off = 0, o = ib; off < n; off++) {
    const r = lq + ((iBase + off) & 7) * E;
    let mask = 0;
    for (let j = 0; j < k; j++) mask |= bitMod8[r + ids[o++]];
    masks[off] = mask;
  }
}

/** masksMod8 (k = 8) for three plans in one pass over the ids: masksX[t] from bitX rows. */
function masksMod8Three(
  ids: Int32Array, ib: number, n: number, lq: number, E: number, iBase: number,
  bA: Int32Array, mA: Int32Array, bB: Int32Array, mB: Int32Array, bC: Int32Array, mC: Int32Array,
): void {
  for (let off = 0, o = ib; off < n; off++, o += 8) {
    const r = lq + ((iBase + off) & 7) * E;
    const i0 = r + ids[o], i1 = r + ids[o + 1], i2 = r + ids[o + 2], i3 = r + ids[o + 3];
    const i4 = r + ids[o + 4], i5 = r + ids[o + 5], i6 = r + ids[o + 6], i7 = r + ids[o + 7];
    mA[off] = bA[i0] | bA[i1] | bA[i2] | bA[i3] | bA[i4] | bA[i5] | bA[i6] | bA[i7];
    mB[off] = bB[i0] | bB[i1] | bB[i2] | bB[i3] | bB[i4] | bB[i5] | bB[i6] | bB[i7];
    mC[off] = bC[i0] | bC[i1] | bC[i2] | bC[i3] | bC[i4] | bC[i5] | bC[i6] | bC[i7];
  }
}

/**
 * masksMod8Three that also groups the choices by expert (groupByExpert's scatter, fill from
 * expertStarts): byExpert[fill[e]++] = t for each choice e of token t, in token order.
 */
function masksMod8ThreeGrouped(
  ids: Int32Array, ib: number, n: number, lq: number, E: number, iBase: number,
  bA: Int32Array, mA: Int32Array, bB: Int32Array, mB: Int32Array, bC: Int32Array, mC: Int32Array,
  fill: Int32Array, byExpert: Int32Array,
): void {
  for (let off = 0, o = ib; off < n; off++, o += 8) {
    const r = lq + ((iBase + off) & 7) * E;
    const e0 = ids[o], e1 = ids[o + 1], e2 = ids[o + 2], e3 = ids[o + 3];
    const e4 = ids[o + 4], e5 = ids[o + 5], e6 = ids[o + 6], e7 = ids[o + 7];
    byExpert[fill[e0]++] = off;
    byExpert[fill[e1]++] = off;
    byExpert[fill[e2]++] = off;
    byExpert[fill[e3]++] = off;
    byExpert[fill[e4]++] = off;
    byExpert[fill[e5]++] = off;
    byExpert[fill[e6]++] = off;
    byExpert[fill[e7]++] = off;
    const i0 = r + e0, i1 = r + e1, i2 = r + e2, i3 = r + e3;
    const i4 = r + e4, i5 = r + e5, i6 = r + e6, i7 = r + e7;
    mA[off] = bA[i0] | bA[i1] | bA[i2] | bA[i3] | bA[i4] | bA[i5] | bA[i6] | bA[i7];
    mB[off] = bB[i0] | bB[i1] | bB[i2] | bB[i3] | bB[i4] | bB[i5] | bB[i6] | bB[i7];
    mC[off] = bC[i0] | bC[i1] | bC[i2] | bC[i3] | bC[i4] | bC[i5] | bC[i6] | bC[i7];
  }
}

/** masksMod8ThreeGrouped reading token t's 8 ids of the layer from the trace at src + t * stride. */
function masksMod8ThreeGroupedDirect(
  experts: Uint8Array, src: number, stride: number, n: number, lq: number, E: number, iBase: number,
  bA: Int32Array, mA: Int32Array, bB: Int32Array, mB: Int32Array, bC: Int32Array, mC: Int32Array,
  fill: Int32Array, byExpert: Int32Array,
): void {
  for (let off = 0, o = src; off < n; off++, o += stride) {
    const r = lq + ((iBase + off) & 7) * E;
    const e0 = experts[o], e1 = experts[o + 1], e2 = experts[o + 2], e3 = experts[o + 3];
    const e4 = experts[o + 4], e5 = experts[o + 5], e6 = experts[o + 6], e7 = experts[o + 7];
    byExpert[fill[e0]++] = off;
    byExpert[fill[e1]++] = off;
    byExpert[fill[e2]++] = off;
    byExpert[fill[e3]++] = off;
    byExpert[fill[e4]++] = off;
    byExpert[fill[e5]++] = off;
    byExpert[fill[e6]++] = off;
    byExpert[fill[e7]++] = off;
    const i0 = r + e0, i1 = r + e1, i2 = r + e2, i3 = r + e3;
    const i4 = r + e4, i5 = r + e5, i6 = r + e6, i7 = r + e7;
    mA[off] = bA[i0] | bA[i1] | bA[i2] | bA[i3] | bA[i4] | bA[i5] | bA[i6] | bA[i7];
    mB[off] = bB[i0] | bB[i1] | bB[i2] | bB[i3] | bB[i4] | bB[i5] | bB[i6] | bB[i7];
    mC[off] = bC[i0] | bC[i1] | bC[i2] | bC[i3] | bC[i4] | bC[i5] | bC[i6] | bC[i7];
  }
}

/** masksMod8 (k = 8) for two plans in one pass over the ids. */
function masksMod8Two(
  ids: Int32Array, ib: number, n: number, lq: number, E: number, iBase: number,
  bA: Int32Array, mA: Int32Array, bB: Int32Array, mB: Int32Array,
): void {
  for (let off = 0, o = ib; off < n; off++, o += 8) {
    const r = lq + ((iBase + off) & 7) * E;
    const i0 = r + ids[o], i1 = r + ids[o + 1], i2 = r + ids[o + 2], i3 = r + ids[o + 3];
    const i4 = r + ids[o + 4], i5 = r + ids[o + 5], i6 = r + ids[o + 6], i7 = r + ids[o + 7];
    mA[off] = bA[i0] | bA[i1] | bA[i2] | bA[i3] | bA[i4] | bA[i5] | bA[i6] | bA[i7];
    mB[off] = bB[i0] | bB[i1] | bB[i2] | bB[i3] | bB[i4] | bB[i5] | bB[i6] | bB[i7];
  }
}

/**
 * Slot counts of layer l's experts with 2, 4 or 8 replicas: replica r of an expert with c replicas gets
 * the tokens with index mod c = r, i.e. the residues q = r, r + c, ... < 8 of countMod8 (layer's block
 * rows from cb, [8][E]).
 */
function addPow2SlotCounts(tables: PlanTables, l: number, countMod8: Int32Array, cb: number, slotCount: Int32Array): void {
  const { pow2Base, pow2Experts, replicas, slots, numExperts: E, maxReplicas: X } = tables;
  for (let p = pow2Base[l]; p < pow2Base[l + 1]; p++) {
    const e = pow2Experts[p];
    const le = l * E + e;
    const c = replicas[le];
    for (let r = 0; r < c; r++) {
      let v = 0;
      for (let q = r; q < 8; q += c) v += countMod8[cb + q * E + e];
      slotCount[slots[le * X + r]] += v;
    }
  }
}

/** masks[t] = OR of the rank bits of token t's k experts (0 for replicated ones). ids [n * k] from ib. */
function masksSingle(ids: Int32Array, ib: number, n: number, k: number, lE: number, expertRankBit: Int32Array, masks: Int32Array): void {
  if (k === 8) {
    for (let off = 0, o = ib; off < n; off++, o += 8) {
      masks[off] =
        expertRankBit[lE + ids[o]] | expertRankBit[lE + ids[o + 1]] | expertRankBit[lE + ids[o + 2]] | expertRankBit[lE + ids[o + 3]] |
        expertRankBit[lE + ids[o + 4]] | expertRankBit[lE + ids[o + 5]] | expertRankBit[lE + ids[o + 6]] | expertRankBit[lE + ids[o + 7]];
    }
    return;
  }
  for (let off = 0, o = ib; off < n; off++) {
    let mask = 0;
    for (let j = 0; j < k; j++) mask |= expertRankBit[lE + ids[o++]];
    masks[off] = mask;
  }
}

/** start[e] = fill[e] = sum of counts[lE + e'] over e' < e (start[E] = the total), for groupByExpert. */
function expertStarts(E: number, counts: Int32Array, lE: number, start: Int32Array, fill: Int32Array): void {
  let acc = 0;
  for (let e = 0; e < E; e++) {
    start[e] = acc;
    fill[e] = acc;
    acc += counts[lE + e];
  }
  start[E] = acc;
}

/**
 * Counting sort of one layer's choices by expert: byExpert[start[e] .. start[e+1]) = the token offsets
 * (ascending) that chose e. ids [n*k] from ib; counts = expertCount at lE (the layer's complete counts).
 */
function groupByExpert(ids: Int32Array, ib: number, n: number, k: number, E: number, counts: Int32Array, lE: number, start: Int32Array, fill: Int32Array, byExpert: Int32Array): void {
  expertStarts(E, counts, lE, start, fill);
  if (k === 8) {
    for (let off = 0, o = ib; off < n; off++, o += 8) {
      byExpert[fill[ids[o]]++] = off;
      byExpert[fill[ids[o + 1]]++] = off;
      byExpert[fill[ids[o + 2]]++] = off;
      byExpert[fill[ids[o + 3]]++] = off;
      byExpert[fill[ids[o + 4]]++] = off;
      byExpert[fill[ids[o + 5]]++] = off;
      byExpert[fill[ids[o + 6]]++] = off;
      byExpert[fill[ids[o + 7]]++] = off;
    }
    return;
  }
  for (let off = 0, o = ib; off < n; off++) {
    for (let j = 0; j < k; j++) byExpert[fill[ids[o++]]++] = off;
  }
}

/**
 * Add a plan's replicated experts with replica counts other than 2, 4, 8 (otherExperts) of layer l to
 * the token masks (which masksMod8 built, those experts contributing 0): each token that chose such an expert e
 * goes to replica (i mod replicas(e)) (i = iBase + offset; a mask for power-of-two replica counts, else
 * the modTab row, [n][X+1]); counts each replica's tokens into slotCount. Works expert by expert over
 * the layer's choices grouped by expert (groupByExpert).
 */
function addReplicatedChoices(tables: PlanTables, l: number, start: Int32Array, byExpert: Int32Array, sc: ReplayScratch, iBase: number): void {
  for (let q = tables.otherBase[l]; q < tables.otherBase[l + 1]; q++) {
    addReplicatedExpert(tables, l * tables.numExperts + tables.otherExperts[q], start, byExpert, sc, null, null, iBase);
  }
}

/**
 * addReplicatedChoices for two plans at once: an expert replicated in both with the same replica count
 * sends each token to the same replica index in both, so its choices are read and counted once
 * (plans made by solvers with the same replication rule share most replica counts).
 */
function addReplicatedChoicesPair(A: PlanTables, B: PlanTables, l: number, start: Int32Array, byExpert: Int32Array, scA: ReplayScratch, scB: ReplayScratch, iBase: number): void {
  const E = A.numExperts;
  let qa = A.otherBase[l];
  let qb = B.otherBase[l];
  const qa1 = A.otherBase[l + 1];
  const qb1 = B.otherBase[l + 1];
  while (qa < qa1 || qb < qb1) {
    const ea = qa < qa1 ? A.otherExperts[qa] : E;
    const eb = qb < qb1 ? B.otherExperts[qb] : E;
    if (ea === eb) {
      const le = l * E + ea;
      if (A.replicas[le] === B.replicas[le]) addReplicatedExpert(A, le, start, byExpert, scA, B, scB, iBase);
      else {
        addReplicatedExpert(A, le, start, byExpert, scA, null, null, iBase);
        addReplicatedExpert(B, le, start, byExpert, scB, null, null, iBase);
      }
      qa++;
      qb++;
    } else if (ea < eb) {
      addReplicatedExpert(A, l * E + ea, start, byExpert, scA, null, null, iBase);
      qa++;
    } else {
      addReplicatedExpert(B, l * E + eb, start, byExpert, scB, null, null, iBase);
      qb++;
    }
  }
}

/**
 * One replicated expert (l, e) = le of plan A (and of plan B with the same replica count, when given):
 * OR its replicas' rank bits into the choosing tokens' masks and add the replicas' token counts.
 */
function addReplicatedExpert(
  A: PlanTables,
  le: number,
  start: Int32Array,
  byExpert: Int32Array,
  scA: ReplayScratch,
  B: PlanTables | null,
  scB: ReplayScratch | null,
  iBase: number,
): void {
  const e = le % A.numExperts;
  const c = A.replicas[le];
  const XA = A.maxReplicas;
  const p0 = start[e];
  const p1 = start[e + 1];
  const repBitA = scA.repBit;
  const repCount = scA.repCount;
  const masksA = scA.masks;
  for (let r = 0; r < c; r++) {
    repBitA[r] = A.slotRankBit[A.slots[le * XA + r]];
    repCount[r] = 0;
  }
  if (B === null || scB === null) {
    if ((c & (c - 1)) === 0) {
      const lowBits = c - 1;
      for (let p = p0; p < p1; p++) {
        const off = byExpert[p];
        const r = (iBase + off) & lowBits;
        repCount[r]++;
        masksA[off] |= repBitA[r];
      }
    } else {
      const modTab = scA.modTab;
      const XM = XA + 1;
      for (let p = p0; p < p1; p++) {
        const off = byExpert[p];
        const r = modTab[off * XM + c];
        repCount[r]++;
        masksA[off] |= repBitA[r];
      }
    }
  } else {
    const XB = B.maxReplicas;
    const repBitB = scB.repBit;
    const masksB = scB.masks;
    for (let r = 0; r < c; r++) repBitB[r] = B.slotRankBit[B.slots[le * XB + r]];
    if ((c & (c - 1)) === 0) {
      const lowBits = c - 1;
      for (let p = p0; p < p1; p++) {
        const off = byExpert[p];
        const r = (iBase + off) & lowBits;
        repCount[r]++;
        masksA[off] |= repBitA[r];
        masksB[off] |= repBitB[r];
      }
    } else {
      const modTab = scA.modTab;
      const XM = XA + 1;
      for (let p = p0; p < p1; p++) {
        const off = byExpert[p];
        const r = modTab[off * XM + c];
        repCount[r]++;
        masksA[off] |= repBitA[r];
        masksB[off] |= repBitB[r];
      }
    }
    for (let r = 0; r < c; r++) scB.slotCountI[B.slots[le * XB + r]] += repCount[r];
  }
  for (let r = 0; r < c; r++) scA.slotCountI[A.slots[le * XA + r]] += repCount[r];
}

/** modTab[t * (X+1) + c] = (i + t) mod c for t < n, 1 <= c <= X (token-mod replica of token i + t). */
function fillModTab(modTab: Uint8Array, X: number, i: number, n: number): void {
  const XM = X + 1;
  for (let c = 1; c <= X; c++) {
    let r = i % c;
    for (let off = 0, at = c; off < n; off++, at += XM) {
      modTab[at] = r;
      r = r + 1 === c ? 0 : r + 1;
    }
  }
}

/** Distinct ranks and nodes of n token masks, added to sc.rankTotal / sc.nodeTotal. */
function maskTotals(sc: ReplayScratch, masks: Int32Array, n: number): void {
  const numNodes = sc.cm.numRanks / sc.cm.ranksPerNode;
  const nodeMask = sc.nodeMask;
  let rankTotal = 0;
  let nodeTotal = 0;
  for (let off = 0; off < n; off++) {
    const mask = masks[off];
    rankTotal += popcount32(mask);
    if (numNodes === 1) nodeTotal++;
    else {
      for (let nn = 0; nn < numNodes; nn++) {
        const m = mask & nodeMask[nn];
        nodeTotal += (m | -m) >>> 31;
      }
    }
  }
  sc.rankTotal += rankTotal;
  sc.nodeTotal += nodeTotal;
}

/**
 * Communication copies (normal kernels) of one layer from per-token destination masks on nodes of 8
 * GPUs (sc.node8), counted per byte lane = per node instead of per destination bit. Per source rank s
 * (node m, local index sl) and node nn, over runs of at most 31 of its tokens:
 *   H_j[nn] tokens hitting rank (nn, j)     ((mask >>> j) & 0x01010101 summed bytewise, j < 8)
 *   Q[nn] = H_sl[nn]                        tokens hitting rank (nn, sl)
 *   P[nn] = sum over j of H_j[nn]           sum of |mask & node nn|
 *   N[nn] tokens hitting node nn            (bytewise non-zero test, summed)
 * give: same-node copies s -> peers = P[m] - Q[m]; one network copy per hit remote node, s -> land =
 * (nn, sl), N[nn] of them; forwards land -> other ranks of nn, P[nn] - Q[nn]; distinct nodes = sum N;
 * distinct ranks = sum P. Every copy d receives over the same-node kind is either from a same-node peer
 * or forwarded from its node's landing GPU, so recv(d, same-node kind) = hits[d] - self[d] - skip[d]:
 * hits[d] tokens whose mask holds d (the H_j lanes summed over the runs), less d's
 * own tokens (self[d] = Q[m] of source d) and the remote tokens that land on d itself (skip[d] = Q[nn]
 * of the sources with d's local index on other nodes).
 * Identical counts to commFromMasks1 and scoreRoutesBatchGeneral.
 */
export function commFromMasksNodes8(
  sc: ReplayScratch,
  masks: Int32Array,
  srcRank: Int32Array,
  n: number,
  co: number,
  send: Int32Array,
  recv: Int32Array,
): void {
  const G = sc.cm.numRanks;
  const numNodes = G >>> 3;
  const NK = NUM_LINK_KINDS;
  const NET = LinkKind.NETWORK;
  const kindA = sc.kindList[0];
  const hits = sc.laneHits;
  const sub = sc.laneSub;
  hits.fill(0);
  sub.fill(0);
  let rankTotal = 0;
  let nodeTotal = 0;
  // Byte-lane counts per run of one source's tokens: H_j = sum of (mask >>> j) & 0x01010101 counts, per
  // node (byte), the tokens hitting the node's local rank j; N the tokens hitting the node at all.
  let off = 0;
  while (off < n) {
    const s = srcRank[off];
    const m = s >>> 3;
    const sl = s & 7;
    const end = Math.min(n, off + 31);
    let h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0, h6 = 0, h7 = 0;
    let accN = 0;
    for (; off < end && srcRank[off] === s; off++) {
      const x = masks[off];
      h0 = (h0 + (x & 0x01010101)) | 0;
      h1 = (h1 + ((x >>> 1) & 0x01010101)) | 0;
      h2 = (h2 + ((x >>> 2) & 0x01010101)) | 0;
      h3 = (h3 + ((x >>> 3) & 0x01010101)) | 0;
      h4 = (h4 + ((x >>> 4) & 0x01010101)) | 0;
      h5 = (h5 + ((x >>> 5) & 0x01010101)) | 0;
      h6 = (h6 + ((x >>> 6) & 0x01010101)) | 0;
      h7 = (h7 + ((x >>> 7) & 0x01010101)) | 0;
      accN = (accN + (((((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) >>> 7) & 0x01010101)) | 0;
    }
    // Bytewise sums stay below 256: at most 31 tokens x 8 bits.
    const accP = (h0 + h1 + h2 + h3 + h4 + h5 + h6 + h7) | 0;
    const accQ = sl === 0 ? h0 : sl === 1 ? h1 : sl === 2 ? h2 : sl === 3 ? h3 : sl === 4 ? h4 : sl === 5 ? h5 : sl === 6 ? h6 : h7;
    for (let nn = 0; nn < numNodes; nn++) {
      const sh = nn << 3;
      const qv = (accQ >>> sh) & 255;
      const pv = (accP >>> sh) & 255;
      const nv = (accN >>> sh) & 255;
      hits[sh] += (h0 >>> sh) & 255;
      hits[sh + 1] += (h1 >>> sh) & 255;
      hits[sh + 2] += (h2 >>> sh) & 255;
      hits[sh + 3] += (h3 >>> sh) & 255;
      hits[sh + 4] += (h4 >>> sh) & 255;
      hits[sh + 5] += (h5 >>> sh) & 255;
      hits[sh + 6] += (h6 >>> sh) & 255;
      hits[sh + 7] += (h7 >>> sh) & 255;
      rankTotal += pv;
      nodeTotal += nv;
      if (nn === m) {
        send[co + s * NK + kindA] += pv - qv;
        sub[s] += qv;
      } else if (nv !== 0) {
        const land = sh + sl;
        send[co + s * NK + NET] += nv;
        recv[co + land * NK + NET] += nv;
        send[co + land * NK + kindA] += pv - qv;
        sub[land] += qv;
      }
    }
  }
  for (let d = 0; d < G; d++) {
    const v = hits[d] - sub[d];
    if (v !== 0) recv[co + d * NK + kindA] += v;
  }
  sc.rankTotal += rankTotal;
  sc.nodeTotal += nodeTotal;
}

/**
 * Per-choice bitmask path (G <= 32, token-mod routing; what low-latency kernels need, as they copy per
 * (token, expert) choice rather than per destination rank): layer by layer,
 * the batch's ids of that layer are gathered once into a contiguous buffer and counted per expert once;
 * each policy then turns every token's choices into a 32-bit mask of destination ranks (no branches to
 * dedupe) and counts copies from the mask. A policy with no replicas needs no per-choice counter: its
 * slot counts are the shared expert counts.
 */
export function scoreRoutesBatchMultiPerChoice(
  routes: TokenRoutes,
  items: ScoreItem[],
  bStart: number,
  bEnd: number,
  i0: number,
  b: number,
  shared: SharedScratch,
): void {
  const { numLayers: L, numExperts: E, topK: k, experts } = routes;
  const n = bEnd - bStart;
  const cm0 = items[0].sc.cm;
  const G = cm0.numRanks;
  const gpn = cm0.ranksPerNode;
  const numNodes = G / gpn;
  const NK = NUM_LINK_KINDS;
  const NET = LinkKind.NETWORK;
  shared.ensure(n, k, L * E);
  const ids = shared.ids;
  const expertCount = shared.expertCount;
  const srcRank = shared.srcRank;
  expertCount.fill(0, 0, L * E);
  for (let off = 0; off < n; off++) srcRank[off] = Math.floor((off * G) / n);
  const perToken = L * k;
  const rankTotals = new Float64Array(items.length);
  const nodeTotals = new Float64Array(items.length);
  for (const it of items) {
    const sc = it.sc;
    sc.ensure(it.tables.totalSlots, L);
    sc.ensureBatch(n, it.tables.maxReplicas);
    sc.slotCountI.fill(0, 0, it.tables.totalSlots);
    sc.sendI.fill(0, 0, L * G * NK);
    sc.recvI.fill(0, 0, L * G * NK);
    const X = it.tables.maxReplicas;
    if (X > 1) {
      const XM = X + 1;
      for (let off = 0; off < n; off++) {
        const i = bStart + off - i0;
        for (let c = 1; c <= X; c++) sc.modTab[off * XM + c] = i % c;
      }
    }
  }
  for (let l = 0; l < L; l++) {
    const lE = l * E;
    const co = l * G * NK;
    for (let off = 0, src = bStart * perToken + l * k, dst = 0; off < n; off++, src += perToken) {
      for (let j = 0; j < k; j++) {
        const e = experts[src + j];
        ids[dst++] = e;
        expertCount[lE + e]++;
      }
    }
    for (let q = 0; q < items.length; q++) {
      const { tables, sc } = items[q];
      const cm = sc.cm;
      const lowLatency = cm.constants.lowLatency >= 1;
      const { modTab, nodeMask, kindList, masks } = sc;
      const nKinds = kindList.length;
      const slotCount = sc.slotCountI;
      const send = sc.sendI;
      const recv = sc.recvI;
      const { replicas, slots, slotRank, rankOfExpert } = tables;
      const X = tables.maxReplicas;
      const XM = X + 1;
      const linkKind = cm.linkKind;
      let rankTotal = 0;
      let nodeTotal = 0;
      for (let off = 0; off < n; off++) {
        const o = off * k;
        const s = srcRank[off];
        let mask = 0;
        if (X === 1 && !lowLatency) {
          for (let j = 0; j < k; j++) mask |= 1 << rankOfExpert[lE + ids[o + j]];
        } else {
          const mo = off * XM;
          for (let j = 0; j < k; j++) {
            const le = lE + ids[o + j];
            const slot = X === 1 ? slots[le] : slots[le * X + modTab[mo + replicas[le]]];
            if (X > 1) slotCount[slot]++;
            const r = slotRank[slot];
            mask |= 1 << r;
            if (lowLatency && r !== s) {
              const kind = linkKind[s * G + r];
              send[co + s * NK + kind]++;
              recv[co + r * NK + kind]++;
            }
          }
        }
        rankTotal += popcount32(mask);
        if (numNodes === 1) nodeTotal++;
        else {
          for (let nn = 0; nn < numNodes; nn++) {
            const m = mask & nodeMask[nn];
            nodeTotal += (m | -m) >>> 31; // 1 when m != 0, branch-free
          }
        }
        masks[off] = mask;
      }
      if (!lowLatency) {
        if (nKinds <= 1) commFromMasks1(sc, masks, srcRank, n, co, send, recv);
        else if (numNodes === 1) commFromMasks(sc, masks, srcRank, n, co, send, recv);
        else commFromMasksLoop(sc, masks, srcRank, n, co, send, recv);
      }
      rankTotals[q] += rankTotal;
      nodeTotals[q] += nodeTotal;
    }
  }
  for (let q = 0; q < items.length; q++) {
    const { tables, sc, out } = items[q];
    const fs = sc.slotCount;
    if (tables.maxReplicas === 1) {
      for (let le = 0; le < L * E; le++) fs[tables.slots[le]] = expertCount[le];
    } else {
      for (let p = 0; p < tables.totalSlots; p++) fs[p] = sc.slotCountI[p];
    }
    const m = L * G * NK;
    for (let i = 0; i < m; i++) {
      sc.send[i] = sc.sendI[i];
      sc.recv[i] = sc.recvI[i];
    }
    out.distinctRanks[b] = n > 0 ? rankTotals[q] / (n * L) : Number.NaN;
    out.distinctNodes[b] = n > 0 ? nodeTotals[q] / (n * L) : Number.NaN;
    finishBatch(sc, tables, (n * k) / G, out, b);
  }
}

/** Tokens per chunk of the vertical counters below (12 bit levels count up to 4095). */
const VCHUNK = 4095;

/**
 * Flush bit-sliced counters: `levels[lv]` holds bit lv of every destination rank's count (rank d in
 * bit d). Adds each rank's count to recv[co + d * NUM_LINK_KINDS + kind]. Runs once per chunk of
 * tokens, outside the per-token loop.
 */
function addSlicedCounts(levels: number[], G: number, recv: Int32Array, co: number, kind: number): void {
  let any = 0;
  for (const v of levels) any |= v;
  if (any === 0) return;
  for (let d = 0; d < G; d++) {
    let cnt = 0;
    for (let lv = 0; lv < levels.length; lv++) cnt += ((levels[lv] >>> d) & 1) << lv;
    if (cnt) recv[co + d * NUM_LINK_KINDS + kind] += cnt;
  }
}

/**
 * Communication copies of one layer for one policy from per-token destination masks, branch-free:
 * receive counts per destination rank are kept as 12-level vertical (bit-sliced) counters, one bit
 * lane per rank, so adding a token's mask is 12 AND/XOR pairs whatever its bits; send counts are
 * popcounts summed while the source rank stays the same. Handles at most two same-node link kinds;
 * multi-node clusters need one same-node kind (the landing GPU forwards over it).
 * Shapes: masks [n] destination-rank bitmasks; srcRank [n]; writes send/recv [G * NK] at offset co.
 */
export function commFromMasks(
  sc: ReplayScratch,
  masks: Int32Array,
  srcRank: Int32Array,
  n: number,
  co: number,
  send: Int32Array,
  recv: Int32Array,
): void {
  const cm = sc.cm;
  const G = cm.numRanks;
  const gpn = cm.ranksPerNode;
  const numNodes = G / gpn;
  const NK = NUM_LINK_KINDS;
  const NET = LinkKind.NETWORK;
  const { nodeMask, kindMask, kindList } = sc;
  const kindA = kindList.length > 0 ? kindList[0] : 0;
  const kindB = kindList.length > 1 ? kindList[1] : 0;
  const fwdSend = sc.fwdSend;
  for (let c0 = 0; c0 < n; c0 += VCHUNK) {
    const c1 = Math.min(n, c0 + VCHUNK);
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0;
        let b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, b7 = 0, b8 = 0, b9 = 0, b10 = 0, b11 = 0;
        let n0 = 0, n1 = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0, n6 = 0, n7 = 0, n8 = 0, n9 = 0, n10 = 0, n11 = 0;
        let f0 = 0, f1 = 0, f2 = 0, f3 = 0, f4 = 0, f5 = 0, f6 = 0, f7 = 0, f8 = 0, f9 = 0, f10 = 0, f11 = 0;
    let c = 0;
    let t = 0;
    let off = c0;
    while (off < c1) {
      const s = srcRank[off];
      const sbit = 1 << s;
      const kmA = kindA ? kindMask[s * NK + kindA] : 0;
      const kmB = kindB ? kindMask[s * NK + kindB] : 0;
      const own = nodeMask[cm.nodeOfRank[s]];
      const sl = s % gpn;
      let sendA = 0;
      let sendB = 0;
      let sendNet = 0;
      if (numNodes > 1) fwdSend.fill(0, 0, numNodes);
      for (; off < c1 && srcRank[off] === s; off++) {
        const others = masks[off] & ~sbit;
        const xa = others & kmA;
        const xb = others & kmB;
        sendA += popcount32(xa);
        sendB += popcount32(xb);
        c = xa; t = a0 & c; a0 ^= c; c = t; t = a1 & c; a1 ^= c; c = t; t = a2 & c; a2 ^= c; c = t; t = a3 & c; a3 ^= c; c = t; t = a4 & c; a4 ^= c; c = t; t = a5 & c; a5 ^= c; c = t; t = a6 & c; a6 ^= c; c = t; t = a7 & c; a7 ^= c; c = t; t = a8 & c; a8 ^= c; c = t; t = a9 & c; a9 ^= c; c = t; t = a10 & c; a10 ^= c; c = t; t = a11 & c; a11 ^= c; c = t;
        c = xb; t = b0 & c; b0 ^= c; c = t; t = b1 & c; b1 ^= c; c = t; t = b2 & c; b2 ^= c; c = t; t = b3 & c; b3 ^= c; c = t; t = b4 & c; b4 ^= c; c = t; t = b5 & c; b5 ^= c; c = t; t = b6 & c; b6 ^= c; c = t; t = b7 & c; b7 ^= c; c = t; t = b8 & c; b8 ^= c; c = t; t = b9 & c; b9 ^= c; c = t; t = b10 & c; b10 ^= c; c = t; t = b11 & c; b11 ^= c; c = t;
        if (numNodes > 1) {
          const remote = others & ~own;
          if (remote !== 0) {
            let land = 0;
            let fwd = 0;
            for (let nn = 0; nn < numNodes; nn++) {
              const hit = remote & nodeMask[nn];
              const lb = ((hit | -hit) >>> 31) << (nn * gpn + sl); // landing bit when the node is hit
              land |= lb;
              const fw = hit & ~lb;
              fwd |= fw;
              fwdSend[nn] += popcount32(fw);
            }
            sendNet += popcount32(land);
            c = land; t = n0 & c; n0 ^= c; c = t; t = n1 & c; n1 ^= c; c = t; t = n2 & c; n2 ^= c; c = t; t = n3 & c; n3 ^= c; c = t; t = n4 & c; n4 ^= c; c = t; t = n5 & c; n5 ^= c; c = t; t = n6 & c; n6 ^= c; c = t; t = n7 & c; n7 ^= c; c = t; t = n8 & c; n8 ^= c; c = t; t = n9 & c; n9 ^= c; c = t; t = n10 & c; n10 ^= c; c = t; t = n11 & c; n11 ^= c; c = t;
            c = fwd; t = f0 & c; f0 ^= c; c = t; t = f1 & c; f1 ^= c; c = t; t = f2 & c; f2 ^= c; c = t; t = f3 & c; f3 ^= c; c = t; t = f4 & c; f4 ^= c; c = t; t = f5 & c; f5 ^= c; c = t; t = f6 & c; f6 ^= c; c = t; t = f7 & c; f7 ^= c; c = t; t = f8 & c; f8 ^= c; c = t; t = f9 & c; f9 ^= c; c = t; t = f10 & c; f10 ^= c; c = t; t = f11 & c; f11 ^= c; c = t;
          }
        }
      }
      if (kindA) send[co + s * NK + kindA] += sendA;
      if (kindB) send[co + s * NK + kindB] += sendB;
      if (numNodes > 1) {
        send[co + s * NK + NET] += sendNet;
        for (let nn = 0; nn < numNodes; nn++) if (fwdSend[nn]) send[co + (nn * gpn + sl) * NK + kindA] += fwdSend[nn];
      }
    }
        addSlicedCounts([a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11], G, recv, co, kindA);
        addSlicedCounts([b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11], G, recv, co, kindB);
        addSlicedCounts([n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11], G, recv, co, NET);
        addSlicedCounts([f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11], G, recv, co, kindA);
  }
}

/**
 * commFromMasks for clusters with one same-node link kind (NVSwitch nodes, or nodes of one PCIe kind):
 * the same counting with 10-level counters (chunks of 1023 tokens) and no second kind.
 */
export function commFromMasks1(
  sc: ReplayScratch,
  masks: Int32Array,
  srcRank: Int32Array,
  n: number,
  co: number,
  send: Int32Array,
  recv: Int32Array,
): void {
  const cm = sc.cm;
  const G = cm.numRanks;
  const gpn = cm.ranksPerNode;
  const numNodes = G / gpn;
  const NK = NUM_LINK_KINDS;
  const NET = LinkKind.NETWORK;
  const { nodeMask, kindMask, kindList } = sc;
  const kindA = kindList.length > 0 ? kindList[0] : 0;
  const fwdSend = sc.fwdSend;
  for (let c0 = 0; c0 < n; c0 += 1023) {
    const c1 = Math.min(n, c0 + 1023);
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0;
    let n0 = 0, n1 = 0, n2 = 0, n3 = 0, n4 = 0, n5 = 0, n6 = 0, n7 = 0, n8 = 0, n9 = 0;
    let f0 = 0, f1 = 0, f2 = 0, f3 = 0, f4 = 0, f5 = 0, f6 = 0, f7 = 0, f8 = 0, f9 = 0;
    let c = 0;
    let t = 0;
    let off = c0;
    while (off < c1) {
      const s = srcRank[off];
      const sbit = 1 << s;
      const kmA = kindA ? kindMask[s * NK + kindA] : 0;
      const own = nodeMask[cm.nodeOfRank[s]];
      const sl = s % gpn;
      let sendA = 0;
      let sendNet = 0;
      if (numNodes > 1) fwdSend.fill(0, 0, numNodes);
      for (; off < c1 && srcRank[off] === s; off++) {
        const others = masks[off] & ~sbit;
        const xa = others & kmA;
        sendA += popcount32(xa);
        c = xa; t = a0 & c; a0 ^= c; c = t; t = a1 & c; a1 ^= c; c = t; t = a2 & c; a2 ^= c; c = t; t = a3 & c; a3 ^= c; c = t; t = a4 & c; a4 ^= c; c = t; t = a5 & c; a5 ^= c; c = t; t = a6 & c; a6 ^= c; c = t; t = a7 & c; a7 ^= c; c = t; t = a8 & c; a8 ^= c; c = t; t = a9 & c; a9 ^= c; c = t;
        if (numNodes > 1) {
          const remote = others & ~own;
          if (remote !== 0) {
            let land = 0;
            let fwd = 0;
            for (let nn = 0; nn < numNodes; nn++) {
              const hit = remote & nodeMask[nn];
              const lb = ((hit | -hit) >>> 31) << (nn * gpn + sl);
              land |= lb;
              const fw = hit & ~lb;
              fwd |= fw;
              fwdSend[nn] += popcount32(fw);
            }
            sendNet += popcount32(land);
            c = land; t = n0 & c; n0 ^= c; c = t; t = n1 & c; n1 ^= c; c = t; t = n2 & c; n2 ^= c; c = t; t = n3 & c; n3 ^= c; c = t; t = n4 & c; n4 ^= c; c = t; t = n5 & c; n5 ^= c; c = t; t = n6 & c; n6 ^= c; c = t; t = n7 & c; n7 ^= c; c = t; t = n8 & c; n8 ^= c; c = t; t = n9 & c; n9 ^= c; c = t;
            c = fwd; t = f0 & c; f0 ^= c; c = t; t = f1 & c; f1 ^= c; c = t; t = f2 & c; f2 ^= c; c = t; t = f3 & c; f3 ^= c; c = t; t = f4 & c; f4 ^= c; c = t; t = f5 & c; f5 ^= c; c = t; t = f6 & c; f6 ^= c; c = t; t = f7 & c; f7 ^= c; c = t; t = f8 & c; f8 ^= c; c = t; t = f9 & c; f9 ^= c; c = t;
          }
        }
      }
      if (kindA) send[co + s * NK + kindA] += sendA;
      if (numNodes > 1) {
        send[co + s * NK + NET] += sendNet;
        for (let nn = 0; nn < numNodes; nn++) if (fwdSend[nn]) send[co + (nn * gpn + sl) * NK + kindA] += fwdSend[nn];
      }
    }
    addSlicedCounts([a0, a1, a2, a3, a4, a5, a6, a7, a8, a9], G, recv, co, kindA);
    addSlicedCounts([n0, n1, n2, n3, n4, n5, n6, n7, n8, n9], G, recv, co, NET);
    addSlicedCounts([f0, f1, f2, f3, f4, f5, f6, f7, f8, f9], G, recv, co, kindA);
  }
}

/** commFromMasks with a loop over destination bits (any mix of same-node link kinds). */
export function commFromMasksLoop(
  sc: ReplayScratch,
  masks: Int32Array,
  srcRank: Int32Array,
  n: number,
  co: number,
  send: Int32Array,
  recv: Int32Array,
): void {
  const cm = sc.cm;
  const G = cm.numRanks;
  const gpn = cm.ranksPerNode;
  const NK = NUM_LINK_KINDS;
  const NET = LinkKind.NETWORK;
  const { nodeMask, kindMask, kindList } = sc;
  const nKinds = kindList.length;
  const nodeOf = cm.nodeOfRank;
  const linkKind = cm.linkKind;
  for (let off = 0; off < n; off++) {
    const s = srcRank[off];
    const sNode = nodeOf[s];
    const others = masks[off] & ~(1 << s);
    for (let kq = 0; kq < nKinds; kq++) {
      const kind = kindList[kq];
      let x = others & kindMask[s * NK + kind];
      if (x === 0) continue;
      send[co + s * NK + kind] += popcount32(x);
      while (x !== 0) {
        const low = x & -x;
        x ^= low;
        recv[co + (31 - Math.clz32(low)) * NK + kind]++;
      }
    }
    let rem = others & ~nodeMask[sNode];
    while (rem !== 0) {
      const d0 = 31 - Math.clz32(rem & -rem);
      const dn = nodeOf[d0];
      const inNode = rem & nodeMask[dn];
      rem &= ~nodeMask[dn];
      // One network copy per destination node, landing on the GPU with the source's local index,
      // then forwarded inside that node (DeepEP normal kernels).
      const land = dn * gpn + (s % gpn);
      send[co + s * NK + NET]++;
      recv[co + land * NK + NET]++;
      let f = inNode & ~(1 << land);
      while (f !== 0) {
        const low = f & -f;
        f ^= low;
        const d = 31 - Math.clz32(low);
        const kind = linkKind[land * G + d];
        send[co + land * NK + kind]++;
        recv[co + d * NK + kind]++;
      }
    }
  }
}

/** General path (any G, any routing): token-major with stamp arrays to dedupe ranks and nodes. */
export function scoreRoutesBatchGeneral(
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

/**
 * finishBatch for integer counts (the routes bitmask path), reading Int32 arrays in place: slotCount
 * [S], send/recv [L * G * NK]. Computes the same numbers in the same order as finishBatch with
 * layerComputeUs and commPhaseUs (cost-model.ts), fused into one pass over each layer's slots and one
 * over its (rank, link kind) cells, with no per-layer allocation; replay.test.ts checks the two agree.
 */
export function finishBatchCounts(
  sc: ReplayScratch,
  tables: PlanTables,
  slotCount: Int32Array,
  send: Int32Array,
  recv: Int32Array,
  meanRank: number,
  out: BatchSeries,
  b: number,
): void {
  const cm = sc.cm;
  const L = tables.numLayers;
  const G = cm.numRanks;
  const NK = NUM_LINK_KINDS;
  const overlap = cm.constants.overlap >= 1;
  const c0 = cm.constants.c0Us;
  const { memUs, tokenUs, rankSpeed, rankLinkGBs } = cm;
  const { uniformSpeed, uniformLink } = sc;
  const dispatchBytes = cm.constants.dispatchBytesPerToken;
  const combineBytes = cm.constants.combineBytesPerToken;
  const { slotBase, slotRank } = tables;
  let mom = 0;
  let actMax = 0;
  let actMean = 0;
  let disp = 0;
  let comp = 0;
  let comb = 0;
  let total = 0;
  for (let l = 0; l < L; l++) {
    const p0 = slotBase[l];
    const p1 = slotBase[l + 1];
    let mx = 0;
    let amx = 0;
    let asum = 0;
    let x = 0;
    let xh = 0;
    let tmax = 0;
    let thmax = 0;
    // A rank's slots are contiguous (compilePlan: slot p of a layer is on rank floor(p / (P / G)), non-
    // decreasing in p), so each rank's sums are kept in locals, added in slot order as layerComputeUs does.
    for (let r = 0, p = p0; r < G; r++) {
      let tok = 0;
      let act = 0;
      let time = 0;
      let half = 0;
      const mem = memUs[r];
      const tu = tokenUs[r];
      for (; p < p1 && slotRank[p] === r; p++) {
        const v = slotCount[p];
        if (v > 0) {
          tok += v;
          act++;
          const cmp = v * tu;
          time += c0 + (mem > cmp ? mem : cmp);
          if (overlap) {
            const h = v * 0.5 * tu;
            half += c0 + (mem > h ? mem : h);
          }
        }
      }
      if (tok > mx) mx = tok;
      if (act > amx) amx = act;
      asum += act;
      // Dividing by a positive constant is monotone, so with equal speeds the slowest rank's time is
      // found first and divided once: the same double as dividing every rank's.
      if (uniformSpeed) {
        if (time > tmax) tmax = time;
        if (overlap && half > thmax) thmax = half;
      } else {
        const t = time / rankSpeed[r];
        if (t > x) x = t;
        if (overlap) {
          const th = half / rankSpeed[r];
          if (th > xh) xh = th;
        }
      }
    }
    if (uniformSpeed) {
      x = tmax / rankSpeed[0];
      if (overlap) xh = thmax / rankSpeed[0];
    }
    if (!overlap) xh = x / 2;
    mom += meanRank > 0 ? mx / meanRank : 1;
    actMax += amx;
    actMean += asum / G;
    let d = 0;
    let c = 0;
    const co = l * G * NK;
    for (let kind = 1; kind < NK; kind++) {
      if (uniformLink[kind] === 1) {
        // Same bandwidth on every rank: the time is monotone in the copies; divide the largest once.
        let most = 0;
        for (let i = co + kind, end = co + G * NK; i < end; i += NK) {
          const copies = send[i] > recv[i] ? send[i] : recv[i];
          if (copies > most) most = copies;
        }
        if (most === 0) continue;
        const bw = rankLinkGBs[kind];
        const td = bw > 0 ? (most * dispatchBytes) / (bw * 1e3) : Number.POSITIVE_INFINITY;
        if (td > d) d = td;
        const tc = bw > 0 ? (most * combineBytes) / (bw * 1e3) : Number.POSITIVE_INFINITY;
        if (tc > c) c = tc;
        continue;
      }
      for (let r = 0; r < G; r++) {
        const i = co + r * NK + kind;
        const copies = send[i] > recv[i] ? send[i] : recv[i];
        if (copies === 0) continue;
        const bw = rankLinkGBs[r * NK + kind];
        const td = bw > 0 ? (copies * dispatchBytes) / (bw * 1e3) : Number.POSITIVE_INFINITY;
        if (td > d) d = td;
        const tc = bw > 0 ? (copies * combineBytes) / (bw * 1e3) : Number.POSITIVE_INFINITY;
        if (tc > c) c = tc;
      }
    }
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

/** Per-layer reduction shared by both batch scorers. `meanRank` = mean token-expert pairs per rank. */
export function finishBatch(sc: ReplayScratch, tables: PlanTables, meanRank: number, out: BatchSeries, b: number): void {
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
  const scratch = sc.rankTmp3;
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

/** Tokens of window `b` of a counts source: its recorded tokens, else layer 0's pairs / k. */
function recordedTokens(src: Extract<ReplaySource, { kind: 'counts' }>, b: number): number {
  const w = src.startWindow + b;
  const info = src.load.windows[w];
  if (info?.tokens && info.tokens > 0) return info.tokens;
  const E = src.load.numExperts;
  const per = src.load.numLayers * E;
  let layer0 = 0;
  for (let e = 0; e < E; e++) layer0 += src.load.counts[w * per + e];
  return layer0 / (src.load.meta.topK ?? 1);
}

/** Tokens batch `b` of a counts source stands for (stepTokens when set). */
function windowTokens(src: Extract<ReplaySource, { kind: 'counts' }>, b: number): number {
  return src.stepTokens ?? recordedTokens(src, b);
}

/** Per-layer expert counts [L][E] of batch `b` (copies; counts sources scaled to stepTokens). */
export function batchCounts(src: ReplaySource, b: number): Float64Array {
  if (src.kind === 'routes') {
    const t0 = src.startToken + b * src.batchTokens;
    return routesToCounts(src.routes, t0, t0 + src.batchTokens);
  }
  const per = src.load.numLayers * src.load.numExperts;
  const w = src.startWindow + b;
  const out = src.load.counts.slice(w * per, (w + 1) * per);
  if (src.stepTokens !== undefined) {
    const rec = recordedTokens(src, b);
    const f = rec > 0 ? src.stepTokens / rec : 0;
    for (let i = 0; i < out.length; i++) out[i] *= f;
  }
  return out;
}

function scoreBatch(src: ReplaySource, tables: PlanTables, b: number, sc: ReplayScratch, routing: ReplicaRouting, out: BatchSeries): void {
  if (src.kind === 'routes') {
    const t0 = src.startToken + b * src.batchTokens;
    scoreRoutesBatch(src.routes, tables, t0, t0 + src.batchTokens, src.startToken, sc, routing, out, b);
  } else {
    const counts = batchCounts(src, b);
    const k = src.load.meta.topK ?? 1;
    scoreCountsBatch(counts, k, windowTokens(src, b), tables, sc, out, b);
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

/** Per-policy state while replaying batch by batch. */
interface PolicyRun {
  spec: PolicySpec;
  series: BatchSeries;
  sc: ReplayScratch;
  plan?: Plan;
  tables?: PlanTables;
  history: Float64Array[];
  replans: number;
  moved: number;
  pendingMoveUs: number;
  pendingMoved: number;
}

/**
 * Replay every policy over the same batches of `src`, batch by batch: each batch's plans are settled
 * first (the oracle solves on the batch's own counts; periodic re-plans happen after a batch), then the
 * batch is scored for all policies in one pass over its ids when the bitmask path applies.
 */
export async function replayPolicies(src: ReplaySource, policies: PolicySpec[], cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult[]> {
  const routing = opts.routing ?? 'token-mod';
  const B = numBatches(src);
  const runs: PolicyRun[] = policies.map((spec) => {
    const plan = spec.kind === 'static' ? spec.plan : spec.kind === 'periodic' ? spec.initial : undefined;
    return {
      spec,
      series: newSeries(B),
      sc: new ReplayScratch(cm),
      plan,
      tables: plan ? compilePlan(plan) : undefined,
      history: [],
      replans: 0,
      moved: 0,
      pendingMoveUs: 0,
      pendingMoved: 0,
    };
  });
  const multi = src.kind === 'routes' && routing === 'token-mod' && cm.numRanks <= 32;
  const shared = new SharedScratch();
  const needCounts = runs.some((r) => r.spec.kind !== 'static');
  for (let b = 0; b < B; b++) {
    const counts = needCounts ? batchCounts(src, b) : undefined;
    for (const r of runs) {
      if (r.spec.kind === 'oracle') {
        r.plan = await r.spec.solver.solve({ ...r.spec.solveBase, load: counts! });
        r.tables = compilePlan(r.plan);
        r.replans++;
      }
      r.series.moveUs[b] = r.pendingMoveUs;
      r.series.expertsMoved[b] = r.pendingMoved;
      r.pendingMoveUs = 0;
      r.pendingMoved = 0;
    }
    if (multi && src.kind === 'routes') {
      const t0 = src.startToken + b * src.batchTokens;
      const items: ScoreItem[] = runs.map((r) => ({ tables: r.tables!, sc: r.sc, out: r.series }));
      scoreRoutesBatchMulti(src.routes, items, t0, t0 + src.batchTokens, src.startToken, b, shared);
    } else {
      for (const r of runs) scoreBatch(src, r.tables!, b, r.sc, routing, r.series);
    }
    for (const r of runs) {
      const spec = r.spec;
      if (spec.kind !== 'periodic') continue;
      r.history.push(counts!);
      if (r.history.length > Math.max(1, spec.window)) r.history.shift();
      if ((b + 1) % Math.max(1, spec.interval) === 0 && b + 1 < B) {
        const L = spec.initial.numLayers;
        const E = spec.initial.numExperts;
        const load = new Float64Array(L * E);
        for (const h of r.history) for (let i = 0; i < load.length; i++) load[i] += h[i];
        const next = await spec.solver.solve({ ...spec.solveBase, load, current: r.plan });
        const mv = movedReplicas(r.plan!, next);
        // Each layer's weights move in turn; a re-plan costs the sum over layers of the slowest rank.
        const G = cm.numRanks;
        let us = 0;
        for (let l = 0; l < L; l++) us += moveTimeUs(cm, mv.perRank.subarray(l * G, (l + 1) * G));
        r.pendingMoveUs = us;
        r.pendingMoved = mv.total;
        r.moved += mv.total;
        r.replans++;
        r.plan = next;
        r.tables = compilePlan(next);
      }
    }
  }
  return runs.map((r) => ({ name: r.spec.name, kind: r.spec.kind, series: r.series, finalPlan: r.plan, replans: r.replans, expertsMoved: r.moved }));
}

/** Replay one policy. */
export async function replayPolicy(src: ReplaySource, policy: PolicySpec, cm: CostModel, opts: ReplayOptions = {}): Promise<PolicyResult> {
  return (await replayPolicies(src, [policy], cm, opts))[0];
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
