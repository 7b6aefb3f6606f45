/**
 * The reference scorer: token by token with stamp arrays, any G, any replica routing. Every fast
 * kernel in kernels/ is tested equal (===) to it.
 */
import { LinkKind } from '../../core/cluster.ts';
import type { TokenRoutes } from '../../core/token-routes.ts';
import { combineLayerTime, commPhaseUs, layerComputeUs, NUM_LINK_KINDS } from '../cost-model.ts';
import type { PlanTables } from '../plan-tables.ts';
import { ReplayScratch } from './scratch.ts';
import type { BatchSeries } from './series.ts';
import type { ReplicaRouting } from './source.ts';

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
