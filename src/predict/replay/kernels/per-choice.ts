/**
 * Fast kernel: the bitmask scorer for low-latency kernels (a copy per token-expert choice). Tested ===
 * reference in per-choice.test.ts.
 */
import { LinkKind } from '../../../core/cluster.ts';
import type { TokenRoutes } from '../../../core/token-routes.ts';
import { NUM_LINK_KINDS } from '../../cost-model.ts';
import { popcount32 } from '../bits.ts';
import { finishBatch } from '../reference.ts';
import { type ScoreItem, SharedScratch } from '../scratch.ts';
import { commFromMasksLoop } from './comm-loop.ts';
import { commFromMasks, commFromMasks1 } from './comm-sliced.ts';

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
