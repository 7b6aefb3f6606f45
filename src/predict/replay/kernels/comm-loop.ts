/**
 * Fast kernel: communication copies from per-token destination masks, looping over destination bits
 * (any mix of same-node link kinds, any number of nodes). Tested === reference in comm-loop.test.ts.
 */
import { LinkKind } from '../../../core/cluster.ts';
import { NUM_LINK_KINDS } from '../../cost-model.ts';
import { popcount32 } from '../bits.ts';
import { ReplayScratch } from '../scratch.ts';

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
