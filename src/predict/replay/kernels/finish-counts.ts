/**
 * Fast kernel: the per-layer reduction to times for Int32 counts (fused finishBatch). Tested ===
 * finishBatch in finish-counts.test.ts.
 */
import { combineLayerTime, NUM_LINK_KINDS } from '../../cost-model.ts';
import type { PlanTables } from '../../plan-tables.ts';
import { ReplayScratch } from '../scratch.ts';
import type { BatchSeries } from '../series.ts';

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
