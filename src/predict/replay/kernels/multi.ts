/**
 * Fast kernel: the bitmask scorer for several policies over one batch (G <= 32, token-mod routing).
 * Tested === reference in multi.test.ts (and per communication kernel in comm-*.test.ts).
 */
import type { TokenRoutes } from '../../../core/token-routes.ts';
import { NUM_LINK_KINDS } from '../../cost-model.ts';
import { type ScoreItem, SharedScratch } from '../scratch.ts';
import { commFromMasksLoop } from './comm-loop.ts';
import { commFromMasksNodes8 } from './comm-nodes8.ts';
import { commFromMasks, commFromMasks1 } from './comm-sliced.ts';
import { finishBatchCounts } from './finish-counts.ts';
import { countLayers8, gatherLayers16, gatherLayers8, sumCountMod8 } from './gather.ts';
import { addPow2SlotCounts, fillModTab, masksMod8, masksMod8Three, masksMod8ThreeGrouped, masksMod8ThreeGroupedDirect, masksMod8Two, masksSingle, maskTotals } from './masks.ts';
import { scoreRoutesBatchMultiPerChoice } from './per-choice.ts';
import { addReplicatedChoices, addReplicatedChoicesPair, expertStarts, groupByExpert } from './replicas.ts';

/** Layers per gather sweep (scoreRoutesBatchMulti). */
export const LAYER_BLOCK = 8;

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
