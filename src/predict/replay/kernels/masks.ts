/**
 * Parts of the multi kernel: build each token's 32-bit destination-rank mask from plan tables.
 */
import type { PlanTables } from '../../plan-tables.ts';
import { popcount32 } from '../bits.ts';
import { ReplayScratch } from '../scratch.ts';

/**
 * masks[t] = OR of the rank bits of token t's k choices, token t = iBase + t in the replayed part,
 * from expertRankBitMod8 rows (lq + ((iBase + t) mod 8) * E): single-replica experts and those with 2, 4
 * or 8 replicas (replica (iBase + t) mod c); 0 for other replicated experts. ids [n * k] from ib.
 */
export function masksMod8(ids: Int32Array, ib: number, n: number, k: number, lq: number, E: number, iBase: number, bitMod8: Int32Array, masks: Int32Array): void {
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
export function masksMod8Three(
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
export function masksMod8ThreeGrouped(
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
export function masksMod8ThreeGroupedDirect(
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
export function masksMod8Two(
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
export function addPow2SlotCounts(tables: PlanTables, l: number, countMod8: Int32Array, cb: number, slotCount: Int32Array): void {
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
export function masksSingle(ids: Int32Array, ib: number, n: number, k: number, lE: number, expertRankBit: Int32Array, masks: Int32Array): void {
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

/** modTab[t * (X+1) + c] = (i + t) mod c for t < n, 1 <= c <= X (token-mod replica of token i + t). */
export function fillModTab(modTab: Uint8Array, X: number, i: number, n: number): void {
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
export function maskTotals(sc: ReplayScratch, masks: Int32Array, n: number): void {
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
