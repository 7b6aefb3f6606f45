/**
 * Parts of the multi kernel: group choices by expert and add experts with 3, 5, ... replicas.
 */
import type { PlanTables } from '../../plan-tables.ts';
import { ReplayScratch } from '../scratch.ts';

/** start[e] = fill[e] = sum of counts[lE + e'] over e' < e (start[E] = the total), for groupByExpert. */
export function expertStarts(E: number, counts: Int32Array, lE: number, start: Int32Array, fill: Int32Array): void {
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
export function groupByExpert(ids: Int32Array, ib: number, n: number, k: number, E: number, counts: Int32Array, lE: number, start: Int32Array, fill: Int32Array, byExpert: Int32Array): void {
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
export function addReplicatedChoices(tables: PlanTables, l: number, start: Int32Array, byExpert: Int32Array, sc: ReplayScratch, iBase: number): void {
  for (let q = tables.otherBase[l]; q < tables.otherBase[l + 1]; q++) {
    addReplicatedExpert(tables, l * tables.numExperts + tables.otherExperts[q], start, byExpert, sc, null, null, iBase);
  }
}

/**
 * addReplicatedChoices for two plans at once: an expert replicated in both with the same replica count
 * sends each token to the same replica index in both, so its choices are read and counted once
 * (plans made by solvers with the same replication rule share most replica counts).
 */
export function addReplicatedChoicesPair(A: PlanTables, B: PlanTables, l: number, start: Int32Array, byExpert: Int32Array, scA: ReplayScratch, scB: ReplayScratch, iBase: number): void {
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
export function addReplicatedExpert(
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
