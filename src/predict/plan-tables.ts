/**
 * A plan compiled into flat lookup tables for replay: every slot of every layer gets a global index,
 * and each (layer, expert) its replicas' global slot indices.
 *
 * Shapes (L layers, E experts, P_l slots in layer l, X = max replicas in the plan):
 *   slotBase   Int32Array[L+1]    global index of layer l's slot 0; slotBase[L] = total slots
 *   slotRank   Int32Array[S]      rank of each global slot (slot p of layer l -> floor(p / (P_l / G)))
 *   slotExpert Int32Array[S]      logical expert of each global slot
 *   replicas   Int32Array[L*E]    replica count of (l, e)
 *   slots      Int32Array[L*E*X]  global slot of replica j of (l, e), in slot order; -1 padded
 *   rankOfExpert Int32Array[L*E]  rank of (l, e) when it has one replica, else -1
 *   slotRankBit  Int32Array[S]    1 << slotRank[p] (G <= 32; empty otherwise)
 *   expertRankBit Int32Array[L*E] 1 << rankOfExpert[le] for single-replica experts, 0 for replicated
 *                                 ones (G <= 32; empty otherwise)
 *   replicatedBase Int32Array[L+1] layer l's replicated experts are replicatedExperts[base[l] .. base[l+1])
 *   replicatedExperts Int32Array   expert ids (within their layer) with more than one replica, ascending
 *   expertRankBitMod8 Int32Array[L*8*E] at (l*8 + q)*E + e: the rank bit a token i with i mod 8 = q
 *                                 reaches through (l, e) under the token-mod replica rule, for experts
 *                                 with 1, 2, 4 or 8 replicas (replica q mod c); 0 for other replica
 *                                 counts (G <= 32; empty otherwise)
 *   pow2Base / pow2Experts        like replicatedBase / replicatedExperts, the experts with 2, 4 or 8
 *                                 replicas (resolved by expertRankBitMod8)
 *   otherBase / otherExperts      the replicated experts with any other replica count
 *   singleLe / singleSlot         Int32Array[#single] the single-replica experts (l*E+e) and their slots
 */
import type { Plan } from '../core/plan.ts';

export interface PlanTables {
  numLayers: number;
  numExperts: number;
  numRanks: number;
  maxReplicas: number;
  totalSlots: number;
  slotBase: Int32Array;
  slotRank: Int32Array;
  slotExpert: Int32Array;
  replicas: Int32Array;
  slots: Int32Array;
  /** [L*E] rank of (l, e) when it has exactly one replica, else -1. */
  rankOfExpert: Int32Array;
  /** [S] destination-rank bit of each slot, 1 << slotRank (G <= 32, else length 0). */
  slotRankBit: Int32Array;
  /** [L*E] 1 << rank of single-replica experts, 0 for replicated ones (G <= 32, else length 0). */
  expertRankBit: Int32Array;
  /** [L+1] start of layer l's entries in replicatedExperts. */
  replicatedBase: Int32Array;
  /** Expert ids with more than one replica, layer by layer, ascending within a layer. */
  replicatedExperts: Int32Array;
  /** [L*8*E] rank bit of (l, e) for tokens i with i mod 8 = q at (l*8 + q)*E + e; 0 unless 1, 2, 4 or 8 replicas. */
  expertRankBitMod8: Int32Array;
  /** [L+1] start of layer l's entries in pow2Experts (experts with 2, 4 or 8 replicas, ascending). */
  pow2Base: Int32Array;
  pow2Experts: Int32Array;
  /** [L+1] start of layer l's entries in otherExperts (replicated experts with other counts, ascending). */
  otherBase: Int32Array;
  otherExperts: Int32Array;
  /** Single-replica experts: singleLe[j] = l * E + e, singleSlot[j] = its slot (ascending in le). */
  singleLe: Int32Array;
  singleSlot: Int32Array;
}

/** Replica counts whose token-mod replica (i mod c) is determined by i mod 8. */
function isPow2UpTo8(c: number): boolean {
  return c === 2 || c === 4 || c === 8;
}

export function compilePlan(plan: Plan): PlanTables {
  const { numLayers: L, numExperts: E, numRanks: G } = plan;
  const slotBase = new Int32Array(L + 1);
  for (let l = 0; l < L; l++) slotBase[l + 1] = slotBase[l] + plan.phy2log[l].length;
  const S = slotBase[L];
  const replicas = new Int32Array(L * E);
  const slotRank = new Int32Array(S);
  const slotExpert = new Int32Array(S);
  for (let l = 0; l < L; l++) {
    const row = plan.phy2log[l];
    const per = row.length / G;
    for (let p = 0; p < row.length; p++) {
      replicas[l * E + row[p]]++;
      slotRank[slotBase[l] + p] = Math.floor(p / per);
      slotExpert[slotBase[l] + p] = row[p];
    }
  }
  let X = 1;
  for (let i = 0; i < replicas.length; i++) if (replicas[i] > X) X = replicas[i];
  const slots = new Int32Array(L * E * X).fill(-1);
  const fill = new Int32Array(L * E);
  for (let l = 0; l < L; l++) {
    const row = plan.phy2log[l];
    for (let p = 0; p < row.length; p++) {
      const le = l * E + row[p];
      slots[le * X + fill[le]++] = slotBase[l] + p;
    }
  }
  const rankOfExpert = new Int32Array(L * E).fill(-1);
  for (let le = 0; le < L * E; le++) if (replicas[le] === 1) rankOfExpert[le] = slotRank[slots[le * X]];
  const bits = G <= 32;
  const slotRankBit = new Int32Array(bits ? S : 0);
  const expertRankBit = new Int32Array(bits ? L * E : 0);
  if (bits) {
    for (let p = 0; p < S; p++) slotRankBit[p] = 1 << slotRank[p];
    for (let le = 0; le < L * E; le++) if (rankOfExpert[le] >= 0) expertRankBit[le] = 1 << rankOfExpert[le];
  }
  const replicatedBase = new Int32Array(L + 1);
  const rep: number[] = [];
  for (let l = 0; l < L; l++) {
    for (let e = 0; e < E; e++) if (replicas[l * E + e] > 1) rep.push(e);
    replicatedBase[l + 1] = rep.length;
  }
  const replicatedExperts = Int32Array.from(rep);
  const pow2Base = new Int32Array(L + 1);
  const otherBase = new Int32Array(L + 1);
  const pow2: number[] = [];
  const other: number[] = [];
  for (let l = 0; l < L; l++) {
    for (let e = 0; e < E; e++) {
      const c = replicas[l * E + e];
      if (isPow2UpTo8(c)) pow2.push(e);
      else if (c > 1) other.push(e);
    }
    pow2Base[l + 1] = pow2.length;
    otherBase[l + 1] = other.length;
  }
  const expertRankBitMod8 = new Int32Array(bits ? L * 8 * E : 0);
  if (bits) {
    for (let l = 0; l < L; l++) {
      for (let q = 0; q < 8; q++) {
        for (let e = 0; e < E; e++) {
          const le = l * E + e;
          const c = replicas[le];
          let bit = 0;
          if (c === 1) bit = expertRankBit[le];
          else if (isPow2UpTo8(c)) bit = slotRankBit[slots[le * X + (q & (c - 1))]];
          expertRankBitMod8[(l * 8 + q) * E + e] = bit;
        }
      }
    }
  }
  let numSingle = 0;
  for (let le = 0; le < L * E; le++) if (replicas[le] === 1) numSingle++;
  const singleLe = new Int32Array(numSingle);
  const singleSlot = new Int32Array(numSingle);
  for (let le = 0, j = 0; le < L * E; le++) {
    if (replicas[le] === 1) {
      singleLe[j] = le;
      singleSlot[j++] = slots[le * X];
    }
  }
  return {
    numLayers: L, numExperts: E, numRanks: G, maxReplicas: X, totalSlots: S, slotBase, slotRank, slotExpert, replicas, slots, rankOfExpert,
    slotRankBit, expertRankBit, replicatedBase, replicatedExperts, expertRankBitMod8, pow2Base, pow2Experts: Int32Array.from(pow2),
    otherBase, otherExperts: Int32Array.from(other), singleLe, singleSlot,
  };
}

/**
 * Replicas each rank must load to go from `from` to `to`: per layer and rank, the multiset of experts
 * in `to` minus those already in `from` on that rank. Returns { perRank: Float64Array[L][G] moved
 * replicas, total }.
 */
export function movedReplicas(from: Plan, to: Plan): { perRank: Float64Array; total: number } {
  const L = to.numLayers;
  const G = to.numRanks;
  const E = to.numExperts;
  const perRank = new Float64Array(L * G);
  const have = new Int32Array(E);
  let total = 0;
  for (let l = 0; l < L; l++) {
    const a = from.phy2log[l];
    const b = to.phy2log[l];
    const pa = a.length / G;
    const pb = b.length / G;
    for (let r = 0; r < G; r++) {
      have.fill(0);
      for (let p = r * pa; p < (r + 1) * pa; p++) have[a[p]]++;
      let moved = 0;
      for (let p = r * pb; p < (r + 1) * pb; p++) {
        if (have[b[p]] > 0) have[b[p]]--;
        else moved++;
      }
      perRank[l * G + r] = moved;
      total += moved;
    }
  }
  return { perRank, total };
}
