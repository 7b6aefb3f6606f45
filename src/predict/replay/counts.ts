/**
 * Scorer for count-only sources ([W][L][E] load traces): communication from the independent-draw
 * estimate, since which experts share a token is not recorded.
 */
import { LinkKind } from '../../core/cluster.ts';
import { NUM_LINK_KINDS } from '../cost-model.ts';
import type { PlanTables } from '../plan-tables.ts';
import { finishBatch } from './reference.ts';
import { ReplayScratch } from './scratch.ts';
import type { BatchSeries } from './series.ts';

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
