/**
 * Fast kernels: communication copies with bit-sliced (vertical) counters, one same-node link kind
 * (commFromMasks1) or two on one node (commFromMasks). Tested === reference in comm-sliced.test.ts.
 */
import { LinkKind } from '../../../core/cluster.ts';
import { NUM_LINK_KINDS } from '../../cost-model.ts';
import { popcount32 } from '../bits.ts';
import { ReplayScratch } from '../scratch.ts';

/** Tokens per chunk of the vertical counters below (12 bit levels count up to 4095). */
export const VCHUNK = 4095;

/**
 * Flush bit-sliced counters: `levels[lv]` holds bit lv of every destination rank's count (rank d in
 * bit d). Adds each rank's count to recv[co + d * NUM_LINK_KINDS + kind]. Runs once per chunk of
 * tokens, outside the per-token loop.
 */
export function addSlicedCounts(levels: number[], G: number, recv: Int32Array, co: number, kind: number): void {
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
