/**
 * Fast kernel: communication copies on nodes of 8 GPUs counted per byte lane. Tested === reference in
 * comm-nodes8.test.ts.
 */
import { LinkKind } from '../../../core/cluster.ts';
import { NUM_LINK_KINDS } from '../../cost-model.ts';
import { ReplayScratch } from '../scratch.ts';

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
